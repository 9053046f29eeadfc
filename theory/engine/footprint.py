"""The memory a meta-step will need, estimated from its config before anything is built.

``meta_step_bytes(config, in_shape)`` adds, in float32:

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
``check(config, in_shape, what)`` refuses beyond ``theory._limits``' limit. ``IN_SHAPE`` is each
dataset's image shape, known before its files are read.
"""

from theory import _limits
from theory.engine import chunks, cnn

IN_SHAPE = {"synthetic": (1, 28, 28), "omniglot": (1, 28, 28), "cifarfs": (3, 32, 32),
            "mini-imagenet": (3, 84, 84)}
ITEMSIZE = 4            # float32


def meta_step_bytes(config, in_shape):
    """Estimated least peak bytes of one meta-step of ``config`` (module docstring) on images
    of ``in_shape`` ``(C, H, W)``; ``config`` needs the keys of ``engine.config.FIELDS``
    that size a model and a task (missing ones count as their smallest)."""
    channels, H, W = in_shape
    layers, hidden = config["layers"], config["hidden"]
    ways, shots, query = config["ways"], config["shots"], config["query"]
    steps = config.get("steps", 1)
    second = config.get("algo", "maml") == "maml" and not config.get("first_order")
    downsample = config.get("downsample", "maxpool")
    outs, ins = chunks.conv_values(in_shape, [hidden] * layers, downsample)
    params = hidden * (channels * 9 + 3) + (layers - 1) * hidden * (hidden * 9 + 3)
    for Ho, Wo in cnn.map_sizes(H, W, layers, downsample):
        H, W = Ho, Wo
    features = hidden * (1 if config.get("readout") == "mean" else H * W)
    width = config.get("linnet_width") or features
    linnet = config.get("linnet") or 0
    params += linnet * width * (width + 1) + ways * ((width if linnet else features) + 1)
    n_s, n_q = ways * shots, ways * query
    graph = chunks.graph_bytes((outs + linnet * width, ins + linnet * width), n_s, n_q, steps,
                               second, ITEMSIZE)
    adapted = ITEMSIZE * params * (max(steps, 1) + 1) * (3 if second else 1)
    batch = ITEMSIZE * config.get("meta_batch", 1) * (n_s + n_q) * channels * in_shape[1] \
        * in_shape[2]
    return graph + adapted + batch + 8 * ITEMSIZE * params


def check(config, in_shape, what):
    """``ValueError`` naming ``what`` if a meta-step of ``config`` cannot fit in memory."""
    return _limits.check_memory(meta_step_bytes(config, in_shape), what)


def describe(config, keys=("layers", "hidden", "linnet", "ways", "shots", "query", "steps",
                           "meta_batch")):
    """``"--hidden 100000 --ways 5 ..."``: the options that size a meta-step, for messages."""
    return " ".join(f"--{k.replace('_', '-')} {config[k]}" for k in keys if k in config)
