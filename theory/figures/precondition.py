"""Figure preconditioner (R5, our extension): in d dimensions depth and KFO learn (alpha Sigma)^-1.

``theory.symbolic.matrix``: the shallow K = 1 post-adaptation loss has the floor
1/2 tr((I - alpha Sigma) Sigma (I - alpha Sigma) V) (R5a); Meta-SGD's diagonal step removes it
only when Sigma is diagonal, and keeps the closed-form floor of R5b for a rotated Sigma; KFO's
full R and a deep linear model of width h >= d reach zero with the learned preconditioner
(alpha Sigma)^-1 (R5c, R5d); narrower deep models keep a floor once Sigma's top eigenvalue is
simple (kappa > 1). The second row is the depth axis (R5e, R5f; d = 4, rotated Sigma, kappa = 4):
for every L >= 2 the one-step-exact set needs h >= d - m + 1 = d, so a deep model of width d
reaches zero loss and learns (alpha Sigma)^-1 at K = 1 and at K = 2, while width h < d keeps a
floor and the shallow model (L = 1) the R5a floor of its K. Data:
:func:`theory.landscape.precondition.experiment` (exact population objective, a ~ N(0, I), Adam
on every restart, the best restart shown; the deep K = 2 runs at L >= 3 average over 32
Monte-Carlo tasks per iteration and report a held-out estimate with its standard error).
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
# the depth axis: d, alpha, kappa, hidden widths (narrow, wide = d), depths, inner steps
DEPTH_SETTING = dict(dim=4, alpha=0.3, cond=4.0, rotate=True, lr=0.05, tasks=32)
DEPTH_WIDTHS, DEPTHS, DEPTH_STEPS = (2, 4), (1, 2, 3, 4), (1, 2)


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
    depth_axis = compute_depth(int(rng.integers(2 ** 32)), quick)
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
    summary.update(depth_axis.pop("summary"))
    return {"dim": DIM, "alpha": ALPHA, "widths": list(WIDTHS), "conds": list(conds),
            "budget": budget, "lr": LR, "runs": runs, "floor": floor,
            "floor_metasgd": floor_metasgd, "target": target, "depth": depth_axis,
            "summary": summary}


def compute_depth(seed, quick=False):
    """Deep linear MAML at every L of ``DEPTHS``, width of ``DEPTH_WIDTHS`` and K of
    ``DEPTH_STEPS`` on one Sigma (``DEPTH_SETTING``; L = 1 is the shallow model, width-free).

    Returns ``{"setting", "depths", "widths", "steps", "runs": {"L{L}_h{h}_K{K}": {"loss",
    "stderr", "train_loss" (on the fitted tasks; the loss itself unless Monte Carlo),
    "relative_error", "converged", "expectation"}}, "floor": {"K1": R5a floor, ..},
    "preconditioner": {"K1": P of L = 3, h = d, ..}, "target", "summary"}``; ``--quick`` stops at
    L = 3 with 2 restarts and 150 iterations.
    """
    depths = DEPTHS[:3] if quick else DEPTHS
    budget = dict(restarts=2, iterations=150) if quick else dict(restarts=3, iterations=3000)
    budget["tol"] = 0.0  # a fixed budget, as in the first row
    runs, floor, learned, summary = {}, {}, {}, {}
    for steps in DEPTH_STEPS:
        for depth in depths:
            for width in (DEPTH_WIDTHS[:1] if depth == 1 else DEPTH_WIDTHS):
                out = precondition.experiment(np.random.default_rng(seed), depth=depth,
                                              width=width, steps=steps, **DEPTH_SETTING,
                                              **budget)
                best = out["best_restart"]
                key = f"L{depth}_K{steps}" if depth == 1 else f"L{depth}_h{width}_K{steps}"
                runs[key] = {"loss": None if best is None else out["final_loss"][best],
                             "stderr": None if best is None else out["final_loss_stderr"][best],
                             "train_loss": None if best is None else out["train_loss"][best],
                             "relative_error": out["relative_error"],
                             "converged": sum(out["converged"]),
                             "expectation": out["expectation"]["kind"]}
                for name, value in runs[key].items():
                    if name not in ("expectation", "converged"):
                        summary[f"depth_{key}_{name}"] = value
                if depth == 3 and width == DEPTH_SETTING["dim"]:
                    learned[f"K{steps}"] = out["preconditioner"]
        floor[f"K{steps}"] = out["floor"]
        summary[f"depth_shallow_floor_K{steps}"] = out["floor"]
    return {"setting": {**DEPTH_SETTING, **budget}, "depths": list(depths),
            "widths": list(DEPTH_WIDTHS), "steps": list(DEPTH_STEPS), "runs": runs,
            "floor": floor, "preconditioner": learned, "target": out["target"],
            "exact_width": out["exact_width"], "summary": summary}


def _loss(values):
    return np.maximum(np.array([np.nan if v is None else v for v in values], dtype=float),
                      LOSS_FLOOR)


@style.styled
def fig_preconditioner(res):
    """(a) best post-adaptation loss vs kappa per method with the R5a/R5b floors; (b) learned
    preconditioner entries against (alpha Sigma)^-1 at the largest kappa; (c) the target and
    the preconditioners of deep h = d and KFO side by side; (d)-(f) the depth axis
    (:func:`_depth_row`)."""
    fig, axes = style.figure(2, 3, width=3.6, height=3.8)
    ax, ax2, ax3 = axes[0]
    _depth_row(axes[1], res["depth"])
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


def _depth_row(axes, res):
    """(d) best loss vs depth L per width and K with the R5a floors; (e) ||P - (alpha Sigma)^-1||
    / ||(alpha Sigma)^-1|| vs L; (f) the learned P of L = 3, h = d against the target."""
    ax, ax2, ax3 = axes
    depths, dim = res["depths"], res["setting"]["dim"]
    colours = {res["widths"][0]: style.OKABE_ITO["sky"], res["widths"][-1]: style.ROLE["deep"]}
    for steps, marker, line in zip(res["steps"], "os", ("-", "--"), strict=True):
        for width in res["widths"]:
            keys = [f"L1_K{steps}"] + [f"L{L}_h{width}_K{steps}" for L in depths[1:]]
            label = f"h={width}{' = d' if width == dim else ' < d'}, K={steps}"
            ax.plot(depths, _loss([res["runs"][k]["loss"] for k in keys]), marker + line,
                    color=colours[width], label=label, markersize=4, markerfacecolor="none")
            errors = [res["runs"][k]["relative_error"] for k in keys]
            ax2.plot(depths, [np.nan if e is None else e for e in errors], marker + line,
                     color=colours[width], label=label, markersize=4, markerfacecolor="none")
        ax.axhline(res["floor"][f"K{steps}"], color=style.ROLE["theory"], linestyle=line,
                   linewidth=1, label=f"R5a shallow floor, K={steps}")
    ax.set_yscale("log")
    ax.set_ylim(LOSS_FLOOR / 3, 5)
    for a in (ax, ax2):
        a.set_xticks(depths)
        a.set_xlabel("depth L (L = 1: shallow)")
    ax.set_ylabel("post-adaptation loss (best restart)")
    ax.set_title(f"d={dim}, rotated Sigma, kappa={res['setting']['cond']:g}: depth and width"
                 f"\n(values < {LOSS_FLOOR:g} drawn at {LOSS_FLOOR:g})")
    ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    ax2.set_yscale("log")
    ax2.set_ylabel(r"$\|P - (\alpha\Sigma)^{-1}\| / \|(\alpha\Sigma)^{-1}\|$")
    ax2.set_title(f"learned P vs target (exact set needs h >= {res['exact_width']})")
    target = np.array(res["target"])
    for (steps, learned), marker in zip(res["preconditioner"].items(), "os", strict=False):
        ax3.plot(target.ravel(), np.array(learned).ravel(), marker, color=style.ROLE["deep"],
                 markerfacecolor="none", markersize=5, label=f"L=3, h=d, {steps}")
    span = [target.min(), target.max()]
    ax3.plot(span, span, color=style.ROLE["theory"], linewidth=1, label="learned = target")
    ax3.set_xlabel(r"entry of the target $(\alpha\Sigma)^{-1}$")
    ax3.set_ylabel("entry of the learned P (R5e)")
    ax3.set_title("depth 3 learns the target at K = 1 and K = 2")
    ax3.legend(fontsize=6.5)
