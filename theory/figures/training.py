"""Validation accuracy during meta-training: did the CNN runs of the tables converge?

A run of an early-stopping budget (``authors``, ``converged``) validates every ``val_every``
meta-iterations and stops on a plateau (``patience`` rounds without a better one) or at its
cap; it is tested on its best round. This figure draws each such run's whole validation curve,
so a reader can tell a run that ended on a plateau from one cut off while still rising, a run
that collapsed and recovered from a steady one, and a failed claim from an unfinished run.
Nothing is trained here: the curves are the ``"validation"`` entries of the records under
``results/``, read by ``theory.paper.cells.validation_curves`` (the same reader as figure row
F10 of ``paper_repro.md``): the top row in budget ``authors`` (the authors' network and
protocol, a constant meta lr), the bottom row in the most thorough other budget whose runs
stop early (ours).

Left panels: every method at 2 layers (Table 2, and MAML w/ LinNet of Table 1); right panels:
MAML and MAML w/ LinNet at 3, 4 and 6 layers (Table 1), the depth told by the line style. Each
seed is one line; a dot marks its best round (the parameters it was tested on), a cross where
it stopped on a plateau; the dotted vertical line is the cap. The grey line on the right axis
is the meta lr as a fraction of its peak (``theory.engine.optim.schedule``): under a cosine
schedule it falls to 2.4 % of its peak 90 % of the way to an 800-iteration cap, so a flat
curve there is the schedule's doing, not necessarily convergence. ``summary`` gives the runs, how
many stopped on a plateau and at the cap, each run's ``late_gain`` (points gained over its
last two validation rounds: about 0 on a plateau, clearly positive when cut off while rising)
and each cell's ``largest_fall`` (``cells.largest_fall``: how far a seed's validation accuracy
fell below its best round so far, the largest over the seeds).
"""

import numpy as np

from theory import _paths
from theory.engine import optim
from theory.figures import style
from theory.figures.adaptation import AUTHORS, FILL, FILL_AUTHORS, name_of
from theory.paper import cells, vocabulary

# MAML, MAML w/ LinNet and KFO as in ``adaptation_cnn``; every method its own colour
COLOR = {"maml": style.ROLE["shallow"], "linnet": style.ROLE["deep"],
         "metasgd": style.OKABE_ITO["green"], "mc": style.OKABE_ITO["orange"],
         "tnet": style.OKABE_ITO["sky"], "kfo": style.ROLE["other"],
         "anil": style.OKABE_ITO["black"], "anil-kfo": "0.55"}
DASHES = {3: "-", 4: "--", 6: ":"}


def compute_training_curves(rng=None, quick=False, *, results_dir=_paths.RESULTS,
                            dataset="omniglot"):
    """The validation curves of ``cells.validation_curves`` under both protocols, in the JSON
    form of the figure.

    ``rng`` and ``quick`` are accepted for the registry's uniform signature; reading results
    uses neither. Returns ``{"dataset", "authors": protocol (budget ``authors``), "ours":
    protocol (the most thorough other early-stopping budget), "fill", "fill_authors"}``, each
    ``protocol`` ``{"budget" (None: no early-stopped run yet), "cells": [name], "labels":
    {name: text}, "layers": {name: n}, "runs": {name: {"runs", "cap", "val_every", "patience",
    "schedule"}}, "summary": cells.stopping with ``largest_fall`` by name, plus {"late_gain":
    {name: [points per run]}}}``; accuracies in %.
    """
    def protocol(name, found):
        names = [name_of(k) for k in found]
        s = cells.stopping(found)
        return {"budget": name, "cells": names,
                "labels": {name_of(k): vocabulary.LABEL.get(k[0], k[0]) for k in found},
                "layers": {name_of(k): k[1] for k in found},
                "runs": {name_of(k): c for k, c in found.items()},
                "summary": dict(s, largest_fall={name_of(k): f for k, f
                                                 in s["largest_fall"].items()},
                                late_gain={name_of(k): [cells.late_gain(r) for r in c["runs"]]
                                           for k, c in found.items()})}
    return {"dataset": dataset,
            "authors": protocol(*cells.validation_curves(results_dir, dataset, budget=AUTHORS)),
            "ours": protocol(*cells.validation_curves(results_dir, dataset, exclude=(AUTHORS,))),
            "fill": FILL, "fill_authors": FILL_AUTHORS}


def _draw(ax, res, names, *, by_depth):
    caps = set()
    for name in names:
        cell, method = res["runs"][name], name.rsplit("_L", 1)[0]
        color = COLOR.get(method, style.ROLE["theory"])
        style_ = DASHES.get(res["layers"][name], "-.") if by_depth else "-"
        label = res["labels"][name] + (f", {res['layers'][name]} layers" if by_depth else "")
        for i, run in enumerate(cell["runs"]):
            x, y = np.array(run["iterations"]), np.array(run["accuracy"])
            ax.plot(x, y, color=color, linestyle=style_, linewidth=1.0, alpha=0.85,
                    label=f"{label} (n={len(cell['runs'])})" if i == 0 else None)
            if run["best"] in run["iterations"]:
                j = run["iterations"].index(run["best"])
                ax.plot(x[j], y[j], "o", color=color, markersize=3.5)
            if run["reason"] == "plateau":
                ax.plot(x[-1], y[-1], "x", color=color, markersize=5)
        if cell["cap"]:
            caps.add(cell["cap"])
    for cap in caps:
        ax.axvline(cap, color="0.4", linestyle=":", linewidth=1.0)
    schedules = {(res["runs"][n].get("schedule", "constant"), res["runs"][n]["cap"])
                 for n in names if res["runs"][n]["cap"]}
    if schedules:
        twin = ax.twinx()
        for kind, cap in sorted(schedules):
            x = np.linspace(0, cap, 200)
            rate = optim.schedule(kind, 1.0, cap)
            twin.plot(x, [rate(i) for i in x], color="0.5", linewidth=3.0, alpha=0.3)
        twin.set_ylim(0, 1.05)
        twin.set_ylabel(f"meta lr / its peak ({', '.join(sorted({k for k, _ in schedules}))})",
                        color="0.45", fontsize="small")
        twin.tick_params(axis="y", colors="0.45", labelsize="small")
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel("validation accuracy (%)")
    if names:
        ax.plot([], [], "o", color="0.4", markersize=3.5, label="best round (tested)")
        ax.plot([], [], "x", color="0.4", markersize=5, label="stopped on a plateau")
        ax.plot([], [], ":", color="0.4", linewidth=1.0, label="cap")
        # below the axes: a constant meta lr's collapses fill the panel from top to bottom
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3 if by_depth else 4,
                  fontsize="x-small")


@style.styled
def fig_training_curves(res):
    """Validation accuracy vs meta-iteration of every early-stopped run: one row per protocol
    (the authors', ours), 2 layers on the left and deeper on the right."""
    fig, axes = style.figure(2, 2, width=5.0, height=4.0)
    label = vocabulary.DATASET_LABEL.get(res["dataset"], res["dataset"])
    for row, (side, who, fill) in enumerate((("authors", "the authors' protocol",
                                               res["fill_authors"]),
                                              ("ours", "our protocol", res["fill"]))):
        p, panels = res[side], axes[row]
        shallow = [n for n in p["cells"] if p["layers"][n] == 2]
        deep = [n for n in p["cells"] if p["layers"][n] != 2]
        s = p["summary"]
        runs = (f"budget {p['budget']}: {s['runs']} runs, {s['plateau']} stopped on a plateau, "
                f"{s['cap']} at the cap" if p["budget"] else "no run yet")
        for ax, names, title, by_depth in ((panels[0], shallow, "2 layers", False),
                                           (panels[1], deep, "3, 4 and 6 layers", True)):
            _draw(ax, p, names, by_depth=by_depth)
            ax.set_title(f"{who}, {title}\n({runs})", fontsize="medium")
            if not names:
                style.note(ax, "no early-stopped run yet:\n" + fill)
        drawn = [ax for ax in panels if ax.lines]
        if drawn:   # one scale of accuracy and of meta-iterations for a protocol's panels
            low = min(ax.get_ylim()[0] for ax in drawn)
            high = max(ax.get_ylim()[1] for ax in drawn)
            right = max(ax.get_xlim()[1] for ax in drawn)
            for ax in panels:
                ax.set_ylim(low, high)
                ax.set_xlim(0, right)
    fig.suptitle(f"Validation accuracy during meta-training, {label} 5-way 5-shot", fontsize=10)
    return fig
