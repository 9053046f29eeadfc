"""Figure 4, collapse: a meta-trained deep linear model replaced by its product adapts like a
shallow one again.

``theory.symbolic`` R3: collapsing ``w1 ... wL`` into ``W`` keeps the function ``f(x) = W x``
but restores the plain inner step, so after adaptation with the same ``alpha`` the loss is the
R1 value at ``W``, ``sigma2/2 (1 - alpha sigma2)^(2K) ((W - E a)^2 + Var a)``, at least the
shallow floor. MAML drives deep models to ``W = 0`` (R2: ``w1 w2 = 0``), so the collapsed model
is even worse than a MAML-trained shallow one. Data: :func:`theory.landscape.analyses.collapse`
(exact expected population losses; slopes ``a ~ N(1, 0.5^2)``, ``sigma2 = 1``) and, for
classification, :func:`theory.landscape.curves.logistic_collapse` (LogR+LinNet collapsed to
LogR, same meta-test tasks).
"""

import numpy as np

from theory.figures import style
from theory.landscape import analyses, curves

ALPHA = 0.25
DEPTHS = (2, 3)
LOGISTIC_STEPS = 3  # inner steps of the LogR+LinNet collapse (as in the failure-mode figure)
LOSS_FLOOR = 1e-8


def compute_collapse(rng, quick=False):
    """:func:`theory.landscape.analyses.collapse` for depths 2 and 3 at ``ALPHA``.

    Returns ``{"alpha", "by_depth": {L: analysis}, "summary"}`` (per restart: ``deep``,
    ``collapsed``, ``collapsed_predicted``, ``W``).
    """
    budget = dict(restarts=2, iterations=150) if quick else dict(restarts=6, iterations=1500)
    by_depth = {str(d): analyses.collapse(rng, alpha=ALPHA, depth=d, lr=0.05, **budget)
                for d in DEPTHS}
    deep = np.concatenate([r["deep"] for r in by_depth.values()])
    collapsed = np.concatenate([r["collapsed"] for r in by_depth.values()])
    predicted = np.concatenate([r["collapsed_predicted"] for r in by_depth.values()])
    first = by_depth[str(DEPTHS[0])]
    logistic = curves.logistic_collapse(rng, alpha=ALPHA, steps=LOGISTIC_STEPS, depth=2,
                                        restarts=2 if quick else 6,
                                        iterations=40 if quick else 400,
                                        n_tasks=100 if quick else 500)
    return {"alpha": ALPHA, "depths": list(DEPTHS), "by_depth": by_depth, "logistic": logistic,
            "summary": {"deep_median_loss": float(np.median(deep)),
                        "collapsed_median_loss": float(np.median(collapsed)),
                        "collapsed_max_abs_gap_to_r1": float(np.max(np.abs(collapsed - predicted))),
                        "shallow_floor": first["shallow_floor"],
                        "median_abs_W": float(np.median(np.abs(
                            np.concatenate([r["W"] for r in by_depth.values()])))),
                        "linnet_accuracy": float(np.mean(
                            np.array(logistic["linnet_accuracy"])[:, -1])),
                        "collapsed_logr_accuracy": float(np.mean(
                            np.array(logistic["collapsed_accuracy"])[:, -1]))}}


@style.styled
def fig_collapse(res):
    """Figure 4: (a) post-adaptation loss per restart, deep vs collapsed, by depth;
    (b) the collapsed losses on the R1 parabola in ``W``; (c) LogR+LinNet vs its collapse to
    LogR, query accuracy vs inner steps."""
    fig, axes = style.figure(1, 3, width=3.5, height=3.0)
    ax, ax2, ax3 = axes[0]
    first = res["by_depth"][str(res["depths"][0])]
    cfg = first["config"]
    floor = first["shallow_floor"]
    for i, depth in enumerate(res["depths"]):
        r = res["by_depth"][str(depth)]
        x = np.full(len(r["deep"]), float(i))
        ax.plot(x - 0.15, np.maximum(r["deep"], LOSS_FLOOR), "s", color=style.ROLE["deep"],
                markerfacecolor="none", label="deep, trained" if i == 0 else None)
        ax.plot(x + 0.15, np.maximum(r["collapsed"], LOSS_FLOOR), "o",
                color=style.ROLE["collapsed"], label="collapsed to W" if i == 0 else None)
        ax.plot(x + 0.15, r["collapsed_predicted"], "x", color=style.ROLE["theory"],
                label="R1 prediction at W" if i == 0 else None)
    ax.axhline(floor, color=style.ROLE["shallow"], linestyle="--", label="shallow floor (R1)")
    ax.set_yscale("log")
    ax.set_ylim(LOSS_FLOOR / 3, 3)
    ax.set_xticks(range(len(res["depths"])), [f"L={d}" for d in res["depths"]])
    ax.set_xlim(-0.6, len(res["depths"]) - 0.4)
    ax.set_xlabel("depth of the meta-trained model")
    ax.set_ylabel(f"post-adaptation loss, K={cfg['steps']} (MSE/2)")
    ax.set_title(rf"Same $\alpha$={res['alpha']} before and after collapse"
                 f"\n(values < {LOSS_FLOOR:g} drawn at {LOSS_FLOOR:g})")
    ax.legend(loc="center left", fontsize=7)
    factor = (1 - res["alpha"] * cfg["sigma2"]) ** (2 * cfg["steps"])
    W = np.linspace(cfg["slope_mean"] - 2.5, cfg["slope_mean"] + 2.5, 200)
    ax2.plot(W, 0.5 * cfg["sigma2"] * factor * ((W - cfg["slope_mean"]) ** 2
                                                + cfg["slope_std"] ** 2),
             color=style.ROLE["theory"], label=r"R1: $\frac{\sigma^2}{2}(1-\alpha\sigma^2)^{2K}"
             r"((W-\mathrm{E}a)^2+\mathrm{Var}\,a)$")
    for depth, marker in zip(res["depths"], "os^", strict=False):
        r = res["by_depth"][str(depth)]
        ax2.plot(r["W"], r["collapsed"], marker, color=style.ROLE["collapsed"],
                 label=f"collapsed L={depth} models")
    ax2.axvline(cfg["slope_mean"], color=style.ROLE["shallow"], linestyle=":",
                label="shallow MAML optimum W = E[a]")
    ax2.set_xlabel("end-to-end slope W = w1...wL (output/input)")
    ax2.set_ylabel("post-adaptation loss after collapse (MSE/2)")
    ax2.set_title("Collapsed models sit on the R1 parabola")
    ax2.legend(fontsize=7, loc="upper center")
    log = res["logistic"]
    k = np.arange(len(log["linnet_accuracy"][0]))
    style.band(ax3, k, 100 * np.array(log["linnet_accuracy"]), color=style.ROLE["deep"],
               label="LogR+LinNet (L=2), trained")
    style.band(ax3, k, 100 * np.array(log["collapsed_accuracy"]),
               color=style.ROLE["collapsed"], label="collapsed to LogR")
    ax3.set_xticks(k)
    ax3.set_xlabel("inner steps k at meta-test")
    ax3.set_ylabel("query accuracy (%)")
    ax3.set_title("Classification: same function at k=0,\nslower adaptation after collapse")
    ax3.legend(fontsize=7, loc="lower right")
    return fig
