"""Speed benchmark of one MAML meta-step (inner loop + meta-gradient), against a reference.

A meta-step is ``chunks.meta_grad`` on a random meta-batch: the code path of training, timed in
``repeats`` rounds after ``warmup`` rounds. Given a reference module ``ref`` (the same maths in
PyTorch, ``benchmarks/torch_reference.py``, which ``benchmarks/engine_speed.py`` passes in;
PyTorch is not a dependency), it runs on the same params and data in the same process: each
round runs every timed call once, in an order that changes from round to round so that every
call follows every other equally often (``timing.call_order``, ``timing.rounds``): both libraries see the same
machine load and neither always runs after the same call. Without
one (``python -m theory.engine bench``) the engine is timed alone. Three comparisons
(``SETTINGS``) are timed in the same run:

- ``1``: one thread each (engine ``workers=1``, ``torch.set_num_threads(1)``);
- ``all``: every core each (``parallel.default_workers()``);
- ``default``: what each library does when not told (engine ``workers=None``, PyTorch's
  thread count at import). A setting whose thread counts equal another's shares its timings.

``torch_mode_<setting>`` names the faster of PyTorch's task loop and ``torch.func.vmap`` when both run.

Measured per config (keys of a result row):

- ``engine_s_<setting>``/``torch_s_<setting>``: median wall time of one meta-step (seconds);
  ``engine_cpu_s_<setting>``/``torch_cpu_s_<setting>`` the median CPU time (all threads, and
  the engine's helper processes), steadier than wall time on a machine shared with other jobs;
  ``ratio_<setting>``/``cpu_ratio_<setting>`` engine over PyTorch: the median over rounds of
  the ratio within a round (``timing.paired_ratio``), and ``ratio_q_<setting>``/``cpu_ratio_q_<setting>``
  its quartiles. A within-round ratio cancels the machine's drift between rounds (this
  benchmark's VMs change speed by 10 % in minutes), which a ratio of the two medians does not.
  ``engine_s`` is
  ``engine_s_default`` (training's setting); ``threads_all`` the cores and
  ``torch_threads_default`` PyTorch's own count.
- ``gflops``: analytic GEMM work of the meta-step (see ``meta_step_flops``) / ``engine_s_1``,
  against ``gemm_peak_gflops``, the best of a few single-threaded ``np.matmul`` calls on
  1024x1024 float32 matrices measured in the same run.
- ``engine_peak_mb``: peak of the memory traced by ``tracemalloc`` during one extra meta-step
  (``timing.traced_peak``)
  at the default setting (numpy arrays and Python objects allocated during the step, above
  what existed before), with each helper process's own peak added (an upper bound of the
  step's memory at any one time).
  PyTorch's allocations are not traced, and the resident set is no measure of either side:
  ``heap.keep_freed_memory`` keeps freed blocks in the process's heap for reuse.
- ``task_chunk``: tasks per chunk of the meta-gradient at the default setting
  (``chunks.task_chunk``; the config's ``None`` resolved to the automatic size).
- ``grad_rel_diff``: ``||g_engine - g_torch|| / ||g_torch||`` over all params, which shows
  that both sides compute the same meta-gradient: float32 rounding only (about 1e-13 in
  float64), amplified by the conditioning of the inner loop for many tasks and steps.
"""

import json
import os
import statistics
import sys

import numpy as np
from tqdm import tqdm

from theory import _check
from theory.engine import chunks, cnn, footprint, parallel, timing
from theory.engine.config import init_meta_params, make_metaopt

__all__ = ["TORCH_MODES", "SETTINGS", "ALPHA", "config", "arch_of", "default_grid", "authors_grid",
           "tiny_grid", "algo_of", "make_problem", "engine_step", "meta_step_flops",
           "least_seconds", "gemm_peak_gflops", "thread_settings", "torch_supports",
           "bench_config", "run_benchmark", "describe", "format_table", "print_rows", "run"]

TORCH_MODES = ("loop", "vmap")
SETTINGS = ("1", "all", "default")
ALPHA = 0.4
_CONFIG_KEYS = ("layers", "hidden", "ways", "shots", "query", "steps", "meta_batch",
                "first_order", "algo", "metaopt", "linnet", "in_shape", "seed", "task_chunk",
                "downsample", "readout", "init")


def config(*, layers=4, hidden=32, ways=5, shots=1, query=15, steps=1, meta_batch=16,
           first_order=False, algo="maml", metaopt="none", linnet=0, in_shape=(1, 28, 28),
           seed=0, task_chunk=None, downsample="maxpool", readout="flatten", init="he"):
    """A benchmark config (a plain dict); ``first_order`` with ``algo="maml"`` means FO-MAML.

    ``task_chunk`` is ``chunks.meta_grad``'s ``chunk`` (tasks per chunk; ``None``: automatic);
    ``downsample``, ``readout`` and ``init`` choose the network as ``train``'s options do.
    """
    if first_order and algo != "maml":
        raise ValueError(f"first_order=True applies to algo='maml', not algo={algo!r}")
    cnn.Arch(downsample, readout)       # checks both
    _check.choice("init", init, cnn.INITS)
    return {"layers": layers, "hidden": hidden, "ways": ways, "shots": shots, "query": query,
            "steps": steps, "meta_batch": meta_batch, "first_order": bool(first_order),
            "algo": algo, "metaopt": metaopt, "linnet": linnet, "in_shape": tuple(in_shape),
            "seed": seed, "task_chunk": task_chunk, "downsample": downsample,
            "readout": readout, "init": init}


def arch_of(cfg):
    """The ``cnn.Arch`` of a benchmark config (the original network where it names none)."""
    return cnn.Arch(cfg.get("downsample", "maxpool"), cfg.get("readout", "flatten"))


def default_grid():
    """The performance table's grid: L in {2, 4}, 5-way {1, 5}-shot, K in {1, 5}, 2nd/1st order
    on the original network; then the paper's Omniglot network (stride-2 convs, mean readout,
    the authors' init) at widths 32 and 64, L in {2, 4}, 5-way 5-shot, K in {1, 5}, 2nd order."""
    return [config(layers=L, shots=s, steps=K, first_order=fo)
            for fo in (False, True) for L in (2, 4) for s in (1, 5) for K in (1, 5)] + \
        authors_grid()


def authors_grid():
    """The paper's Omniglot network in the performance table (``default_grid``)."""
    return [config(layers=L, hidden=h, shots=5, steps=K, downsample="stride", readout="mean",
                   init="authors")
            for h in (32, 64) for L in (2, 4) for K in (1, 5)]


def tiny_grid():
    """Two configs that run in well under a second (tests, ``--tiny``)."""
    small = dict(layers=2, hidden=4, ways=2, shots=1, query=2, steps=1, meta_batch=2,
                 in_shape=(1, 8, 8))
    return [config(**small), config(**small, first_order=True)]


def algo_of(cfg):
    """The ``maml.meta_grad`` algo of a config (``fomaml`` for first-order MAML)."""
    return "fomaml" if cfg["first_order"] else cfg["algo"]


def make_problem(cfg):
    """``(meta_params, batch, kwargs)`` of a config: seeded params, random images in [0, 1]."""
    rng = np.random.default_rng(cfg["seed"])
    tc = {"layers": cfg["layers"], "hidden": cfg["hidden"], "ways": cfg["ways"],
          "linnet": cfg["linnet"], "metaopt": cfg["metaopt"], "algo": cfg["algo"],
          "downsample": arch_of(cfg).downsample, "readout": arch_of(cfg).readout,
          "init": cfg.get("init", "he")}
    meta_params = init_meta_params(tc, cfg["in_shape"], rng)
    T, N = cfg["meta_batch"], cfg["ways"]

    def split(per_class):
        x = rng.random((T, N * per_class) + cfg["in_shape"], dtype=np.float32)
        y = np.tile(np.repeat(np.arange(N, dtype=np.int64), per_class), (T, 1))
        return x, y

    batch = split(cfg["shots"]) + split(cfg["query"])
    kwargs = {"alpha": ALPHA, "steps": cfg["steps"], "algo": algo_of(cfg),
              "metaopt": make_metaopt(cfg["metaopt"]),
              "chunk": cfg.get("task_chunk"), "arch": arch_of(cfg)}
    return meta_params, batch, kwargs


def engine_step(cfg, workers=None):
    """``(step, meta_params, batch, kwargs)``; ``step()`` is ``chunks.meta_grad`` on that problem."""
    meta_params, batch, kwargs = make_problem(cfg)
    return ((lambda: chunks.meta_grad(meta_params, batch, workers=workers, **kwargs)),
            meta_params, batch, kwargs)


def meta_step_flops(cfg):
    """Analytic float operations of the GEMMs of one meta-step of MAML or FO-MAML
    (``footprint.meta_step_flops``); ``None`` for ANIL and meta-optimizers."""
    return footprint.meta_step_flops(cfg, cfg["in_shape"])


def gemm_peak_gflops(size=1024, repeats=5):
    """Best GFLOP/s of single-threaded ``np.matmul`` on two ``size x size`` float32 matrices."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    with parallel.one_blas_thread():
        best = min(timing.clocks(lambda: np.matmul(a, b))[0] for _ in range(repeats + 1))
    return 2 * size ** 3 / best / 1e9


def thread_settings(ref):
    """``{setting: (engine workers, torch threads)}`` for ``SETTINGS`` (torch: None if absent)."""
    cores = parallel.default_workers()
    torch_default = None if ref is None else ref.DEFAULT_THREADS
    return {"1": (1, None if ref is None else 1),
            "all": (cores, None if ref is None else cores),
            "default": (parallel.check_workers(None), torch_default)}


def torch_supports(cfg):
    """The reference covers plain MAML/FO-MAML without LinNet layers or meta-optimizers."""
    return cfg["algo"] == "maml" and cfg["metaopt"] == "none" and cfg["linnet"] == 0


def _torch_step(ref, cfg, meta_params, batch, mode, threads):
    tparams, tbatch = ref.to_torch(meta_params["model"], batch)

    def step():
        ref.set_threads(threads)
        return ref.meta_grad(tparams, tbatch, alpha=ALPHA, steps=cfg["steps"],
                             first_order=cfg["first_order"], mode=mode, eps=cnn.BN_EPS,
                             arch=arch_of(cfg))
    return step


def _float64(a):
    """A reference's tensor (or array) as a float64 array."""
    return a.detach().double().numpy() if hasattr(a, "detach") else np.asarray(a, np.float64)


def _grad_rel_diff(engine_grads, torch_grads):
    keys = list(torch_grads)
    diff = np.sqrt(sum(np.sum((np.asarray(engine_grads[k], np.float64)
                               - _float64(torch_grads[k])) ** 2) for k in keys))
    ref = np.sqrt(sum(np.sum(_float64(torch_grads[k]) ** 2) for k in keys))
    return float(diff / ref)


def bench_config(cfg, *, repeats, warmup, ref=None, torch_modes=TORCH_MODES, bar=None):
    """One result row (see the module docstring) for one config."""
    ref = ref if ref is not None and torch_supports(cfg) else None
    settings = thread_settings(ref)
    step, meta_params, batch, kwargs = engine_step(cfg)
    calls = {}
    for workers, threads in dict.fromkeys(settings.values()):
        calls[("engine", workers)] = engine_step(cfg, workers)[0]
        for m in torch_modes if ref is not None else ():
            calls[(m, threads)] = _torch_step(ref, cfg, meta_params, batch, m, threads)
    times = timing.rounds(calls, repeats, warmup, bar)
    clock = {name: tuple(statistics.median(t[i] for t in ts) for i in (0, 1))
             for name, ts in times.items()}
    loss, grads, _ = step()
    row = {**cfg, "in_shape": list(cfg["in_shape"]), "engine_loss": float(loss),
           "task_chunk": chunks.task_chunk(kwargs["chunk"], cfg["meta_batch"], meta_params, batch,
                                         cfg["steps"], kwargs["algo"], settings["default"][0],
                                         kwargs["arch"]),
           "flops": meta_step_flops(cfg), "repeats": repeats, "warmup": warmup,
           "threads_all": settings["all"][0], "workers_default": settings["default"][0]}
    for name, (workers, threads) in settings.items():
        row[f"engine_s_{name}"], row[f"engine_cpu_s_{name}"] = clock[("engine", workers)]
        if ref is None:
            continue
        best = min(torch_modes, key=lambda m: clock[(m, threads)][0])
        row[f"torch_s_{name}"], row[f"torch_cpu_s_{name}"] = clock[(best, threads)]
        row.update({f"torch_{m}_s_{name}": clock[(m, threads)][0] for m in torch_modes})
        row[f"torch_mode_{name}"] = best
        engine, torch = times[("engine", workers)], times[(best, threads)]
        for kind, i in (("ratio", 0), ("cpu_ratio", 1)):
            q25, row[f"{kind}_{name}"], q75 = timing.paired_ratio([t[i] for t in engine],
                                                          [t[i] for t in torch])
            row[f"{kind}_q_{name}"] = [q25, q75]
    row["engine_s"] = row["engine_s_default"]
    row["gflops"] = None if row["flops"] is None else row["flops"] / row["engine_s_1"] / 1e9
    row["engine_peak_mb"] = timing.traced_peak(step) / 2 ** 20
    if ref is not None:
        row["torch_threads_default"] = settings["default"][1]
        tloss, tgrads = calls[(row["torch_mode_1"], 1)]()
        row["torch_loss"] = float(tloss)
        row["grad_rel_diff"] = _grad_rel_diff(grads["model"], tgrads)
    return row


def least_seconds(cfg, repeats, warmup):
    """A lower bound of ``run_benchmark``'s time for ``cfg`` without a reference
    (``footprint.meta_step_seconds``): ``repeats + warmup`` meta-steps per distinct engine
    setting, and two more at the default one (the returned gradients and the memory peak)."""
    workers = {w for w, _ in thread_settings(None).values()}
    step = {w: footprint.meta_step_seconds(cfg, cfg["in_shape"], w) for w in workers}
    return (repeats + warmup) * sum(step.values()) \
        + 2 * step[parallel.check_workers(None)]


def run_benchmark(configs, *, repeats, warmup, ref=None, progress=True, torch_modes=TORCH_MODES):
    """Result rows (dicts, see the module docstring) for ``configs``, with the GEMM peak.

    ``ref``: the PyTorch reference module (``meta_grad``, ``to_torch``, ``set_threads``,
    ``DEFAULT_THREADS``), or ``None`` to time the engine alone.
    """
    repeats, warmup = _check.integer("repeats", repeats, 1), _check.integer("warmup", warmup, 0)
    peak = gemm_peak_gflops()
    workers, threads = zip(*thread_settings(ref).values())
    calls = sum(len(set(workers)) + (len(torch_modes) * len(set(threads))
                                     if ref is not None and torch_supports(c) else 0)
                for c in configs) * (repeats + warmup)
    rows = []
    with tqdm(total=calls, desc="bench", disable=not progress, dynamic_ncols=True,
              file=sys.stderr) as bar:
        for cfg in configs:
            bar.set_postfix_str(describe(cfg))
            row = bench_config(cfg, repeats=repeats, warmup=warmup, ref=ref,
                               torch_modes=torch_modes, bar=bar)
            row["gemm_peak_gflops"] = peak
            rows.append(row)
    return rows


def describe(cfg):
    """Short label of a config, e.g. ``L4 5w1s K1 2nd T16``."""
    order = "1st" if cfg["first_order"] else "2nd"
    extra = "" if cfg["algo"] == "maml" else f" {cfg['algo']}"
    extra += "" if cfg["metaopt"] == "none" else f" {cfg['metaopt']}"
    extra += f" lin{cfg['linnet']}" if cfg["linnet"] else ""
    arch = arch_of(cfg)
    if arch != cnn.ARCH:
        extra += f" {arch.downsample}/{arch.readout} h{cfg['hidden']}"
    return (f"L{cfg['layers']} {cfg['ways']}w{cfg['shots']}s K{cfg['steps']} {order} "
            f"T{cfg['meta_batch']}{extra}")


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def _ratio(row, setting):
    """``0.93 (0.90-0.97)``: the median paired ratio and its quartiles, or ``-``."""
    if row.get(f"ratio_{setting}") is None:
        return "-"
    q25, q75 = row[f"ratio_q_{setting}"]
    return f"{row[f'ratio_{setting}']:.2f} ({q25:.2f}-{q75:.2f})"


def format_table(rows):
    """A markdown table of result rows: seconds and ratios per thread setting (the one-thread
    ratio with its quartiles over rounds), memory in MiB."""
    threads = rows[0]["threads_all"] if rows else "all"
    head = ("| config | engine s (1) | torch s (1) | ratio 1 thread | CPU ratio 1 thread "
            f"| engine s ({threads}) | torch s ({threads}) | ratio {threads} threads "
            "| ratio defaults | GFLOP/s (1) | engine peak MiB | grad rel. diff |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {describe(r)} | {r['engine_s_1']:.3f} | {_fmt(r.get('torch_s_1'), '.3f')} "
            f"| {_ratio(r, '1')} | {_fmt(r.get('cpu_ratio_1'), '.2f')} "
            f"| {r['engine_s_all']:.3f} | {_fmt(r.get('torch_s_all'), '.3f')} "
            f"| {_fmt(r.get('ratio_all'), '.2f')} | {_fmt(r.get('ratio_default'), '.2f')} "
            f"| {_fmt(r.get('gflops'), '.1f')} "
            f"| {r['engine_peak_mb']:.0f} | {_fmt(r.get('grad_rel_diff'), '.1e')} |")
    return "\n".join(lines)


def print_rows(rows, as_json):
    """Print result rows as one JSON object per line, or as the table and the machine line."""
    if as_json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
    else:
        print(format_table(rows))
        if rows:
            r = rows[0]
            print(f"\nfloat32 GEMM peak (1 thread): {r['gemm_peak_gflops']:.1f} GFLOP/s; "
                  f"all cores: {r['threads_all']}; defaults: engine workers "
                  f"{r['workers_default']}, torch threads {r.get('torch_threads_default', '-')}; "
                  f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def run(args):
    """``python -m theory.engine bench``: one config from the parsed CLI options."""
    cfg = config(layers=args.layers, hidden=args.hidden, ways=args.ways, shots=args.shots,
                 query=args.query, steps=args.steps, meta_batch=args.meta_batch,
                 first_order=args.first_order or args.algo == "fomaml",
                 algo="maml" if args.algo == "fomaml" else args.algo, metaopt=args.metaopt,
                 linnet=args.linnet, seed=args.seed, downsample=args.downsample,
                 readout=args.readout, init=args.init)
    footprint.check(cfg, cfg["in_shape"], f"a meta-step of {footprint.describe(cfg)}")
    footprint.check_seconds(least_seconds(cfg, args.repeats, 1), args.max_seconds,
                            f"bench of {footprint.describe(cfg)} --repeats {args.repeats}")
    rows = run_benchmark([cfg], repeats=args.repeats, warmup=1, progress=not args.json)
    print_rows(rows, args.json)
    return 0
