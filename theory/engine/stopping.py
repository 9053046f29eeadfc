"""Early stopping on a fixed validation set: when a run stops and which parameters it keeps.

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
- ``save_best(path, best, ...)``: write ``best.npz`` atomically.
"""

from theory.engine import checkpoint

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


def save_best(path, best, *, config, validation, rng_state, architecture, extra):
    """Write the best parameters ``{"model", "metaopt"}`` as an eval/adapt checkpoint.

    Its ``iteration`` is that of the best round and its ``validation`` the curve up to it;
    it holds no optimizer state (``extra["optimizer_state"] = "dropped"``), so ``--resume``
    refuses it and ``train.restore`` reads it like any checkpoint.
    """
    k = best_round(validation)
    upto = validation[:k + 1] if k is not None else []
    checkpoint.save(path, model=best["model"], metaopt=best["metaopt"], adam={},
                    config=config, iteration=upto[-1][0] if upto else 0, rng_state=rng_state,
                    validation=upto, architecture=architecture,
                    extra=dict(extra, optimizer_state="dropped"))
