"""Figures 5 and 6: the paper's CNN tables (Omniglot 5-way 5-shot) beside our engine runs.

Nothing is trained here: our values come from the engine's results JSON under ``results/``
(see ``theory.figures.results``). A cell without a run is drawn as "our result: not yet run".
Paper values: ``theory.figures.paper`` (Table 1: LinNet vs depth; Table 2: meta-optimizers on
2-layer CNNs).
"""

import numpy as np
from matplotlib.patches import Patch

from theory.figures import paper, results, style

NOT_RUN = "our result: not yet run"


def compute_linnet_depth(rng=None, quick=False, *, results_dir=results.DEFAULT_DIR,
                         dataset="omniglot"):
    """Table 1 cells for ``dataset``: paper values and our run summaries (``None`` = not run).

    ``rng`` and ``quick`` are accepted for the registry's uniform signature; reading results
    uses neither. Returns ``{"dataset", "layers", "methods", "paper": {method: [%|None]},
    "ours": {method: [summary|None]}, "source"}``.
    """
    runs = results.load_runs(results_dir)
    layers = list(paper.TABLE1_LAYERS)
    return {
        "dataset": dataset, "layers": layers, "methods": list(paper.TABLE1_METHODS),
        "paper": {m: [paper.table1(dataset, m, n) for n in layers] for m in paper.TABLE1_METHODS},
        "ours": {m: [results.summarise(results.select(runs, dataset=dataset, method=m, layers=n))
                     for n in layers] for m in paper.TABLE1_METHODS},
        "source": paper.SOURCE,
    }


def compute_meta_optimizers(rng=None, quick=False, *, results_dir=results.DEFAULT_DIR,
                            dataset="omniglot"):
    """Table 2 cells (2-layer CNN) for ``dataset``: paper values and our run summaries.

    Same conventions as ``compute_linnet_depth``; ``"methods"`` lists MAML and the
    meta-optimizers in the paper's order.
    """
    runs = results.load_runs(results_dir)
    methods = list(paper.TABLE2_METHODS)
    return {
        "dataset": dataset, "layers": 2, "methods": methods,
        "paper": {m: paper.table2(dataset, m) for m in methods},
        "ours": {m: results.summarise(results.select(runs, dataset=dataset, method=m, layers=2))
                 for m in methods},
        "source": paper.SOURCE,
    }


def _bars(ax, x, paper_values, ours, *, color, label):
    """Paper bars (hatched, light) and ours (solid, 95 % CI, labelled inside with the mean and
    the number of seeds n) side by side at positions ``x``."""
    width = 0.38
    for xi, value in zip(x, paper_values, strict=True):
        if value is None:
            ax.text(xi - width / 2, 1, "not\nquoted", ha="center", va="bottom", fontsize=6,
                rotation=90)
        else:
            ax.bar(xi - width / 2, value, width, color=color, alpha=0.35, hatch="//",
                   edgecolor=color)
            ax.text(xi - width / 2, value + 1, f"{value:g}", ha="center", va="bottom",
                    fontsize=6)
    missing = 0
    for xi, summary in zip(x, ours, strict=True):
        if summary is None:
            missing += 1
            ax.text(xi + width / 2, 1, "not run", ha="center", va="bottom", fontsize=6,
                    color=color, rotation=90)
        else:
            half = summary["ci95"] or 0.0  # an unknown interval (None) gets no error bar
            ax.bar(xi + width / 2, summary["accuracy"], width, color=color,
                   yerr=half, capsize=2, ecolor="0.2")
            # inside the bar (white), so that labels never collide with neighbouring bars
            ax.text(xi + width / 2, summary["accuracy"] - 1.5, f"{summary['accuracy']:.1f}",
                    ha="center", va="top", fontsize=6, color="white", rotation=90)
            ax.text(xi + width / 2, 1.5, f"n={summary['seeds']}", ha="center", va="bottom",
                    fontsize=5, color="white", rotation=90)
    handles = [Patch(facecolor=color, alpha=0.35, hatch="//", edgecolor=color,
                     label=f"{label} (paper)"),
               Patch(facecolor=color, label=f"{label} (ours)")]
    return missing, handles


def _budget(summaries):
    """" (ours: I meta-iterations)" from our cells' iterations, or "" when none ran."""
    its = sorted({i for s in summaries if s for i in s["iterations"]})
    return f" (ours: {'/'.join(map(str, its))} meta-iterations)" if its else ""


def _finish(fig, ax, missing, total, title, handles):
    ax.set_ylim(0, 118)  # room for the labels above bars near 100 %
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("test accuracy (%)")
    if missing:
        title += f"\n{missing} of {total} cells: {NOT_RUN}"
    ax.set_title(title)
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    if missing == total:
        style.note(ax, f"{NOT_RUN}\n(no engine results under results/)", loc=(0.5, 0.55))
    return fig


@style.styled
def fig_linnet_depth(res):
    """Figure 5: MAML vs MAML w/ LinNet at 2, 3, 4, 6 CNN layers, paper beside ours."""
    fig, axes = style.figure(width=5.2, height=3.2)
    ax = axes[0, 0]
    layers = res["layers"]
    x = np.arange(len(layers), dtype=float)
    colors = {"maml": style.ROLE["shallow"], "maml+linnet": style.ROLE["deep"]}
    missing, handles = 0, []
    for offset, method in zip((-0.45, 0.45), res["methods"], strict=True):
        miss, hand = _bars(ax, 2.5 * x + offset, res["paper"][method], res["ours"][method],
                           color=colors[method], label=paper.TABLE1_LABEL[method])
        missing, handles = missing + miss, handles + hand
    ax.set_xticks(2.5 * x, [f"{n} layers" for n in layers])
    ax.set_xlabel("CNN depth (conv layers)")
    label = paper.DATASET_LABEL.get(res["dataset"], res["dataset"])
    ours = [c for m in res["methods"] for c in res["ours"][m]]
    return _finish(fig, ax, missing, 2 * len(layers),
                   f"{label} 5-way 5-shot: LinNet vs depth{_budget(ours)}", handles)


@style.styled
def fig_meta_optimizers(res):
    """Figure 6: MAML and meta-optimizers on a 2-layer CNN, paper beside ours."""
    fig, axes = style.figure(width=5.2, height=3.2)
    ax = axes[0, 0]
    methods = res["methods"]
    x = np.arange(len(methods), dtype=float)
    missing, handles = _bars(ax, x, [res["paper"][m] for m in methods],
                             [res["ours"][m] for m in methods], color=style.ROLE["deep"],
                             label="accuracy")
    ax.set_xticks(x, [paper.TABLE2_LABEL[m] for m in methods])
    ax.set_xlabel("meta-optimizer (2-layer CNN)")
    label = paper.DATASET_LABEL.get(res["dataset"], res["dataset"])
    return _finish(fig, ax, missing, len(methods), f"{label} 5-way 5-shot: meta-optimizers"
                   f"{_budget(res['ours'].values())}", handles)
