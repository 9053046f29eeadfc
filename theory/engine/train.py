"""Meta-training: outer Adam over sampled task batches, validation, resumable checkpoints.

One run = one ``out_dir`` holding ``checkpoint.npz`` (see ``theory.engine.checkpoint``) and, at
the end, ``results.json``: the ``engine-run`` record (schema in ``results/README.md``; the
config is that of ``theory.engine.config``, whose ``make_config`` and ``DEFAULTS`` are also
importable from here).

Training to convergence (all off by default, which keeps a run exactly as before they
existed): ``patience`` >= 1 stops a run when its validation accuracy has not improved for that
many rounds (``iterations`` is then the cap) and tests it on its best-validation parameters,
kept in ``best.npz`` (``theory.engine.stopping``); the record adds ``best`` and ``stopped``
(``{"iteration", "reason": "plateau" | "cap"}``). ``meta_lr_schedule="cosine"`` anneals the
outer step size over ``iterations`` (``optim.schedule``). ``split_by="alphabet"`` (Omniglot)
holds out whole alphabets (``data.omniglot``).

Randomness: the run seed is expanded into four independent streams (``config.seeds``):
parameter init, training-task sampling, validation episodes and test episodes. The training
generator's state is checkpointed, which makes a resumed run bitwise identical to an
uninterrupted one.
"""

import os
import time

import numpy as np
from tqdm.auto import tqdm

from theory import _io
from theory.engine import checkpoint, chunks, cnn, data, footprint, metaopt, optim, stopping
from theory.engine import config as run_config
from theory.engine import evaluate as evaluation
from theory.engine.config import DEFAULTS, make_config  # noqa: F401 (public here too)
from theory.engine.provenance import machine, source_commit
from theory.engine.stopping import DivergedError  # noqa: F401 (public: what a divergence raises)

CHECKPOINT = "checkpoint.npz"
RESULTS = "results.json"


def _resume(ckpt_path, config, meta_params):
    """``(adam_state, rng_state, iteration, validation, wall_time, best)`` of ``ckpt_path``."""
    try:
        ckpt = checkpoint.load(ckpt_path)
    except ValueError as err:
        raise ValueError(f"{err}; delete it to start the run afresh") from None
    if ckpt["extra"].get("optimizer_state") == "dropped":
        raise ValueError(f"cannot resume {ckpt_path}: it holds no optimizer state (a copy "
                         "for eval and adapt); resume from the run's own checkpoint")
    run_config.check_resume(run_config.from_saved(ckpt["config"]), config, ckpt_path)
    checkpoint.check_compatible(ckpt["model"], meta_params["model"], what=ckpt_path)
    checkpoint.check_compatible(ckpt["metaopt"], meta_params["metaopt"], what=ckpt_path)
    if ckpt["iteration"] > config["iterations"]:
        raise ValueError(f"iterations={config['iterations']} is below the "
                         f"{ckpt['iteration']} iterations already done in {ckpt_path}")
    if config["patience"] and ckpt["validation"] and ckpt["best"] is None:
        raise ValueError(f"cannot resume {ckpt_path} with patience={config['patience']}: it "
                         "was run with patience=0 and kept no best-validation parameters")
    return (optim.state_from_arrays(ckpt["adam"]), ckpt["rng_state"], ckpt["iteration"],
            [list(v) for v in ckpt["validation"]], float(ckpt["extra"]["wall_time_s"]),
            ckpt["best"] if config["patience"] else None)


def train(config, *, out_dir, resume=False, progress=True, callback=None, max_seconds=None):
    """Meta-train ``config`` (a dict of ``DEFAULTS`` keys), writing checkpoints to ``out_dir``.

    ``resume=True`` continues from ``out_dir/checkpoint.npz`` (identical results to an
    uninterrupted run); without it an existing checkpoint is an error, never overwritten.
    ``callback(iteration, info)`` runs after each completed iteration (``info``: loss,
    accuracy). Returns the results record, also written to ``out_dir/results.json``.
    A NaN/inf meta-loss raises ``DivergedError`` naming the iteration and value; the last
    checkpoint (written before that iteration) is kept. With ``patience`` >= 1 the run stops
    early on a validation plateau and is tested on its best round (``stopping``).
    ``max_seconds``: refuse (``ValueError``), before the first meta-step, a run whose
    remaining time is estimated above it (``footprint.train_seconds``, a lower bound).
    """
    config = make_config(**config)
    footprint.check(config, footprint.IN_SHAPE[config["dataset"]],
                    f"a meta-step of {footprint.describe(config)}")
    _io.check_writable(out_dir)
    ckpt_path = os.path.join(os.fspath(out_dir), CHECKPOINT)
    if os.path.exists(ckpt_path) and not resume:
        raise ValueError(f"{ckpt_path} already exists; pass --resume to continue that run "
                         "or choose another --out")
    if resume and not os.path.exists(ckpt_path):
        raise FileNotFoundError(f"--resume given but {ckpt_path} does not exist")
    seeds = run_config.seeds(config["seed"])
    train_set, val_set, test_set = run_config.load_splits(config)
    meta_params = run_config.init_meta_params(config, train_set.in_shape,
                                              np.random.default_rng(seeds["init"]))
    opt_obj = run_config.make_metaopt(config["metaopt"], config["metaopt_options"])
    kwargs = evaluation.algorithm_kwargs(config, opt_obj)
    opt_init, opt_update, get_params = optim.adam(optim.schedule(
        config["meta_lr_schedule"], config["meta_lr"], max(1, config["iterations"])))
    state = opt_init(meta_params)
    rng = np.random.default_rng(seeds["train"])
    start, validation, wall, best = 0, [], 0.0, None
    patience = config["patience"]
    if resume:
        state, rng.bit_generator.state, start, validation, wall, best = _resume(
            ckpt_path, config, meta_params)
    if max_seconds is not None:
        what = f"train {footprint.describe(config)} --iterations {config['iterations']}"
        footprint.check_seconds(footprint.train_seconds(config, train_set.in_shape, start),
                                max_seconds, what + (f" from iteration {start}" if start else ""))

    def kept(params):
        return {"architecture": cnn.architecture(params["model"]), "config": config,
                "extra": {"in_shape": list(train_set.in_shape), "wall_time_s": wall},
                "rng_state": rng.bit_generator.state, "validation": validation}

    def save(iteration, params):
        with stopping.deferred_interrupt():
            if best is not None:    # best.npz first: never behind the checkpoint with its params
                stopping.save_best(best_path, best, **kept(best))
            checkpoint.save(ckpt_path, model=params["model"], metaopt=params["metaopt"],
                            adam=optim.state_to_arrays(state), iteration=iteration, best=best,
                            **kept(params))

    def evaluate(params, split_set, split, episodes, bar=False):
        rng = run_config.episode_rng(config["seed"], split)
        return evaluation.mean_accuracy(params, split_set, rng, episodes=episodes,
                                        config=config, metaopt=opt_obj, progress=bar,
                                        desc=split)

    params = get_params(state)
    best_path = os.path.join(os.fspath(out_dir), stopping.BEST)
    # a Ctrl-C abandons the meta-step at once, on helper processes too (``parallel.stop_now``):
    # nothing is lost, the step's result was not kept yet
    stopped, done = stopping.plateaued(validation, patience), start
    with tqdm(total=config["iterations"], initial=start, desc="meta-train",
              disable=not progress, dynamic_ncols=True) as bar:
        for it in range(start, start if stopped else config["iterations"]):
            tick = time.perf_counter()
            batch = data.sample_tasks(train_set, rng, tasks=config["meta_batch"],
                                      ways=config["ways"], shots=config["shots"],
                                      query=config["query"])
            # non-finite values are caught by check_finite, with the iteration and value
            with np.errstate(all="ignore"):
                loss, grads, aux = chunks.meta_grad(params, batch, chunk=config["task_chunk"],
                                                  workers=config["workers"], **kwargs)
            stopping.check_finite(float(loss), grads, it + 1, ckpt_path)
            state = opt_update(it, grads, state)
            params = get_params(state)
            done = it + 1
            info = {"loss": float(loss), "accuracy": float(np.mean(aux["accuracy"]))}
            if done % config["val_every"] == 0 or done == config["iterations"]:
                validation.append([done, evaluate(params, val_set, "val",
                                                  config["val_episodes"])["accuracy"]])
                info["val_accuracy"] = validation[-1][1]
                best, stopped = stopping.after_round(validation, patience, params, best)
            wall += time.perf_counter() - tick
            if done % config["checkpoint_every"] == 0 or done == config["iterations"] \
                    or stopped:
                save(done, params)
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in info.items()}, refresh=False)
            if callback is not None:
                callback(done, info)
            if stopped:
                break
    if not os.path.exists(ckpt_path):   # iterations=0: the initialisation is the result
        save(start, params)
    if patience:    # (re)written here too: a resumed run may stop before its last best.npz
        params = params if best is None else best
        stopping.save_best(best_path, params, **kept(params))

    test = evaluate(params, test_set, "test", config["test_episodes"], bar=progress)
    result = {"kind": "engine-run", "config": config, "commit": source_commit(),
              "seed": config["seed"],
              "test": {k: test[k] for k in ("accuracy", "ci95", "episodes")},
              "validation": validation, "wall_time_s": wall, "machine": machine(),
              "parameters": metaopt.count_parameters(params), "iterations_done": done,
              "checkpoint": os.path.abspath(best_path if patience else ckpt_path)}
    result.update(stopping.summary(validation, patience, done))
    _io.write_json(os.path.join(os.fspath(out_dir), RESULTS), result)
    return result
