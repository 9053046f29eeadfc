"""Figure 3: alpha sweep, shallow vs deep: post-adaptation loss and the learned effective step.

For each inner step ``alpha`` (one inner step, population loss, slopes ``a ~ N(1, 0.5^2)``),
linear models of depth 1, 2 and 3 are meta-trained with exact MAML on the exact expectation
over tasks (:func:`theory.landscape.analyses.alpha_sweep`, best of the restarts).

- Shallow: the best post-adaptation loss is the R1 floor ``sigma2/2 (1 - alpha sigma2)^2
  Var(a)``, small only near ``alpha = 1/sigma2``.
- Deep: the upper layers rescale the step. To first order the step on ``W`` is the effective
  step ``alpha sigma2 sum_l prod_{j != l} w_j^2`` (R2/R3), and a one-step exact solve needs it to
  be 1; deep models learn that value whatever ``alpha`` is, as shallow Meta-SGD learns its
  step ``beta`` (:func:`theory.landscape.analyses.effective_steps`): depth acts as a learned
  optimiser.
"""

import numpy as np

from theory.figures import style
from theory.landscape import analyses, closed

DEPTHS = (2, 3)
LOSS_FLOOR = 1e-8  # losses below are drawn on this line of the log axis
TRACK_ALPHA = 0.2  # alpha of the along-training panel


def compute_alpha_sweep(rng, quick=False):
    """:func:`theory.landscape.analyses.alpha_sweep` for depths 2 and 3 (shallow alongside),
    the learned effective step of each best restart, and
    :func:`theory.landscape.analyses.effective_steps` (deep MAML vs shallow Meta-SGD).

    Returns ``{"alphas", "sigma2", "steps", "shallow", "shallow_floor", "deep": {L: best loss
    per alpha}, "effective_step": {L: [...]}, "along": effective_steps result, "summary"}``.
    """
    alphas = [float(a) for a in np.geomspace(0.02, 3.0, 4 if quick else 12)]
    budget = dict(restarts=2, iterations=150) if quick else dict(restarts=6, iterations=1500)
    out = {"alphas": alphas, "deep": {}, "effective_step": {}, "config": {}}
    for depth in DEPTHS:
        res = analyses.alpha_sweep(rng, alphas=alphas, depth=depth, lr=0.05, **budget)
        sigma2, steps = res["config"]["sigma2"], res["config"]["steps"]
        out.update(sigma2=sigma2, steps=steps, shallow=res["shallow"],
                   shallow_floor=res["shallow_floor"])
        out["deep"][str(depth)] = res["deep"]
        out["effective_step"][str(depth)] = [
            float(closed.effective_step(tuple(p), a, sigma2))
            for p, a in zip(res["deep_params"], alphas, strict=True)]
        out["config"][str(depth)] = res["config"]
    out["along"] = analyses.effective_steps(rng, alpha=TRACK_ALPHA, depth=2, lr=0.05,
                                            record_every=10 if quick else 25, **budget)
    floor = np.asarray(out["shallow_floor"])
    shallow = np.asarray(out["shallow"])
    eff2 = np.asarray(out["effective_step"]["2"])
    out["summary"] = {
        "shallow_max_abs_gap_to_r1_floor": float(np.max(np.abs(shallow - floor))),
        "deep2_max_best_loss": float(np.max(out["deep"]["2"])),
        "deep3_max_best_loss": float(np.max(out["deep"]["3"])),
        "deep2_effective_step_range": [float(eff2.min()), float(eff2.max())],
        "alpha_range": [alphas[0], alphas[-1]],
        "metasgd_final_step": float(np.median(out["along"]["metasgd"][-1])),
        "deep_final_effective_step": float(np.median(out["along"]["deep"][-1])),
    }
    return out


@style.styled
def fig_alpha_sweep(res):
    """Figure 3: (a) best loss vs alpha sigma2, (b) learned effective step vs alpha sigma2,
    (c) effective step along meta-training: deep MAML vs shallow Meta-SGD."""
    fig, axes = style.figure(1, 3, width=3.2, height=3.0)
    x = np.array(res["alphas"]) * res["sigma2"]
    colors = {"2": style.ROLE["deep"], "3": style.ROLE["deeper"]}
    markers = {"2": "s", "3": "^"}
    ax = axes[0, 0]
    ax.plot(x, np.maximum(res["shallow_floor"], LOSS_FLOOR), "--", color=style.ROLE["theory"],
            label="R1 floor")
    ax.plot(x, np.maximum(res["shallow"], LOSS_FLOOR), "o", color=style.ROLE["shallow"],
            markerfacecolor="none", label="shallow (L=1)")
    for depth, loss in res["deep"].items():
        ax.plot(x, np.maximum(loss, LOSS_FLOOR), markers[depth], color=colors[depth],
                markerfacecolor="none", label=f"deep (L={depth})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(LOSS_FLOOR / 3, 3)
    ax.set_xlabel(r"inner step $\alpha\sigma^2$ (dimensionless)")
    ax.set_ylabel(f"post-adaptation loss, K={res['steps']} (MSE/2)")
    ax.set_title(f"Best restart after meta-training\n(values < {LOSS_FLOOR:g} drawn at "
                 f"{LOSS_FLOOR:g})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.27), ncols=2)
    ax = axes[0, 1]
    ax.plot(x, x, "--", color=style.ROLE["shallow"], label=r"shallow: $\alpha\sigma^2$")
    ax.axhline(1.0, color=style.ROLE["theory"], linestyle=":", label="exact one-step solve")
    for depth, eff in res["effective_step"].items():
        ax.plot(x, eff, markers[depth], color=colors[depth], markerfacecolor="none",
                label=f"deep (L={depth}), learned")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"inner step $\alpha\sigma^2$ (dimensionless)")
    ax.set_ylabel("effective step (dimensionless)")
    ax.set_title("Learned effective step\n"
                 r"$\alpha\sigma^2\sum_l\prod_{j\neq l}w_j^2$ after meta-training")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.27), ncols=2)
    ax = axes[0, 2]
    along = res["along"]
    style.band(ax, along["iterations"], np.array(along["deep"]).T, color=style.ROLE["deep"],
               label=r"deep MAML: $\alpha\sigma^2\sum_l\prod_{j\neq l}w_j^2$")
    style.band(ax, along["iterations"], np.array(along["metasgd"]).T,
               color=style.ROLE["other"], label=r"shallow Meta-SGD: $\beta\sigma^2$")
    ax.axhline(1.0, color=style.ROLE["theory"], linestyle=":")
    ax.set_yscale("log")
    ax.set_xscale("symlog", linthresh=10)  # the step is learned in the first ~100 iterations
    ax.set_xlim(0, along["iterations"][-1])  # iterations start at 0: no negative decades
    ax.set_xlabel("meta-training iteration")
    ax.set_ylabel("effective step (dimensionless)")
    ax.set_title(f"Depth as a learned optimiser\n"
                 rf"$\alpha\sigma^2$ = {along['config']['alpha'] * res['sigma2']:g}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.27), ncols=1)
    return fig
