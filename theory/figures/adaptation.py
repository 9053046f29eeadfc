"""Adaptation curves on CNNs: test accuracy after k inner steps from meta-trained models.

The CNN counterpart of the failure-mode figure: the paper's mechanism says a shallow model
under MAML cannot adapt fast, and that extra (collapsible) layers or a meta-optimizer let it.
Nothing is trained here: the curves are the ``"adaptation"`` entries of the engine records
under ``results/`` (test accuracy after k = 0..10 inner steps from the best-validation
parameters, 5-way 5-shot Omniglot), read by ``theory.paper.cells`` (the same reader as claim
C12 of ``paper_repro.md``) for the four models (MAML at 2 and 4 layers, MAML w/ LinNet and KFO
at 2), in two panels: the authors' protocol (budget ``authors``: their network, one inner lr
for every model, so the curves compare models at the same step size) and ours (the budget
``cells.preferred`` picks, ``converged`` when its runs are in: inner lrs searched per model).
A model with several seeds is their mean with Student's t interval over seeds per k; with one
seed, that seed's interval over its test episodes. A panel without any such record names the
command that fills it.
"""

import textwrap

import numpy as np

from theory import _paths
from theory.figures import style
from theory.paper import cells, protocols, vocabulary

__all__ = ["FILL", "FILL_AUTHORS", "COLOR", "name_of", "compute_adaptation_cnn", "fig_adaptation_cnn"]

FILL = "python -m theory.paper run --budget converged"
AUTHORS = vocabulary.AUTHORS
FILL_AUTHORS = f"python -m theory.paper run --budget {AUTHORS}"
COLOR = {("maml", 2): style.ROLE["shallow"], ("linnet", 2): style.ROLE["deep"],
         ("kfo", 2): style.ROLE["other"], ("maml", 4): style.ROLE["deeper"]}


def name_of(key):
    """``"maml_L2"``: a model's key in the figure's JSON (``ours``)."""
    return f"{key[0]}_L{key[1]}"


def compute_adaptation_cnn(rng=None, quick=False, *, results_dir=_paths.RESULTS,
                           dataset="omniglot"):
    """The adaptation curves of ``vocabulary.ADAPTATION_KEYS`` under both protocols.

    ``rng`` and ``quick`` are accepted for the registry's uniform signature; reading results
    uses neither. Returns ``{"dataset", "budget" (ours: the preferred budget, None: no curve
    yet), "models": [name], "labels": {name: text}, "ours": {name: cells.curve or None},
    "authors": {name: curve or None} (budget ``authors``), "protocols": {budget: text},
    "fill", "fill_authors"}``; accuracies in %.
    """
    keys = vocabulary.ADAPTATION_KEYS
    name, curves = cells.adaptation(results_dir, dataset, keys)
    theirs = cells.grouped(results_dir, dataset).get(AUTHORS, {})
    return {"dataset": dataset, "budget": name,
            "models": [name_of(k) for k in keys],
            "labels": {name_of(k): f"{vocabulary.LABEL[k[0]]}, {k[1]} layers" for k in keys},
            "ours": {name_of(k): curves[k] for k in keys},
            "authors": {name_of(k): cells.curve(theirs.get(k)) for k in keys},
            "protocols": dict(protocols.PROTOCOLS), "fill": FILL, "fill_authors": FILL_AUTHORS}


def _panel(ax, res, curves, title, fill):
    """Draw one protocol's curves on ``ax``: a line per model with its shaded 95 % interval."""
    colors = {name_of(k): c for k, c in COLOR.items()}
    drawn, missing, over, last = 0, [], set(), 10
    for model in res["models"]:
        c = curves[model]
        if c is None:
            missing.append(res["labels"][model])
            continue
        k, acc = np.array(c["steps"]), np.array(c["accuracy"])
        half = np.array([np.nan if h is None else h for h in c["ci95"]], dtype=float)
        color = colors.get(model, style.ROLE["theory"])
        ax.plot(k, acc, marker="o", markersize=3, color=color,
                label=f"{res['labels'][model]} (n={c['seeds']})")
        known = ~np.isnan(half)
        ax.fill_between(k[known], np.maximum(acc - half, 0)[known],
                        np.minimum(acc + half, 100)[known], color=color, alpha=0.2,
                        linewidth=0)
        over.add("over seeds (n ≥ 2)" if c["interval"] == "seeds"
                 else "over its test episodes (n = 1)")
        drawn, last = drawn + 1, max(last, int(k.max()))
    if over:
        ax.fill_between([], [], [], color="0.6", alpha=0.35, linewidth=0,
                        label="shaded: 95 % interval " + ",\n".join(sorted(over, reverse=True)))
        ax.legend(loc="lower right")  # the curves rise early and stay high: the lower right is free
    ax.set_xlabel("inner steps k at test time")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_xlim(0, last)
    ax.set_title(title, fontsize=9)
    if missing:
        text = (f"no adaptation curves yet:\n{fill}" if not drawn
                else "not run: " + ", ".join(missing))
        style.note(ax, text, loc=(0.5, 0.5) if not drawn else (0.6, 0.5))


def _wrap(text, width=62):
    return "\n".join(textwrap.wrap(text, width))


@style.styled
def fig_adaptation_cnn(res):
    """Test accuracy vs inner steps k, one panel per protocol (the authors', ours)."""
    fig, axes = style.figure(1, 2, width=5.2, height=3.6)
    described = res.get("protocols", {})
    _panel(axes[0, 0], res, res["authors"],
           _wrap(f"the authors' protocol (budget {AUTHORS}): "
                 f"{described.get(AUTHORS, '')}"), res["fill_authors"])
    budget = res["budget"]
    ours = f"ours (budget {budget})" if budget else "ours"
    _panel(axes[0, 1], res, res["ours"],
           _wrap(f"{ours}: {described[budget]}" if budget in described else ours), res["fill"])
    label = vocabulary.DATASET_LABEL.get(res["dataset"], res["dataset"])
    fig.suptitle(f"{label} 5-way 5-shot: adaptation after meta-training")
    return fig
