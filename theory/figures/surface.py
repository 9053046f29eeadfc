"""Figure 2: the L = 2 MAML meta-loss surface, meta-training trajectories and the predicted
minimisers.

Model ``f(x) = w1 w2 x``, one inner step (K = 1) with step ``alpha`` on the population loss of
tasks ``y = a x``. ``theory.symbolic`` R2: one step maps the slope error ``e = w1 w2 - a`` to
``e (1 - alpha sigma2 (w1^2 + w2^2) + alpha^2 sigma2^2 e w1 w2)``, so the meta-loss is zero for
every task distribution exactly on ``{w1 w2 = 0, w1^2 + w2^2 = 1/(alpha sigma2)}``: the four
points ``(+-r, 0), (0, +-r)``, ``r = 1/sqrt(alpha sigma2)``, drawn as stars (with the circle and
the axes whose intersection they are).

Data: :func:`theory.landscape.analyses.surface`. Left: the exact expectation over ``a`` with
Adam meta-training trajectories (exact MAML on the population objective) from random starts.
Right: a Monte-Carlo estimate from finitely many sampled tasks with finite support/query sets,
on the same colour scale.
"""

import numpy as np
from matplotlib.lines import Line2D

from theory.figures import style
from theory.landscape import analyses

__all__ = ["ALPHA", "STEPS", "EXTENT", "EPS", "predicted_minimisers", "compute_surface",
           "fig_surface"]

ALPHA = 0.25
STEPS = 1
EXTENT = 3.0
EPS = 1e-3  # added before log10 so the exact zeros of the meta-loss stay finite on the plot


def predicted_minimisers(alpha, sigma2):
    """The four points of ``{w1 w2 = 0, w1^2 + w2^2 = 1/(alpha sigma2)}`` as ``(4, 2)``."""
    r = 1.0 / np.sqrt(alpha * sigma2)
    return np.array([[r, 0.0], [-r, 0.0], [0.0, r], [0.0, -r]])


def compute_surface(rng, quick=False):
    """:func:`theory.landscape.analyses.surface` for L = 2, K = 1, plus distances of the
    trajectories' end points to the predicted minimisers.

    Returns the analysis dict (``closed_form[i][j]`` at ``(w1[i], w2[j])``) with ``"alpha"``,
    ``"sigma2"``, ``"minimisers"`` (4 x 2) and ``"summary"`` added.
    """
    res = analyses.surface(rng, alpha=ALPHA, steps=STEPS, extent=EXTENT,
                           grid=41 if quick else 101, mc_tasks=100 if quick else 2000,
                           mc_shots=200, restarts=4 if quick else 12,
                           iterations=400 if quick else 4000, lr=0.05, optimizer="adam",
                           record_every=10, population=True)
    sigma2 = res["config"]["sigma2"]
    minimisers = predicted_minimisers(ALPHA, sigma2)
    ends = np.asarray(res["final"])
    dist = np.min(np.linalg.norm(ends[:, None, :] - minimisers[None], axis=-1), axis=1)
    final_loss = np.asarray(res["trajectory_loss"])[:, -1]
    res.update(alpha=ALPHA, steps=STEPS, sigma2=sigma2, minimisers=minimisers.tolist())
    res["summary"] = {"max_distance_to_minimiser": float(dist.max()),
                      "median_distance_to_minimiser": float(np.median(dist)),
                      "max_final_meta_loss": float(final_loss.max()),
                      "restarts": int(len(ends)), "iterations": res["config"]["iterations"],
                      "mc_relative_rms_error": res["mc_error"],
                      "mc_relative_rms_error_contracting": res["mc_error_stable"]}
    return res


def _panel(ax, grid, loss, levels, title):
    image = ax.contourf(grid, grid, np.log10(np.asarray(loss) + EPS), levels=levels,
                        cmap="viridis", extend="both")
    ax.set_aspect("equal")
    ax.grid(False)
    ax.set_xlabel(r"$w_1$ (lower layer)")
    ax.set_ylabel(r"$w_2$ (upper layer)")
    ax.set_title(title)
    return image


def _minimiser_set(ax, res):
    r = 1.0 / np.sqrt(res["alpha"] * res["sigma2"])
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(r * np.cos(t), r * np.sin(t), color="white", linewidth=0.8, linestyle="--",
            label=r"$w_1^2+w_2^2=1/(\alpha\sigma^2)$")
    ax.axhline(0, color="white", linewidth=0.6, linestyle=":")
    ax.axvline(0, color="white", linewidth=0.6, linestyle=":")
    m = np.array(res["minimisers"])
    ax.plot(m[:, 0], m[:, 1], "*", color=style.OKABE_ITO["yellow"], markersize=12,
            markeredgecolor="black", label="predicted minimisers (R2)")


@style.styled
def fig_surface(res):
    """Figure 2: exact surface + trajectories (left), Monte-Carlo surface (right)."""
    fig, axes = style.figure(1, 2, width=3.7, height=3.5)
    grid = np.array(res["w1"])
    exact = np.asarray(res["closed_form"]).T  # rows w2, columns w1 for contourf
    levels = np.arange(np.log10(EPS), np.ceil(np.log10(exact.max() + EPS)) + 1e-9, 0.25)
    image = _panel(axes[0, 0], grid, exact, levels,
                   rf"Exact meta-loss, K={res['steps']}, $\alpha$={res['alpha']}")
    _minimiser_set(axes[0, 0], res)
    for i, path in enumerate(res["trajectories"]):
        path = np.asarray(path)
        axes[0, 0].plot(path[:, 0], path[:, 1], color=style.OKABE_ITO["orange"], linewidth=1.0,
                        label="MAML trajectories" if i == 0 else None)
        axes[0, 0].plot(path[0, 0], path[0, 1], "o", color=style.OKABE_ITO["orange"],
                        markersize=3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    # the circle is white on the map; its legend entry needs a colour visible on white
    handles[0] = Line2D([], [], color="0.3", linestyle="--", linewidth=0.8)
    fig.legend(handles, labels, loc="outside lower center", ncols=3)
    cfg = res["config"]
    _panel(axes[0, 1], grid, np.asarray(res["monte_carlo"]).T, levels,
           f"Monte Carlo: {cfg['mc_tasks']} tasks, {cfg['mc_shots']} shots")
    _minimiser_set(axes[0, 1], res)
    bar = fig.colorbar(image, ax=axes[0, :], shrink=0.8, ticks=np.arange(-3, levels[-1] + 1))
    bar.set_label(r"$\log_{10}$(post-adaptation loss + $10^{-3}$)")
    return fig
