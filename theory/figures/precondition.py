"""Figure preconditioner (R5, our extension): in d dimensions depth and KFO learn (alpha Sigma)^-1.

``theory.symbolic.matrix``: the shallow K = 1 post-adaptation loss has the floor
1/2 tr((I - alpha Sigma) Sigma (I - alpha Sigma) V) (R5a); Meta-SGD's diagonal step removes it
only when Sigma is diagonal, and keeps the closed-form floor of R5b for a rotated Sigma; KFO's
full R and a deep linear model of width h >= d reach zero with the learned preconditioner
(alpha Sigma)^-1 (R5c, R5d); narrower deep models keep a floor once Sigma's top eigenvalue is
simple (kappa > 1). Data: :func:`theory.landscape.precondition.experiment` (exact population
objective, a ~ N(0, I), Adam on every restart, the best restart shown).
"""

import numpy as np

from theory.figures import style
from theory.landscape import precondition

DIM, ALPHA, WIDTHS = 8, 0.5, (4, 8)
CONDS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
LR = 0.1
LOSS_FLOOR = 1e-6
# (key, label, method, depth, width, rotate, colour)
RUNS = (("shallow", "shallow MAML", "maml", 1, None, True, style.ROLE["shallow"]),
        ("metasgd_aligned", "Meta-SGD, aligned Sigma", "metasgd", 1, None, False,
         style.ROLE["deeper"]),
        ("metasgd_rotated", "Meta-SGD, rotated Sigma", "metasgd", 1, None, True,
         style.ROLE["collapsed"]),
        ("kfo", "KFO (full R)", "kfo", 1, None, True, style.ROLE["other"]),
        ("deep_narrow", f"deep, h={WIDTHS[0]} < d", "maml", 2, WIDTHS[0], True,
         style.OKABE_ITO["sky"]),
        ("deep_wide", f"deep, h={WIDTHS[1]} = d", "maml", 2, WIDTHS[1], True, style.ROLE["deep"]))


def compute_preconditioner(rng, quick=False):
    """Every run of ``RUNS`` at every kappa of ``CONDS`` (d = 8, alpha = 0.5, K = 1).

    All runs at one kappa share Sigma (the same seed). Returns ``{"conds", "runs": {key:
    {"loss": best final loss per kappa, "preconditioner": its P}}, "floor", "floor_metasgd",
    "target", "summary"}`` (summary: each key's loss and relative Frobenius distance of its P
    to its own (alpha Sigma)^-1 at the largest kappa); ``--quick`` uses three kappas, 2 restarts
    and 200 iterations.
    """
    conds = CONDS[::2] if quick else CONDS
    # every restart runs all its iterations (tol 0: no early stop on the gradient norm)
    budget = dict(restarts=2, iterations=200) if quick else dict(restarts=4, iterations=3000)
    budget["tol"] = 0.0
    seeds = rng.integers(2 ** 32, size=len(conds))
    runs = {key: {"loss": [], "preconditioner": [], "relative_error": []} for key, *_ in RUNS}
    floor, floor_metasgd, target = [], [], []
    for cond, seed in zip(conds, seeds, strict=True):
        for key, _, method, depth, width, rotate, _ in RUNS:
            out = precondition.experiment(
                np.random.default_rng(seed), dim=DIM, width=width, cond=cond, rotate=rotate,
                method=method, depth=depth, alpha=ALPHA, lr=LR, **budget)
            best = out["best_restart"]
            runs[key]["loss"].append(None if best is None else out["final_loss"][best])
            runs[key]["preconditioner"].append(out["preconditioner"])
            runs[key]["relative_error"].append(out["relative_error"])  # to its own target
            if key == "deep_wide":  # a rotated run: the Sigma of every rotated method
                floor.append(out["floor"])
                floor_metasgd.append(out["floor_metasgd"])
                target.append(out["target"])
    summary = {"kappa": conds[-1], "shallow_floor": floor[-1], "metasgd_floor": floor_metasgd[-1]}
    for key, r in runs.items():  # at the largest kappa
        summary[f"{key}_loss"] = r["loss"][-1]
        summary[f"{key}_relative_error"] = r["relative_error"][-1]
    return {"dim": DIM, "alpha": ALPHA, "widths": list(WIDTHS), "conds": list(conds),
            "budget": budget, "lr": LR, "runs": runs, "floor": floor,
            "floor_metasgd": floor_metasgd, "target": target, "summary": summary}


def _loss(values):
    return np.maximum(np.array([np.nan if v is None else v for v in values], dtype=float),
                      LOSS_FLOOR)


@style.styled
def fig_preconditioner(res):
    """(a) best post-adaptation loss vs kappa per method with the R5a/R5b floors; (b) learned
    preconditioner entries against (alpha Sigma)^-1 at the largest kappa; (c) the target and
    the preconditioners of deep h = d and KFO side by side."""
    fig, axes = style.figure(1, 3, width=3.6, height=3.8)
    ax, ax2, ax3 = axes[0]
    conds = res["conds"]
    for key, label, *_, colour in RUNS:
        ax.plot(conds, _loss(res["runs"][key]["loss"]), "o-", color=colour, label=label,
                markersize=4)
    ax.plot(conds, res["floor"], "--", color=style.ROLE["theory"], label="R5a shallow floor")
    ax.plot(conds, _loss(res["floor_metasgd"]), ":", color=style.ROLE["theory"],
            label="R5b Meta-SGD floor (rotated)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_ylim(LOSS_FLOOR / 3, 5)
    ax.set_xlabel(r"condition number $\kappa$ of $\Sigma$")
    ax.set_ylabel("post-adaptation loss, K=1 (best restart)")
    ax.set_title(f"d={res['dim']}, alpha={res['alpha']}: who removes the floor"
                 f"\n(values < {LOSS_FLOOR:g} drawn at {LOSS_FLOOR:g})")
    ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    target = np.array(res["target"][-1])
    for key, label, *_, colour in RUNS[2:]:
        learned = res["runs"][key]["preconditioner"][-1]
        if learned is not None:
            ax2.plot(target.ravel(), np.array(learned).ravel(), "o", color=colour,
                     markerfacecolor="none", markersize=4, label=label)
    span = [target.min(), target.max()]
    ax2.plot(span, span, color=style.ROLE["theory"], linewidth=1, label="learned = target")
    ax2.set_xlabel(r"entry of the target $(\alpha\Sigma)^{-1}$")
    ax2.set_ylabel("learned entry (P; R for KFO; diag(beta))")
    ax2.set_title(rf"Learned preconditioners, rotated $\Sigma$, $\kappa$={conds[-1]:g}")
    ax2.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    panels = [("target", target), ("deep h=d", res["runs"]["deep_wide"]["preconditioner"][-1]),
              ("KFO R", res["runs"]["kfo"]["preconditioner"][-1])]
    gap = np.full((len(target), 1), np.nan)
    image = np.hstack([x for _, p in panels for x in (np.array(p, dtype=float), gap)][:-1])
    shown = ax3.imshow(image, cmap="RdBu_r", vmin=-np.abs(target).max(),
                       vmax=np.abs(target).max())
    ax3.set_xticks([(len(target) + 1) * i + (len(target) - 1) / 2 for i in range(len(panels))],
                   [name for name, _ in panels])
    ax3.set_yticks([])
    ax3.set_xlabel(f"{len(target)} x {len(target)} matrix (column j)")
    ax3.set_ylabel("row i")
    ax3.grid(False)
    ax3.set_title(r"$(\alpha\Sigma)^{-1}$ and what depth and KFO learn")
    fig.colorbar(shown, ax=ax3, shrink=0.6, label="entry")
    return fig
