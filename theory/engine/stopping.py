"""Why a run stops (a validation plateau, its cap, divergence) and which parameters it keeps.

A run with ``patience`` P >= 1 validates every ``val_every`` meta-iterations on the same
``val_episodes`` episodes (their generator is re-created from the run seed at each round, see
``train``) and stops after the first round that ends P consecutive rounds without a strictly
higher accuracy than the best before them (``"plateau"``), or at its cap ``iterations``
(``"cap"``). It is then tested on the parameters of its best round: the first round that
reached the highest validation accuracy. ``patience=0`` turns all of this off (the run trains
to ``iterations`` and is tested on its last parameters).

The best parameters travel inside the run's resumable ``checkpoint.npz`` (group ``best``), so
an interrupted run resumes with them; ``best.npz`` beside it is a copy without optimizer
state for ``eval`` and ``adapt``, rewritten whenever the checkpoint is.

- ``best_round(validation) -> int or None``: index of the best round of ``[[iteration, acc]]``.
- ``improved(validation) -> bool``: the last round is the best so far.
- ``plateaued(validation, patience) -> bool``: the stopping rule above.
- ``stop_record(validation, patience, done) -> {"iteration", "reason"}``.
- ``after_round(validation, patience, params, best) -> (best, stopped)``: after a round.
- ``summary(validation, patience, done)``: the record's ``best`` and ``stopped`` (or ``{}``).
- ``save_best(path, best, ...)``: write ``best.npz`` atomically.
- ``check_finite(loss, grads, iteration, ckpt_path)``: ``DivergedError`` on a NaN/inf step.
- ``deferred_interrupt()``: a Ctrl-C inside the block is raised when the block ends (a
  second one is raised at once); ``parallel``'s, importable from here too.
"""

import math
import os

from theory import _tree
from theory.engine import checkpoint
from theory.engine.parallel import deferred_interrupt  # noqa: F401 (public here too)

__all__ = ["BEST", "best_round", "improved", "plateaued", "stop_record", "best_summary",
           "after_round", "summary", "save_best", "DivergedError", "check_finite",
           "deferred_interrupt"]

BEST = "best.npz"


def best_round(validation):
    """Index of the first round with the highest accuracy, ``None`` for no rounds."""
    if not validation:
        return None
    accs = [acc for _, acc in validation]
    return accs.index(max(accs))


def improved(validation):
    """True if the last round of ``validation`` beats every earlier one (strictly)."""
    return bool(validation) and best_round(validation) == len(validation) - 1


def plateaued(validation, patience):
    """True if ``patience`` >= 1 rounds have passed since the best round without a better one."""
    if patience < 1 or not validation:
        return False
    return len(validation) - 1 - best_round(validation) >= patience


def stop_record(validation, patience, done):
    """Why a run ended at iteration ``done``: ``"plateau"`` if the rule holds there, else
    ``"cap"`` (it reached ``iterations``)."""
    return {"iteration": int(done),
            "reason": "plateau" if plateaued(validation, patience) else "cap"}


def best_summary(validation):
    """``{"iteration", "val_accuracy"}`` of the best round (``None`` without rounds)."""
    k = best_round(validation)
    if k is None:
        return None
    return {"iteration": int(validation[k][0]), "val_accuracy": float(validation[k][1])}


def after_round(validation, patience, params, best):
    """``(best, stopped)`` after a validation round: ``params`` become the best if the round
    improved (with ``patience`` >= 1 only), and whether the run stops on a plateau."""
    if patience and improved(validation):
        best = params
    return best, plateaued(validation, patience)


def summary(validation, patience, done):
    """The record's ``{"best", "stopped"}`` for a run with early stopping, ``{}`` without."""
    if not patience:
        return {}
    return {"best": best_summary(validation),
            "stopped": stop_record(validation, patience, done)}


def save_best(path, best, *, config, validation, rng_state, architecture, extra):
    """Write the best parameters ``{"model", "metaopt"}`` as an eval/adapt checkpoint.

    Its ``iteration`` is that of the best round and its ``validation`` the curve up to it;
    it holds no optimizer state (``extra["optimizer_state"] = "dropped"``), so ``--resume``
    refuses it and ``checkpoint.restore`` reads it like any checkpoint.
    """
    k = best_round(validation)
    upto = validation[:k + 1] if k is not None else []
    checkpoint.save(path, model=best["model"], metaopt=best["metaopt"], adam={},
                    config=config, iteration=upto[-1][0] if upto else 0, rng_state=rng_state,
                    validation=upto, architecture=architecture,
                    extra=dict(extra, optimizer_state="dropped"))


class DivergedError(ValueError):
    """The meta-loss or meta-gradient became NaN or infinite; the run stopped."""


def check_finite(loss, grads, iteration, ckpt_path):
    """Raise ``DivergedError`` naming the iteration and value if the step is not finite."""
    if math.isfinite(loss) and _tree.all_finite(grads):
        return
    what = f"meta-gradient (meta-loss {loss})" if math.isfinite(loss) else f"meta-loss {loss}"
    last = f"last good checkpoint: {ckpt_path}" if os.path.exists(ckpt_path) \
        else "no checkpoint written yet"
    raise DivergedError(f"{what} is not finite at iteration {iteration}; run stopped ({last})")
