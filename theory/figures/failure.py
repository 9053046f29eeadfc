"""Figure 1, the failure mode: shallow models meta-learn no fast adaptation, deeper ones do.

Data: :func:`theory.landscape.curves.adaptation_curves` (MAML with K inner steps of size
``alpha``, equal for every model).

Top row, linear regression ``y = a x`` (population loss, ``x ~ N(0, sigma2)``, slope
``a ~ N(1, 0.5^2)``): exact expected post-adaptation loss of shallow (L = 1) and deep (L = 2)
models vs meta-training iterations, then vs the number of inner steps k at meta-test. The
shallow model cannot beat the R1 floor ``sigma2/2 (1 - alpha sigma2)^(2k) Var(a)``
(``theory.symbolic`` R1); the deep one goes to ~0.

Bottom row, binary classification (:class:`theory.landscape.tasks.ClassificationTasks`: slopes
``a ~ N(1, 2^2)`` of mixed sign, labels ``~ Bernoulli(sigmoid(4 a x))``): post-adaptation query
accuracy of LogR vs LogR+LinNet (one extra linear factor). "Oracle" is the Bayes rule
``sign(a x)`` with the task's true slope.
"""

import numpy as np

from theory.figures import style
from theory.landscape import closed, curves
from theory.landscape.tasks import ClassificationTasks, LinearTasks

__all__ = ["ALPHA", "STEPS", "LOSS_FLOOR", "oracle_accuracy", "compute_failure_mode",
           "fig_failure_mode"]

ALPHA = 0.25       # inner step, the same for every model (the paper's comparison at fixed alpha)
STEPS = 3          # inner steps K, in meta-training and at meta-test
LOSS_FLOOR = 1e-7  # lower end of the log axes: the deep model's loss reaches exact zeros


def oracle_accuracy(rng, tasks, n_tasks=2000, points=200):
    """Accuracy of the Bayes rule ``sign(a x)`` (true slope) on sampled tasks of ``tasks``."""
    a, _, (xq, yq) = tasks.sample(rng, (1, n_tasks), 1, points)
    return float(np.mean((a[..., None] * xq > 0) == (yq > 0.5)))


def compute_failure_mode(rng, quick=False):
    """Meta-train shallow/deep linear and LogR/LogR+LinNet models; adaptation curves.

    Returns the :func:`~theory.landscape.curves.adaptation_curves` result under ``"curves"``,
    the R1 floor per k (``"floor"``), the oracle accuracy and a ``"summary"`` of the numbers
    quoted in ``paper_repro.md`` (medians/means over restarts after K steps).
    """
    res = curves.adaptation_curves(
        rng, alpha=ALPHA, steps=STEPS, depth=2, restarts=2 if quick else 6,
        iterations=100 if quick else 1500, lr=0.05, logistic_iterations=40 if quick else 400,
        n_tasks=100 if quick else 2000, records=5 if quick else 30)
    floor = [closed.shallow_floor(ALPHA, LinearTasks(), k) for k in res["k"]]
    oracle = oracle_accuracy(rng, ClassificationTasks())
    lin, log = res["linear"], res["logistic"]
    summary = {
        "shallow_post_loss": float(np.median(np.array(lin["shallow"])[:, -1])),
        "shallow_r1_floor": floor[-1],
        "deep_post_loss": float(np.median(np.array(lin["deep"])[:, -1])),
        "logr_accuracy": float(np.mean(np.array(log["logr"]["accuracy"])[:, -1])),
        "linnet_accuracy": float(np.mean(np.array(log["linnet"]["accuracy"])[:, -1])),
        "oracle_accuracy": oracle,
    }
    return {"alpha": ALPHA, "steps": STEPS, "curves": res, "floor": floor, "oracle": oracle,
            "summary": summary}


@style.styled
def fig_failure_mode(res):
    """Figure 1: 2 x 2 panels, regression loss (top) and classification accuracy (bottom),
    vs meta-training iterations (left) and vs inner steps at meta-test (right)."""
    fig, axes = style.figure(2, 2, width=3.6, height=2.8)
    lin, log = res["curves"]["linear"], res["curves"]["logistic"]
    alpha, K, k = res["alpha"], res["steps"], res["curves"]["k"]
    colors = {"shallow": style.ROLE["shallow"], "deep": style.ROLE["deep"],
              "logr": style.ROLE["shallow"], "linnet": style.ROLE["deep"]}
    labels = {"shallow": "shallow (L=1)", "deep": "deep (L=2)", "logr": "LogR",
              "linnet": "LogR+LinNet (L=2)"}
    ax = axes[0, 0]
    for name in ("shallow", "deep"):
        runs = np.maximum(np.array(lin["meta_test"][name]).T, LOSS_FLOOR)
        style.band(ax, lin["meta_test"]["iterations"], runs, color=colors[name],
                   label=labels[name])
    ax.axhline(res["floor"][-1], color=style.ROLE["theory"], linestyle="--",
               label="R1 floor (shallow)")
    ax.set_yscale("log")
    ax.set_ylim(LOSS_FLOOR, 3)
    ax.set_xlabel("meta-training iteration")
    ax.set_ylabel(f"post-adaptation loss, K={K} (MSE/2)")
    ax.set_title(rf"Linear regression, $\alpha$={alpha}")
    ax.legend()
    ax = axes[0, 1]
    for name in ("shallow", "deep"):
        style.band(ax, k, np.maximum(np.array(lin[name]), LOSS_FLOOR), color=colors[name],
                   label=labels[name])
    ax.plot(k, res["floor"], "--", color=style.ROLE["theory"],
            label=r"$\frac{\sigma^2}{2}(1-\alpha\sigma^2)^{2k}\,\mathrm{Var}(a)$")
    ax.set_yscale("log")
    ax.set_ylim(LOSS_FLOOR, 3)
    ax.set_xticks(k)
    ax.set_xlabel("inner steps k at meta-test")
    ax.set_ylabel("post-adaptation loss (MSE/2)")
    ax.set_title("After meta-training")
    ax.legend()
    ax = axes[1, 0]
    for name in ("logr", "linnet"):
        style.band(ax, log[name]["meta_test"]["iterations"],
                   100 * np.array(log[name]["meta_test"]["accuracy"]).T, color=colors[name],
                   label=labels[name])
    ax.axhline(100 * res["oracle"], color=style.ROLE["theory"], linestyle=":",
               label="oracle (true slope)")
    ax.set_xlabel("meta-training iteration")
    ax.set_ylabel(f"query accuracy after K={K} (%)")
    ax.set_title(rf"Binary classification, $\alpha$={alpha}")
    ax.legend()
    ax = axes[1, 1]
    for name in ("logr", "linnet"):
        style.band(ax, k, 100 * np.array(log[name]["accuracy"]), color=colors[name],
                   label=labels[name])
    ax.axhline(100 * res["oracle"], color=style.ROLE["theory"], linestyle=":",
               label="oracle (true slope)")
    ax.set_xticks(k)
    ax.set_xlabel("inner steps k at meta-test")
    ax.set_ylabel("query accuracy (%)")
    ax.set_title("After meta-training")
    ax.legend()
    return fig
