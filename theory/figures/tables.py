"""Figures 5 and 6: the paper's CNN tables (Omniglot 5-way 5-shot) beside our engine runs.

Nothing is trained here: our cells are ``theory.paper.cells`` of the records under
``results/`` (the same reader as the README tables and ``paper_repro.md``), all of one budget:
the one ``cells.preferred`` for the figure's cells (the most thorough budget that has them
all, else the most thorough that has any), named in the data (``"budget"``) and the title. The
paper's are ``theory.paper.numbers``. A cell without a run is drawn as "our result: not yet
run". An error bar is the cell's 95 % interval: over seeds (n >= 2) or one seed's test
episodes (n = 1).
"""

import numpy as np
from matplotlib.patches import Patch

from theory import _paths
from theory.figures import style
from theory.paper import cells, numbers, vocabulary

NOT_RUN = "our result: not yet run"


def compute_linnet_depth(rng=None, quick=False, *, results_dir=_paths.RESULTS,
                         dataset="omniglot"):
    """Table 1 cells for ``dataset``: paper values and our cell summaries (``None`` = not run).

    ``rng`` and ``quick`` are accepted for the registry's uniform signature; reading results
    uses neither. Returns ``{"dataset", "budget", "layers", "methods", "paper": {method:
    [%|None]}, "ours": {method: [summary|None]}, "source"}`` (``budget``: ``None`` when no
    cell has run).
    """
    name, found = cells.choose(results_dir, dataset, vocabulary.TABLE1_KEYS)
    layers = list(vocabulary.TABLE1_LAYERS)
    return {
        "dataset": dataset, "budget": name, "layers": layers,
        "methods": list(vocabulary.TABLE1_METHODS),
        "paper": {m: [numbers.table1(dataset, m, n) for n in layers]
                  for m in vocabulary.TABLE1_METHODS},
        "ours": {m: [cells.summary(found.get((m, n))) for n in layers]
                 for m in vocabulary.TABLE1_METHODS},
        "source": numbers.SOURCE,
    }


def compute_meta_optimizers(rng=None, quick=False, *, results_dir=_paths.RESULTS,
                            dataset="omniglot"):
    """Table 2 cells (2-layer CNN) for ``dataset``: paper values and our cell summaries.

    Same conventions as ``compute_linnet_depth``; ``"methods"`` lists MAML and the
    meta-optimizers in the paper's order.
    """
    name, found = cells.choose(results_dir, dataset, vocabulary.TABLE2_KEYS)
    methods = list(vocabulary.TABLE2_METHODS)
    return {
        "dataset": dataset, "budget": name, "layers": 2, "methods": methods,
        "paper": {m: numbers.table2(dataset, m) for m in methods},
        "ours": {m: cells.summary(found.get((m, 2))) for m in methods},
        "source": numbers.SOURCE,
    }


def _bars(ax, x, paper_values, ours, *, color, label):
    """Paper bars (hatched, light) and ours (solid, 95 % CI clipped at 100 %, labelled with the
    mean below the error bar and the number of seeds n) side by side at positions ``x``."""
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
            acc = summary["accuracy"]
            half = summary["ci95"] or 0.0  # an unknown interval (None) gets no error bar
            # accuracy cannot pass 100 %: the bar's interval is clipped there
            ax.bar(xi + width / 2, acc, width, color=color, capsize=2, ecolor="0.2",
                   yerr=[[min(half, acc)], [min(half, 100.0 - acc)]])
            # the value sits inside the bar below the error bar, so they never cross; a bar
            # too short for that gets it above its error bar instead
            low = acc - half - 1.5
            if low > 22:
                ax.text(xi + width / 2, low, f"{acc:.1f}", ha="center", va="top", fontsize=6,
                        color="white", rotation=90)
            else:
                ax.text(xi + width / 2, min(acc + half, 100.0) + 1, f"{acc:.1f}",
                        ha="center", va="bottom", fontsize=6, rotation=90)
            ax.text(xi + width / 2, 1.5, f"n={summary['seeds']}", ha="center", va="bottom",
                    fontsize=5, color="white", rotation=90)
    handles = [Patch(facecolor=color, alpha=0.35, hatch="//", edgecolor=color,
                     label=f"{label} (paper)"),
               Patch(facecolor=color, label=f"{label} (ours)")]
    return missing, handles


def _budget(name, summaries):
    """" (ours: budget B, I meta-iterations)" (early-stopped cells: "early stopping, cap I")
    from our cells of budget ``name``, or "" when none ran."""
    ran = [s for s in summaries if s]
    if not ran:
        return ""
    its = "/".join(map(str, sorted({i for s in ran for i in s["iterations"]})))
    length = f"early stopping, cap {its}" if any("stopped" in s for s in ran) \
        else f"{its} meta-iterations"
    return f" (ours: budget {name}, {length})"


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
    colors = {"maml": style.ROLE["shallow"], "linnet": style.ROLE["deep"]}
    missing, handles = 0, []
    for offset, method in zip((-0.45, 0.45), res["methods"], strict=True):
        miss, hand = _bars(ax, 2.5 * x + offset, res["paper"][method], res["ours"][method],
                           color=colors[method], label=vocabulary.LABEL[method])
        missing, handles = missing + miss, handles + hand
    ax.set_xticks(2.5 * x, [f"{n} layers" for n in layers])
    ax.set_xlabel("CNN depth (conv layers)")
    label = vocabulary.DATASET_LABEL.get(res["dataset"], res["dataset"])
    ours = [c for m in res["methods"] for c in res["ours"][m]]
    return _finish(fig, ax, missing, 2 * len(layers),
                   f"{label} 5-way 5-shot: LinNet vs depth{_budget(res['budget'], ours)}",
                   handles)


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
    ax.set_xticks(x, [vocabulary.LABEL[m] for m in methods])
    ax.set_xlabel("meta-optimizer (2-layer CNN)")
    label = vocabulary.DATASET_LABEL.get(res["dataset"], res["dataset"])
    return _finish(fig, ax, missing, len(methods), f"{label} 5-way 5-shot: meta-optimizers"
                   f"{_budget(res['budget'], res['ours'].values())}", handles)
