"""R5 simulator: closed-form gradients, exact expectations, what each method learns, the CLI."""

import functools
import json

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import _cli
from theory.landscape import precondition as pc
from theory.landscape.cli import main
from theory.symbolic import matrix

CASES = [("maml", 1, 1), ("maml", 1, 3), ("metasgd", 1, 1), ("metasgd", 1, 2), ("kfo", 1, 1),
         ("kfo", 1, 3), ("maml", 2, 1)]


def problem(rng, d, steps, alpha=0.3):
    sigma = pc.covariance(rng, d, 5.0, rotate=True)
    b = rng.normal(size=(d, d))
    return pc.Problem(sigma, rng.normal(size=d), b @ b.T / d + 0.2 * np.eye(d), alpha, steps)


def params_of(rng, method, depth, d, h, restarts=3):
    return tuple(p + 0.3 * rng.normal(size=p.shape)
                 for p in pc.init(rng, method, depth, d, h, restarts))


@pytest.mark.parametrize("method, depth, steps", CASES)
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_gradients_match_central_differences(method, depth, steps, seed):
    """Directional derivatives of every restart's loss, float64, step 1e-6."""
    rng = np.random.default_rng(seed)
    prob = problem(rng, 3, steps)
    params = params_of(rng, method, depth, 3, 4)
    _, grads = pc.objective(method, depth, params, prob)
    directions = [rng.normal(size=p.shape) for p in params]
    eps = 1e-6
    plus = pc.objective(method, depth, [p + eps * v for p, v in zip(params, directions,
                                                                     strict=True)], prob)[0]
    minus = pc.objective(method, depth, [p - eps * v for p, v in zip(params, directions,
                                                                      strict=True)], prob)[0]
    analytic = sum(np.sum((g * v).reshape(len(g), -1), axis=1)
                   for g, v in zip(grads, directions, strict=True))
    np.testing.assert_allclose(analytic, (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("method, depth, steps", CASES)
def test_restarts_do_not_interact(method, depth, steps):
    rng = np.random.default_rng(1)
    prob = problem(rng, 3, steps)
    params = params_of(rng, method, depth, 3, 2)
    loss, grads = pc.objective(method, depth, params, prob)
    for r in range(len(loss)):
        one, one_grads = pc.objective(method, depth, [p[r:r + 1] for p in params], prob)
        np.testing.assert_allclose(one, loss[r:r + 1], rtol=1e-13)
        for g, g1 in zip(grads, one_grads, strict=True):
            np.testing.assert_allclose(g1[0], g[r], rtol=1e-12, atol=1e-14)


def expected_by_quadrature(post_error, prob, nodes=4):
    """E over e ~ N(w - mu, V) of 1/2 e'^T Sigma e', a tensor Gauss-Hermite rule (exact for
    polynomials of degree <= 2 nodes - 1 in each coordinate)."""
    x, wts = np.polynomial.hermite_e.hermegauss(nodes)
    wts = wts / wts.sum()
    chol = np.linalg.cholesky(prob.cov)
    grid = np.stack(np.meshgrid(*[x] * len(prob.mu), indexing="ij"), -1).reshape(-1, len(prob.mu))
    weight = np.prod(np.stack(np.meshgrid(*[wts] * len(prob.mu), indexing="ij"), -1)
                     .reshape(-1, len(prob.mu)), axis=1)
    total = 0.0
    for z, c in zip(grid, weight, strict=True):
        e_new = post_error(chol @ z)
        total += c * 0.5 * e_new @ prob.sigma @ e_new
    return total


def test_deep_loss_is_the_exact_task_average():
    rng = np.random.default_rng(2)
    prob = problem(rng, 2, 1, alpha=0.4)
    w1, u = params_of(rng, "maml", 2, 2, 3, restarts=1)
    w = w1[0].T @ u[0]
    p = u[0] @ u[0] * np.eye(2) + w1[0].T @ w1[0]

    def post_error(z):  # e = w - a with a = mu - z ~ N(mu, V)
        e = w - prob.mu + z
        s_e = prob.sigma @ e
        return e - prob.alpha * p @ s_e + prob.alpha ** 2 * (w @ s_e) * s_e

    loss, _ = pc.objective("maml", 2, (w1, u), prob)
    assert loss[0] == pytest.approx(expected_by_quadrature(post_error, prob), rel=1e-12)


def test_linear_loss_is_the_exact_task_average():
    rng = np.random.default_rng(3)
    prob = problem(rng, 2, 3)
    w, r = params_of(rng, "kfo", 1, 2, 2, restarts=1)
    n = np.eye(2) - prob.alpha * r[0].T @ prob.sigma
    loss, _ = pc.objective("kfo", 1, (w, r), prob)
    expected = expected_by_quadrature(
        lambda z: np.linalg.matrix_power(n, 3) @ (w[0] - prob.mu + z), prob)
    assert loss[0] == pytest.approx(expected, rel=1e-12)


def run(**kw):
    kw = {"dim": 3, "cond": 10.0, "restarts": 3, "iterations": 1500, "lr": 0.03, **kw}
    return pc.experiment(np.random.default_rng(0), **kw)


def test_shallow_maml_stops_at_the_r5a_floor():
    out = run(method="maml", rotate=True, steps=2)
    np.testing.assert_allclose(out["final_loss"], out["floor"], rtol=1e-6)
    assert out["floor"] > 0.1


def test_metasgd_is_exact_only_for_a_diagonal_sigma():
    aligned, rotated = run(method="metasgd"), run(method="metasgd", rotate=True)
    assert max(aligned["final_loss"]) < 1e-3 * aligned["floor"]
    assert aligned["relative_error"] < 0.05
    assert rotated["floor_metasgd"] > 0.01
    np.testing.assert_allclose(rotated["final_loss"], rotated["floor_metasgd"], rtol=1e-4)


def test_kfo_learns_the_target_for_a_rotated_sigma():
    out = run(method="kfo", rotate=True)
    assert max(out["final_loss"]) < 1e-3 * out["floor"]
    assert out["relative_error"] < 0.05


def test_deep_maml_learns_the_target_iff_the_width_reaches_d():
    wide, narrow = (run(method="maml", depth=2, width=h, rotate=True) for h in (3, 2))
    assert wide["exact_width"] == 3
    assert max(wide["final_loss"]) < 1e-8 and wide["relative_error"] < 1e-4
    assert min(narrow["final_loss"]) > 0.01


def test_a_double_top_eigenvalue_lowers_the_exact_width():
    """Sigma = I (kappa = 1): h = 1 < d suffices, P = ||u||^2 I (the corrected R5d condition)."""
    assert pc.exact_width(np.diag([1.0, 1.0, 0.5])) == 2
    out = run(method="maml", depth=2, width=1, cond=1.0)
    assert out["exact_width"] == 1 and min(out["final_loss"]) < 1e-8


def _cli_run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(_cli.run(main, argv))
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


ARGV = ["precondition", "--dim", "3", "--width", "3", "--cond", "10", "--rotate", "--method",
        "maml", "--depth", "2", "--alpha", "0.5", "--steps", "1", "--restarts", "2", "--seed",
        "5", "--iterations", "300", "--json"]


def test_cli_json_has_the_promised_fields_and_is_reproducible(capsys):
    code, out, _ = _cli_run(ARGV, capsys)
    assert code == 0
    doc = json.loads(out)
    assert len(doc["final_loss"]) == 2 and doc["diverged"] == []
    assert np.array(doc["preconditioner"]).shape == np.array(doc["target"]).shape == (3, 3)
    sigma = np.array(doc["sigma"])
    np.testing.assert_allclose(np.array(doc["target"]) @ (0.5 * sigma), np.eye(3), atol=1e-10)
    assert doc["floor"] == pytest.approx(pc.shallow_floor(sigma, np.eye(3), 0.5, 1))
    assert _cli_run(ARGV, capsys)[1] == out


def test_cli_reports_diverged_restarts_instead_of_failing(capsys):
    code, out, _ = _cli_run(["precondition", "--dim", "2", "--method", "kfo", "--alpha", "50",
                             "--steps", "200", "--restarts", "2", "--iterations", "3", "--json"],
                            capsys)
    doc = json.loads(out)
    assert code == 0 and doc["diverged"] == [0, 1] and doc["final_loss"] == [None, None]
    assert doc["preconditioner"] is None and doc["best_restart"] is None


@pytest.mark.parametrize("argv, message", [
    (["--dim", "0"], "'0' is not an integer >= 1"),
    (["--cond", "0.5"], "'0.5' is not a number >= 1"),
    (["--depth", "0"], "'0' is not an integer >= 1"),
    (["--method", "adam"], "invalid choice: 'adam'"),
    (["--method", "kfo", "--depth", "2"], "depth 2 is deep linear maml"),
    (["--method", "metasgd", "--depth", "3"], "depth 3 is deep linear maml"),
    (["--tasks", "0"], "'0' is not an integer >= 1"),
    (["--tol", "-1"], "'-1' is not a finite number > 0"),
    (["--dim", "1", "--cond", "3"], "cond=3.0"),
    (["--alpha", "0"], "'0' is not a finite number > 0"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    code, out, err = _cli_run(["precondition", *argv], capsys)
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and message in err


@functools.lru_cache(maxsize=None)
def _shallow_objective(steps):
    """R5a's derived objective (K steps by differentiation, then E over a), d = 2."""
    return matrix.r5a_shallow(2, steps)[1].lhs


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), alpha=st.floats(0.1, 1.5), steps=st.integers(1, 2))
def test_numeric_floors_are_the_symbolic_closed_forms(seed, alpha, steps):
    """R5a's derived objective at w = mu and R5b's best floor, evaluated at random SPD matrices."""
    rng = np.random.default_rng(seed)
    sigma = pc.covariance(rng, 2, 1 + 9 * rng.random(), rotate=True)
    b = rng.normal(size=(2, 2))
    cov = b @ b.T + 0.1 * np.eye(2)
    floor, best = matrix.meta_sgd_floor(sympy.Matrix(sigma), sympy.Matrix(cov))
    numeric, beta = pc.metasgd_floor(sigma, cov, alpha)
    assert numeric == pytest.approx(float(floor), rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(beta, np.array(best, dtype=float).ravel() / alpha, rtol=1e-8)
    objective = _shallow_objective(steps)
    s_sigma, s_cov, _, s_mu, s_w = matrix._setting(2)
    mu = rng.normal(size=2)
    at = {**dict(zip(list(s_sigma), sigma.ravel(), strict=True)),
          **dict(zip(list(s_cov), cov.ravel(), strict=True)),
          **dict(zip(list(s_mu), mu, strict=True)), **dict(zip(list(s_w), mu, strict=True)),
          matrix.alpha: alpha}
    assert pc.shallow_floor(sigma, cov, alpha, steps) == pytest.approx(
        float(objective.subs(at)), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("method", ["metasgd", "kfo"])
def test_one_step_shortcuts_are_the_general_recurrence(method):
    """K = 1 Meta-SGD (R5b's O(d^2) form) and KFO (the completed square) must equal the
    (R, d, d) recurrence of any K."""
    rng = np.random.default_rng(4)
    prob = problem(rng, 4, 1)
    w, q = params_of(rng, method, 1, 4, 4)
    loss, (grad_w, grad_q) = pc.objective(method, 1, (w, q), prob)
    p = q[:, :, None] * np.eye(4) if method == "metasgd" else np.swapaxes(q, 1, 2)
    loss2, grad_w2, g_n = pc._linear(w, p @ prob.sigma, prob)
    grad_p = -prob.alpha * g_n @ prob.sigma
    expected = (np.diagonal(grad_p, axis1=1, axis2=2) if method == "metasgd"
                else np.swapaxes(grad_p, 1, 2))
    np.testing.assert_allclose(loss, loss2, rtol=1e-10)
    np.testing.assert_allclose(grad_w, grad_w2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_q, expected, rtol=1e-10, atol=1e-12)


def test_cli_runs_any_depth_and_steps_and_says_which_restarts_converged(capsys):
    argv = ["precondition", "--dim", "2", "--width", "2", "--depth", "3", "--steps", "2",
            "--rotate", "--cond", "4", "--alpha", "0.3", "--restarts", "2", "--iterations", "40",
            "--lr", "0.05", "--json"]
    code, out, _ = _cli_run(argv, capsys)
    doc = json.loads(out)
    assert code == 0 and doc["depth"] == 3 and doc["steps"] == 2 and doc["exact_width"] == 2
    assert doc["expectation"] == {"kind": "exact", "nodes": 16 ** 2}
    assert len(doc["converged"]) == len(doc["grad_norm"]) == len(doc["final_loss"]) == 2
    assert all(isinstance(c, bool) for c in doc["converged"])
    assert np.array(doc["preconditioner"]).shape == (2, 2)
    text = _cli_run(argv[:-1], capsys)[1]
    assert "K = 2" in text and "restarts did not converge" in text


def test_the_closed_forms_draw_no_tasks():
    """L = 2, K = 1 stays R5d's closed form at any d (no Monte-Carlo rule, no re-estimate)."""
    out = run(method="maml", depth=2, width=3, dim=8, iterations=5)
    assert out["expectation"] == {"kind": "closed form", "nodes": None}
    assert out["final_loss_stderr"] == [0.0] * 3


def test_monte_carlo_reports_the_training_tasks_loss_beside_the_fresh_estimate():
    out = run(method="maml", depth=3, width=2, dim=4, steps=2, iterations=20, tasks=8)
    assert out["expectation"]["kind"] == "monte carlo"
    assert len(out["train_loss"]) == len(out["final_loss"]) == 3
    assert out["train_loss"] != out["final_loss"]
