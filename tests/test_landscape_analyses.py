"""Analyses: Monte-Carlo vs closed form, the failure mode in numbers, collapse, alpha sweep."""

import json

import numpy as np
import pytest

from theory.landscape import analyses, closed, curves, tasks


def test_monte_carlo_surface_converges_to_the_closed_form():
    dist = tasks.LinearTasks(1.0, tasks.SlopeDistribution(1.0, 0.5), noise=0.3)
    # |w| <= 1: the inner loop contracts there (alpha sigma2 |w|^2 < 2); where it expands the
    # loss is explosive in the sampled E[x^2] and the finite-shot estimate is heavy-tailed
    axis = np.linspace(-1.0, 1.0, 9)
    w = np.meshgrid(axis, axis, indexing="ij")
    exact = closed.expected_meta_loss(w, dist, 0.5, 2)
    sizes = [16, 64, 256, 1024]
    errors = []
    for n in sizes:
        # average the squared error over independent estimates to see the rate, not one draw
        sq = [np.mean((analyses.monte_carlo_meta_loss(np.random.default_rng(seed), w, dist, 0.5,
                                                      2, n_tasks=n, shots=n) - exact) ** 2)
              for seed in range(4)]
        errors.append(np.sqrt(np.mean(sq) / np.mean(exact ** 2)))
    slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert all(b < a for a, b in zip(errors, errors[1:]))
    assert -0.75 < slope < -0.35  # ~ 1/sqrt(n)
    assert errors[-1] < 0.05


@pytest.fixture(scope="module")
def failure_mode():
    return curves.adaptation_curves(np.random.default_rng(0), alpha=0.5, steps=1, restarts=2,
                                    iterations=1500, logistic_iterations=300, n_tasks=400,
                                    records=3)


def test_failure_mode_linear_shallow_stays_at_R1_deep_goes_to_zero(failure_mode):
    lin = failure_mode["linear"]
    floor = closed.shallow_floor(0.5, tasks.LinearTasks(), 1)
    np.testing.assert_allclose(np.array(lin["shallow"])[:, -1], floor, rtol=1e-6)
    assert np.max(np.array(lin["deep"])[:, -1]) < 0.01 * floor
    # adaptation helps both, but only the deep model is solved by it
    assert np.all(np.diff(np.array(lin["shallow"]), axis=1) < 0)
    json.dumps(failure_mode)


def test_failure_mode_logr_vs_linnet_at_equal_alpha(failure_mode):
    log = failure_mode["logistic"]
    acc_logr = np.mean(np.array(log["logr"]["accuracy"])[:, -1])
    acc_linnet = np.mean(np.array(log["linnet"]["accuracy"])[:, -1])
    loss_logr = np.mean(np.array(log["logr"]["loss"])[:, -1])
    loss_linnet = np.mean(np.array(log["linnet"]["loss"])[:, -1])
    assert acc_linnet > acc_logr + 0.1
    assert loss_linnet < loss_logr - 0.1
    # LogR after adaptation is about the share of majority-sign tasks (P(a > 0) ~ 0.69)
    assert 0.6 < acc_logr < 0.78


def test_collapse_restores_the_shallow_value():
    out = analyses.collapse(np.random.default_rng(0), alpha=0.5, restarts=4, iterations=1500)
    deep, collapsed = np.array(out["deep"]), np.array(out["collapsed"])
    np.testing.assert_allclose(collapsed, out["collapsed_predicted"], rtol=1e-10)
    assert np.all(collapsed >= out["shallow_floor"] - 1e-12)
    assert np.max(deep) < 0.01 * out["shallow_floor"]
    json.dumps(out)


def test_alpha_sweep_shallow_good_only_near_one_over_sigma2():
    alphas = [0.1, 0.5, 1.0, 1.5, 1.9]
    out = analyses.alpha_sweep(np.random.default_rng(0), alphas=alphas, restarts=3,
                               iterations=1500)
    shallow, floor, deep = (np.array(out[k]) for k in ("shallow", "shallow_floor", "deep"))
    np.testing.assert_allclose(shallow, floor, rtol=1e-6, atol=1e-12)
    assert shallow[alphas.index(1.0)] < 1e-10
    assert np.all(np.delete(shallow, alphas.index(1.0)) > 0.03)
    others = np.arange(len(alphas)) != alphas.index(1.0)
    assert np.all(deep[others] < 0.01 * shallow[others])  # deep is good over the whole range
    assert deep[alphas.index(1.0)] < 1e-6
    json.dumps(out)


def test_depth_learns_the_step_that_meta_sgd_learns():
    out = analyses.effective_steps(np.random.default_rng(0), alpha=0.2, restarts=3,
                                   iterations=2000, record_every=500)
    np.testing.assert_allclose(out["metasgd"][-1], 1.0, atol=1e-3)
    np.testing.assert_allclose(out["deep"][-1], 1.0, atol=0.05)
    assert np.all(np.abs(np.array(out["deep"][0]) - 1.0) > 0.05)  # it was learned, not given


def test_surface_result_shapes_and_trajectories():
    out = analyses.surface(np.random.default_rng(0), grid=11, mc_tasks=200, mc_shots=20,
                           restarts=3, iterations=60, record_every=20)
    assert np.array(out["closed_form"]).shape == (11, 11)
    assert np.array(out["monte_carlo"]).shape == (11, 11)
    assert np.array(out["trajectories"]).shape == (3, 4, 2)
    assert np.all(np.diff(np.array(out["trajectory_loss"]), axis=1) <= 1e-12)
    assert out["minimiser_radius"] == pytest.approx(np.sqrt(2.0))
    json.dumps(out)


@pytest.mark.parametrize("call, match", [
    (lambda rng: analyses.surface(rng, grid=1), "grid must be an integer >= 2"),
    (lambda rng: analyses.surface(rng, grid=0), "grid must be an integer >= 2"),
    (lambda rng: analyses.surface(rng, extent=0.0), "extent must be a finite number > 0"),
    (lambda rng: analyses.surface(rng, sigma2=0.0), "sigma2 must be a finite number > 0"),
    (lambda rng: analyses.surface(rng, alpha=-0.1), "alpha must be a finite number > 0"),
    (lambda rng: analyses.surface(rng, mc_shots=0), "shots must be an integer >= 1"),
    (lambda rng: analyses.alpha_sweep(rng, alphas=[]), "alphas must hold at least one"),
    (lambda rng: analyses.collapse(rng, depth=0), "depth must be an integer >= 1"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.random.default_rng(0))


def test_collapsing_linnet_restores_the_logr_failure():
    out = curves.logistic_collapse(np.random.default_rng(1), restarts=2, iterations=300,
                                   n_tasks=400)
    linnet, collapsed = np.array(out["linnet_accuracy"]), np.array(out["collapsed_accuracy"])
    np.testing.assert_allclose(linnet[:, 0], collapsed[:, 0])  # same function before adapting
    np.testing.assert_allclose(out["linnet_loss"][0][0], out["collapsed_loss"][0][0], rtol=1e-12)
    assert np.mean(linnet[:, -1]) > np.mean(collapsed[:, -1]) + 0.1
    json.dumps(out)


def test_sampled_adaptation_curve_approaches_the_exact_one():
    from theory.landscape import evaluate
    params = np.array([[0.3, 1.1], [-0.8, 0.4]])
    dist = tasks.LinearTasks(1.0, tasks.SlopeDistribution(1.0, 0.5))
    exact = evaluate.linear_curve(None, params, dist, depth=2, alpha=0.4, steps=3)
    sampled = evaluate.linear_curve(np.random.default_rng(0), params, dist, depth=2, alpha=0.4,
                                    steps=3, population=False, shots=400, n_tasks=4000)
    assert exact.shape == sampled.shape == (2, 4)
    np.testing.assert_allclose(sampled, exact, rtol=0.05, atol=0.01 * exact.max())


@pytest.mark.parametrize("kwargs, match", [
    (dict(alpha=0.0), "alpha must be a finite number > 0"),
    (dict(steps=-1), "steps must be an integer >= 0"),
    (dict(depth=0), "depth must be an integer >= 1"),
    (dict(depth=3), r"params must have shape \(restarts, 3\)"),
])
def test_evaluation_rejects_bad_input(kwargs, match):
    from theory.landscape import evaluate
    args = dict(depth=2, alpha=0.5, steps=1) | kwargs
    with pytest.raises(ValueError, match=match):
        evaluate.linear_curve(None, np.ones((2, 2)), tasks.LinearTasks(), **args)
