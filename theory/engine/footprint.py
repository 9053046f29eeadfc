"""The memory and time a meta-step or an evaluation will need, estimated before anything is built.

Memory, ``meta_step_bytes(config, in_shape)``, adds, in float32:

- one task's autodiff graph, as ``chunks`` sizes its task chunks (``chunks.graph_bytes``: the
  conv output and input maps of one image times the image passes the graph keeps, i.e. the
  query set once and, for second order, the support set once per inner step; fitted within
  16 % of the traced peak): a chunk holds one task at least, so this part is the least a
  meta-step can need;
- the adapted parameters of that task, one copy per inner step (three for second order:
  parameters, gradients and their graph);
- the meta-batch of images, and the parameters with gradients, Adam's two moments and the
  meta-optimizer's (eight copies in all).

It is the least peak within a small factor (the chunk may hold more tasks; Python
objects come on top), which is what a refusal needs: what it refuses cannot run.
``episode_bytes`` is the same for the episodes of ``eval`` and ``adapt``: a first-order inner
loop, whose graph holds one support pass, on ``tasks`` episodes at once.

Time, ``meta_step_seconds``, ``episode_seconds`` and ``train_seconds``, is a lower bound too,
the sum of three parts that run one after the other in a process: the float work of the GEMMs
(``meta_step_flops``, as ``bench`` reports it; for ANIL and meta-optimizers the MAML work of
the same network, less than theirs) at ``GFLOPS`` per process; the elementwise work (batch
norm, ReLU, pooling) at ``ELEMENT_S`` per conv activation value and pass over it; and per chunk
of tasks the Python and autograd work of every pass over the network, ``CONV_PASS_S`` per conv
block, ``LAYER_PASS_S`` per linear layer and ``KEY_PAIR_S`` per pair of layers (autograd's
dictionary of parameters costs a walk over every array each time one is read in a backward
pass). Each constant is at most half of what this engine needed on the reference machine
(docs/engine.md, "Work bounded before it starts"): a machine twice as fast still takes at
least the estimate, and a real run takes some times more.

``check(config, in_shape, what)`` refuses memory beyond ``theory._limits``' limit and
``check_seconds(seconds, limit, what)`` time beyond ``--max-seconds``. ``IN_SHAPE`` is each
dataset's image shape, known before its files are read.
"""

import math

from theory import _limits
from theory.engine import chunks, cnn, parallel

IN_SHAPE = {"synthetic": (1, 28, 28), "omniglot": (1, 28, 28), "cifarfs": (3, 32, 32),
            "mini-imagenet": (3, 84, 84)}
ITEMSIZE = 4            # float32
# the speed of the engine, bounded (docs/engine.md: the measurements)
GFLOPS = 200.0          # GEMM work per second and process, at most (98 measured at best)
ELEMENT_S = 3e-9        # seconds per activation value and pass, at least (6.7-7.3 ns measured)
CONV_PASS_S = 2e-4      # seconds per conv block and pass, at least (0.54-0.89 ms measured)
LAYER_PASS_S = 1e-5     # seconds per linear layer and pass, at least (22-84 us measured)
KEY_PAIR_S = 3e-7       # seconds per pass and pair of layers, at least (0.68-1.03 us measured)
# default --max-seconds of each command: beyond it a command is refused before it starts
MAX_SECONDS = {"train": 86400.0, "bench": 600.0, "eval": 3600.0, "adapt": 600.0}


def _second_order(config):
    return config.get("algo", "maml") == "maml" and not config.get("first_order")


def _network(config, in_shape):
    """``(values, params, convs, linear)``: the values of one image's maps, as
    ``chunks.graph_bytes`` counts them (conv outputs and inputs, ``chunks.conv_values``, with
    the LinNet layers' outputs in both), the parameters, and per image the MACs of each conv
    and of the linear layers (LinNet and head)."""
    _, H, W = in_shape
    layers, hidden, ways = config["layers"], config["hidden"], config["ways"]
    downsample = config.get("downsample", "maxpool")
    outs, ins = chunks.conv_values(in_shape, [hidden] * layers, downsample)
    blocks = cnn.block_shapes(in_shape, [hidden] * layers, downsample)
    params = sum(width * (c_in * 9 + 3) for c_in, _, _, width in blocks)
    convs = [width * c_in * 9 * conv_H * conv_W for c_in, _, (conv_H, conv_W), width in blocks]
    H, W = cnn.map_sizes(H, W, layers, downsample)[-1]
    features = hidden * (1 if config.get("readout") == "mean" else H * W)
    linnet = config.get("linnet") or 0
    width = config.get("linnet_width") or features
    last = width if linnet else features
    params += linnet * width * (width + 1) + ways * (last + 1)
    linear = (features * width + (linnet - 1) * width * width if linnet else 0) + last * ways
    return (outs + linnet * width, ins + linnet * width), params, convs, linear


def meta_step_bytes(config, in_shape):
    """Estimated least peak bytes of one meta-step of ``config`` (module docstring) on images
    of ``in_shape`` ``(C, H, W)``; ``config`` needs the keys of ``engine.config.FIELDS``
    that size a model and a task (missing ones count as their smallest)."""
    values, params, _, _ = _network(config, in_shape)
    ways, shots, query = config["ways"], config["shots"], config["query"]
    steps, second = config.get("steps", 1), _second_order(config)
    n_s, n_q = ways * shots, ways * query
    graph = chunks.graph_bytes(values, n_s, n_q, steps, second, ITEMSIZE)
    adapted = ITEMSIZE * params * (max(steps, 1) + 1) * (3 if second else 1)
    batch = ITEMSIZE * config.get("meta_batch", 1) * (n_s + n_q) * math.prod(in_shape)
    return graph + adapted + batch + 8 * ITEMSIZE * params


def episode_bytes(config, in_shape, *, tasks, n_s, n_q, kept=3):
    """Estimated least peak bytes of ``tasks`` episodes adapted at once with a first-order inner
    loop (``eval``, ``adapt``): per task the graph of one support pass, ``kept`` copies of the
    parameters (three: parameters, gradients, the step's result; ``eval --curve K`` keeps
    K + 2) and its ``n_s + n_q`` images."""
    values, params, _, _ = _network(config, in_shape)
    graph = chunks.graph_bytes(values, n_s, 0, 1, False, ITEMSIZE)
    return tasks * (graph + ITEMSIZE * (params * kept + (n_s + n_q) * math.prod(in_shape)))


def check(config, in_shape, what):
    """``ValueError`` naming ``what`` if a meta-step of ``config`` cannot fit in memory."""
    return _limits.check_memory(meta_step_bytes(config, in_shape), what)


def _forward(config, in_shape, n):
    """``(F, m1)``: MACs of one forward pass of ``n`` images, and of its first conv."""
    _, _, convs, linear = _network(config, in_shape)
    return n * (sum(convs) + linear), n * convs[0]


def meta_step_flops(config, in_shape, *, exact=True):
    """Float operations (2 per multiply-add) of the GEMMs of one meta-step of MAML or FO-MAML.

    Per task, with F the MACs of a forward pass and m1 those of the first conv (whose input is
    data, so no input gradient): a backward pass costs B = 2F - m1 (weight and input gradients);
    each of K inner steps costs F_s + B_s on the support set, the query loss F_q + B_q; second
    order adds, per inner step, the backward pass through that step's forward and backward
    graphs: B_s for the forward GEMMs plus two GEMMs for each backward GEMM but one for the
    first conv's weight gradient, 2 B_s - m1_s, i.e. 6 F_s - 4 m1_s in all. Elementwise work
    (batch norm, ReLU, pooling, softmax) is not counted. For ANIL and meta-optimizers: ``None``,
    or with ``exact=False`` the MAML count of the network, a lower bound of theirs (ANIL: the
    body's passes over both sets, F_s + F_q + B_q).
    """
    if exact and (config.get("algo", "maml") != "maml" or config.get("metaopt", "none") != "none"):
        return None
    (Fs, m1s), (Fq, m1q) = (_forward(config, in_shape, config["ways"] * n)
                            for n in (config["shots"], config["query"]))
    if config.get("algo") == "anil":
        return 2 * (Fs + Fq + 2 * Fq - m1q) * config["meta_batch"]
    K = config["steps"]
    macs = K * (Fs + 2 * Fs - m1s) + Fq + 2 * Fq - m1q
    if _second_order(config):
        macs += K * (6 * Fs - 4 * m1s)
    return 2 * macs * config["meta_batch"]


def _python_seconds(config, passes):
    """Least Python and autograd seconds of ``passes`` passes over the network of ``config``."""
    layers, linear = config["layers"], (config.get("linnet") or 0) + 1
    return passes * (CONV_PASS_S * layers + LAYER_PASS_S * linear
                     + KEY_PAIR_S * (layers + linear) ** 2)


def _elementwise_seconds(config, in_shape, image_passes):
    """Least seconds of the elementwise work of ``image_passes`` passes of one image each, over
    its conv output maps (and LinNet outputs)."""
    return ELEMENT_S * _network(config, in_shape)[0][0] * image_passes


def meta_step_seconds(config, in_shape, workers=1):
    """Least seconds of one meta-step of ``config`` on ``workers`` processes (module
    docstring): the float and elementwise work shared by up to one process per task, and per
    process the passes of at least one chunk of tasks (``ceil(chunks / workers)`` for a given
    ``task_chunk``). A pass is a forward or backward sweep: over the support set 2 per inner
    step, plus 2 per inner step for second order; over the query set 2. ANIL's body sweeps
    the support set once."""
    tasks = config.get("meta_batch", 1)
    processes = max(1, min(workers, tasks))
    chunk = config.get("task_chunk")
    per_process = 1 if chunk is None else math.ceil(math.ceil(tasks / chunk) / processes)
    steps = config.get("steps", 1)
    support = 1 if config.get("algo") == "anil" else \
        2 * steps * (2 if _second_order(config) else 1)
    n_s, n_q = config["ways"] * config["shots"], config["ways"] * config["query"]
    work = meta_step_flops(config, in_shape, exact=False) / (GFLOPS * 1e9) \
        + _elementwise_seconds(config, in_shape, tasks * (support * n_s + 2 * n_q))
    return work / processes + per_process * _python_seconds(config, support + 2)


def episode_seconds(config, in_shape, *, episodes, n_s, n_q, steps, batch=10, cores=1):
    """Least seconds of ``episodes`` episodes adapted ``batch`` at a time with a first-order
    inner loop of ``steps`` steps on ``n_s`` support images, scored on ``n_q`` query images
    (``eval``; ``adapt`` is one episode): per episode ``steps (F_s + B_s) + F_q`` MACs on up to
    ``cores`` BLAS threads and the elementwise work of those passes, and per batch
    ``2 steps + 1`` passes over the network."""
    (Fs, m1s), (Fq, _) = (_forward(config, in_shape, n) for n in (n_s, n_q))
    flops = 2 * episodes * (steps * (3 * Fs - m1s) + Fq)
    return (flops / (GFLOPS * 1e9 * max(1, cores))
            + _elementwise_seconds(config, in_shape, episodes * (2 * steps * n_s + n_q))
            + math.ceil(episodes / batch) * _python_seconds(config, 2 * steps + 1))


def train_seconds(config, in_shape, done=0):
    """Least seconds of a run of ``config`` (a checked ``train`` config) from iteration
    ``done`` on: its meta-steps on ``config["workers"]`` processes, the validation rounds
    among them and the test. With ``patience`` P the run may stop after P + 1 rounds, so only
    those count."""
    every, cap = config["val_every"], config["iterations"]
    if config["patience"]:
        cap = min(cap, (config["patience"] + 1) * every)
    left = max(0, cap - done)
    rounds = max(0, cap // every - done // every) + (1 if left and cap % every else 0)
    workers = parallel.check_workers(config["workers"])
    ways = config["ways"]
    episodes = rounds * config["val_episodes"] + config["test_episodes"]
    return left * meta_step_seconds(config, in_shape, workers) + episode_seconds(
        config, in_shape, episodes=episodes, n_s=ways * config["shots"],
        n_q=ways * config["query"], steps=config["steps"], cores=parallel.default_workers())


def check_seconds(seconds, limit, what):
    """``ValueError`` naming ``what`` and the flag if ``seconds`` exceed ``limit``."""
    if seconds > limit:
        raise ValueError(f"{what} takes at least {seconds:.3g} s by estimate, more than "
                         f"--max-seconds {limit:g}; ask for less, or raise --max-seconds to "
                         "run it")
    return seconds


MODEL_KEYS = ("layers", "hidden", "linnet", "ways")     # a checkpoint's network


def describe(config, keys=("layers", "hidden", "linnet", "ways", "shots", "query", "steps",
                           "meta_batch")):
    """``"--hidden 100000 --ways 5 ..."``: the options that size a meta-step, for messages."""
    return " ".join(f"--{k.replace('_', '-')} {config[k]}" for k in keys if k in config)
