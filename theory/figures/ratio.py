"""Figure 7: the shallow meta-gradient ratio (1 - alpha sigma2)^(2K), symbolic vs simulated.

Theory (``theory.symbolic`` R1): for the shallow linear model on the population loss the K-step
MAML meta-gradient is ``(1 - alpha sigma2)^(2K)`` times the multi-task gradient, whatever ``w``
and the task slope ``a``. The curve is evaluated through the symbolic derivation and its numeric
bridge (``derive('linear', 1, K)`` meta-gradient over multi-task gradient).

Simulation: an independent plain-numpy inner loop on sampled tasks ``y = a x``,
``x ~ N(0, sigma2)``, ``n`` support and ``n`` query points, differentiated with autograd; the
ratio is (mean MAML gradient over tasks) / (mean multi-task gradient on the query sets) at the
same ``w``. With finite ``n`` the support curvature is ``s = mean(x^2) ~ sigma2 chi2_n / n``,
and for K = 1 the expected ratio is ``E[(1 - alpha s)^2] = (1 - alpha sigma2)^2 +
2 alpha^2 sigma2^2 / n`` (the variance of ``s`` is ``2 sigma2^2 / n``), which tends to the
population value as ``n`` grows; the right panel checks that convergence.
"""

import autograd.numpy as anp
import numpy as np
from autograd import grad

from theory.figures import style
from theory.symbolic import derive
from theory.symbolic.bridge import numeric

__all__ = ["SIGMA2", "W_AT", "SLOPE_MEAN", "SLOPE_STD", "symbolic_ratio", "simulated_meta_loss",
           "simulated_grads", "compute_gradient_ratio", "fig_gradient_ratio"]

SIGMA2 = 1.0
W_AT = -1.0          # where the gradients are compared; far from E[a] so neither vanishes
SLOPE_MEAN, SLOPE_STD = 1.0, 0.5


def symbolic_ratio(alpha, steps, sigma2=SIGMA2, w=W_AT, a=SLOPE_MEAN):
    """Meta-gradient / multi-task gradient of the shallow population derivation (via sympy)."""
    twin = numeric(derive("linear", 1, steps, "population"))
    values = {"w1": w, "alpha": alpha, "sigma2": sigma2, "a": a}
    return twin.meta_grad(**values)[0] / twin.multitask_grad(**values)[0]


def simulated_meta_loss(w, alpha, x_s, y_s, x_q, y_q, steps):
    """Task-mean post-adaptation query loss of the shallow model ``f(x) = w x``, one per alpha.

    ``w`` shape (A,), ``alpha`` shape (A, 1), data shape (T, n): ``steps`` plain gradient steps
    on each task's support loss ``mean 1/2 (w x - y)^2`` (the inner gradient by autograd),
    then the mean query loss over tasks. ``steps = 0`` is the multi-task loss.
    """
    def support_loss(v):
        return anp.sum(anp.mean(0.5 * (v[..., None] * x_s - y_s) ** 2, axis=-1))

    v = w[..., None] * anp.ones(alpha.shape[:-1] + (x_s.shape[0],))
    for _ in range(steps):
        v = v - alpha * grad(support_loss)(v)
    return anp.mean(anp.mean(0.5 * (v[..., None] * x_q - y_q) ** 2, -1), -1)


def simulated_grads(w, alpha, x_s, y_s, x_q, y_q, steps):
    """MAML meta-gradient (per alpha, shape (A,)) and multi-task gradient of the task-mean
    losses of :func:`simulated_meta_loss` at the scalar ``w``, by autograd (second order)."""
    def total(w0, k):
        return anp.sum(simulated_meta_loss(w0, alpha, x_s, y_s, x_q, y_q, k))

    maml = grad(total)(w * np.ones(alpha.shape[:-1]), steps)
    multi = grad(total)(w * np.ones(alpha.shape[:-1]), 0)
    return maml, multi[0]


def _sample(rng, tasks, shots):
    a = SLOPE_MEAN + SLOPE_STD * rng.standard_normal((tasks, 1))
    x_s, x_q = (np.sqrt(SIGMA2) * rng.standard_normal((tasks, shots)) for _ in range(2))
    return x_s, a * x_s, x_q, a * x_q


def compute_gradient_ratio(rng, quick=False):
    """Ratio MAML / multi-task gradient vs alpha sigma2 for K = 1, 2, 3, symbolic and simulated.

    Returns ``{"alpha", "steps", "symbolic": {K: [...]}, "simulated": {K: [...]},
    "shots", "tasks", "convergence": {...}, "summary": {...}}`` (lists, JSON-ready).
    """
    tasks, shots = (300, 50) if quick else (1000, 200)
    # alpha sigma2 <= 1.5: beyond it (1 - alpha s)^(2K) is so sensitive to the sampled curvature
    # s that the finite-data gap (right panel) swamps the comparison
    alpha = np.linspace(0.05, 1.5, 8 if quick else 15) / SIGMA2
    steps = (1, 2, 3)
    data = _sample(rng, tasks, shots)
    simulated, symbolic = {}, {}
    for k in steps:
        maml, multi = simulated_grads(W_AT, alpha[:, None], *data, k)
        simulated[k] = (maml / multi).tolist()
        symbolic[k] = symbolic_ratio(alpha, k).tolist()
    fine = np.linspace(0.0, 1.6, 161) / SIGMA2
    curves = {k: symbolic_ratio(fine, k).tolist() for k in steps}
    closed_gap = max(float(np.max(np.abs(np.array(curves[k]) - (1 - fine * SIGMA2) ** (2 * k))))
                     for k in steps)
    # convergence to the population ratio as the number of shots grows (K = 1)
    a_conv = 0.5 / SIGMA2
    ns = [2, 5, 10, 20, 50] if quick else [2, 5, 10, 20, 50, 100, 200, 500]
    conv = []
    for n in ns:
        maml, multi = simulated_grads(W_AT, np.array([[a_conv]]),
                                       *_sample(rng, 4 * tasks, n), 1)
        conv.append(float(maml[0] / multi))
    sim_err = max(float(np.max(np.abs(np.array(simulated[k]) - np.array(symbolic[k]))))
                  for k in steps)
    return {
        "alpha": alpha.tolist(), "steps": list(steps), "sigma2": SIGMA2, "w": W_AT,
        "slope": {"mean": SLOPE_MEAN, "std": SLOPE_STD}, "tasks": tasks, "shots": shots,
        "simulated": {str(k): v for k, v in simulated.items()},
        "symbolic": {str(k): v for k, v in symbolic.items()},
        "fine": {"alpha": fine.tolist(), **{str(k): v for k, v in curves.items()}},
        "convergence": {"alpha": a_conv, "shots": ns, "simulated": conv,
                        "population": float((1 - a_conv * SIGMA2) ** 2),
                        "finite_n": [float((1 - a_conv * SIGMA2) ** 2
                                           + 2 * a_conv ** 2 * SIGMA2 ** 2 / n) for n in ns]},
        "summary": {"max_abs_symbolic_minus_closed_form": closed_gap,
                    "max_abs_simulated_minus_symbolic": sim_err},
    }


@style.styled
def fig_gradient_ratio(res):
    """Figure 7: left, ratio vs alpha sigma2 (lines: sympy, markers: simulation); right, the
    simulated ratio converging to the population value as the shots per task grow."""
    fig, axes = style.figure(1, 2, width=3.6, height=3.0)
    ax, ax2 = axes[0]
    s2 = res["sigma2"]
    colors = [style.ROLE["deep"], style.ROLE["shallow"], style.ROLE["deeper"]]
    for k, color in zip(res["steps"], colors, strict=True):
        ax.plot(np.array(res["fine"]["alpha"]) * s2, res["fine"][str(k)], color=color,
                label=rf"$(1-\alpha\sigma^2)^{{{2 * k}}}$ (sympy), K={k}")
        ax.plot(np.array(res["alpha"]) * s2, res["simulated"][str(k)], "o", color=color,
                markersize=4, markerfacecolor="none",
                label="simulated (markers)" if k == res["steps"][0] else None)
    ax.set_xlabel(r"inner step $\alpha\sigma^2$ (dimensionless)")
    ax.set_ylabel("MAML grad / multi-task grad")
    ax.set_title(f"Shallow linear model ({res['tasks']} tasks, {res['shots']} shots)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="upper center")
    conv = res["convergence"]
    ax2.semilogx(conv["shots"], conv["simulated"], "o", color=style.ROLE["deep"],
                 label="simulated (K=1)")
    ax2.semilogx(conv["shots"], conv["finite_n"], "--", color=style.ROLE["theory"],
                 label=r"$(1-\alpha\sigma^2)^2 + 2\alpha^2\sigma^4/n$")
    ax2.axhline(conv["population"], color=style.ROLE["shallow"], linestyle=":",
                label="population value (sympy R1)")
    ax2.set_xlabel("shots per task n (points)")
    ax2.set_ylabel("MAML grad / multi-task grad")
    ax2.set_title(rf"Finite data, $\alpha\sigma^2$ = {conv['alpha'] * s2:g}")
    ax2.legend()
    return fig
