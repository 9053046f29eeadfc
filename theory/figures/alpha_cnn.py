"""The alpha sweep on CNNs: final test accuracy against the inner lr alpha, per model.

The CNN counterpart of ``alpha_sweep`` (the 1D models): R1 says shallow MAML's adaptation is
as good as its fixed step alpha allows, and that a model which can shape its own step (MAML
w/ LinNet, KFO, a deeper network) depends on alpha much less. Nothing is trained here: the
points are the records of the ``alpha`` table of the ``authors`` budget (the paper authors'
Omniglot network, 5-way 5-shot, one seed per point), read by ``theory.paper.alpha`` (the same
reader as the claim row of ``paper_repro.md``). Without any record the figure is an empty
panel naming the command that fills it.
"""

import numpy as np

from theory import _paths
from theory.figures import style
from theory.figures.adaptation import COLOR, name_of
from theory.paper import alpha, budgets, vocabulary

__all__ = ["FILL", "compute_alpha_cnn", "fig_alpha_cnn"]

FILL = "python -m theory.paper run --budget authors --only alpha"


def compute_alpha_cnn(rng=None, quick=False, *, results_dir=_paths.RESULTS,
                      dataset="omniglot"):
    """The alpha sweep's points and claim.

    ``rng`` and ``quick`` are accepted for the registry's uniform signature; reading results
    uses neither. Returns ``{"dataset", "budget", "alphas", "models": [name], "labels",
    "ours": {name: [{"alpha", "accuracy", "ci95", "diverged"}]}, "claim": {"verdict",
    "detail"}, "fill"}``; accuracies in %.
    """
    alphas = list(budgets.budget(alpha.BUDGET)["alpha"]["inner_lr"])
    found = alpha.sweep(results_dir, dataset)
    judged = alpha.claim(found, alphas)
    ours = {name_of(k): [{"alpha": a, "accuracy": p["accuracy"], "ci95": p["ci95"],
                          "diverged": bool(p.get("diverged"))}
                         for a, p in found.get(k, {}).items()] for k in alpha.MODELS}
    return {"dataset": dataset, "budget": alpha.BUDGET, "alphas": alphas,
            "models": [name_of(k) for k in alpha.MODELS],
            "labels": {name_of(k): f"{vocabulary.LABEL[k[0]]}, {k[1]} layers"
                       for k in alpha.MODELS},
            "ours": ours, "claim": {"verdict": judged.verdict, "detail": judged.detail},
            "summary": {f"{name_of(k)}_spread": _spread(found.get(k, {})) for k in alpha.MODELS},
            "fill": FILL}


def _spread(points):
    """A model's registered spread (``alpha.spread``) in points, or ``None`` below two."""
    judged = alpha.spread(points)
    return None if judged is None else judged[0].mean


@style.styled
def fig_alpha_cnn(res):
    """Test accuracy vs alpha (log axis), one line per model with 95 % error bars (episodes);
    a diverged run is an open marker at chance, one ring size per model, so that models
    diverging at the same alpha stay visible as concentric rings."""
    fig, axes = style.figure(width=5.2, height=3.2)
    ax = axes[0, 0]
    colors = {name_of(k): c for k, c in COLOR.items()}
    drawn, rings = 0, 0
    for model in res["models"]:
        points = res["ours"][model]
        if not points:
            continue
        a = np.array([p["alpha"] for p in points])
        acc = np.array([p["accuracy"] for p in points])
        half = np.array([np.nan if p["ci95"] is None else p["ci95"] for p in points])
        color = colors.get(model, style.ROLE["theory"])
        ax.errorbar(a, acc, yerr=half, marker="o", markersize=3, capsize=2, color=color,
                    label=res["labels"][model])
        gone = np.array([p["diverged"] for p in points])
        if gone.any():
            ax.plot(a[gone], acc[gone], "o", markerfacecolor="none", color=color,
                    markersize=7 + 4 * rings, markeredgewidth=1.2, zorder=3 - 0.1 * rings)
            rings += 1
        drawn += 1
    ax.set_xscale("log")
    ax.set_xticks(res["alphas"])
    ax.set_xticklabels([f"{a:g}" for a in res["alphas"]])
    ax.set_xlabel("inner lr alpha (meta-training and test)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    label = vocabulary.DATASET_LABEL.get(res["dataset"], res["dataset"])
    ax.set_title(f"{label} 5-way 5-shot, the authors' network: accuracy vs alpha")
    if drawn:
        if rings:
            ax.plot([], [], "o", markerfacecolor="none", color="0.4",
                    label="meta-training diverged (counted as chance)")
        ax.legend(loc="lower left")
    else:
        style.note(ax, f"no alpha sweep yet:\n{res['fill']}")
    return fig
