"""Symbolic meta-gradients against an independent numpy inner loop (finite differences, autograd).

The numpy code below is written from the definitions (K gradient steps with hand-written
gradients, then the query loss); it shares nothing with the sympy derivation.
"""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import sympy
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from theory.symbolic import bridge, derive, maml

# ---- independent numpy twin -------------------------------------------------------------


def _prod(factors):
    out = 1.0
    for f in factors:
        out = out * f
    return out


def _lever(ws, l):
    return _prod([w for j, w in enumerate(ws) if j != l])


def population(ws, task):
    a, sigma2 = task
    err = _prod(ws) - a
    return sigma2 / 2 * err ** 2, [sigma2 * err * _lever(ws, l) for l in range(len(ws))]


def squared(ws, data):
    x, y = data
    res = _prod(ws) * x - y
    return anp.mean(res ** 2) / 2, [anp.mean(res * x) * _lever(ws, l) for l in range(len(ws))]


def cross_entropy(theta, data):
    x, y = data
    ws, b = theta[:-1], theta[-1]
    z = _prod(ws) * x + b
    r = 1 / (1 + anp.exp(-z)) - y
    grads = [anp.mean(r * x) * _lever(ws, l) for l in range(len(ws))] + [anp.mean(r)]
    return anp.mean(anp.logaddexp(0.0, z) - y * z), grads


LOSS = {("linear", "population"): population, ("linear", "empirical"): squared,
        ("logistic", "empirical"): cross_entropy}


def inner_loop(theta, alpha, steps, loss, support):
    theta = [theta[i] for i in range(len(theta))]
    for _ in range(steps):
        _, grads = loss(theta, support)
        theta = [t - alpha * g for t, g in zip(theta, grads, strict=True)]
    return theta


def meta_loss(theta, alpha, steps, loss, support, query):
    return loss(inner_loop(theta, alpha, steps, loss, support), query)[0]


def central_differences(f, theta, h=1e-5):
    grad = np.zeros_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h
        grad[i] = (f(theta + step) - f(theta - step)) / (2 * h)
    return grad


def assert_close(actual, expected, rtol):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    scale = max(np.linalg.norm(expected), 1e-3)
    assert np.linalg.norm(actual - expected) <= rtol * scale, (actual, expected)


# ---- random problems ---------------------------------------------------------------------


@st.composite
def problems(draw, model, loss, max_depth, max_steps, max_shots=3, min_depth=1, min_steps=0):
    depth = draw(st.integers(min_depth, max_depth))
    steps = draw(st.integers(min_steps, max_steps))
    unit = st.floats(-1.2, 1.2)
    ws = [draw(unit) for _ in range(depth)]
    values = {f"w{l}": w for l, w in enumerate(ws, 1)}
    values["alpha"] = alpha = draw(st.floats(0.01, 0.25))
    theta = ws + ([draw(unit)] if model == "logistic" else [])
    if model == "logistic":
        values["b"] = theta[-1]
    if loss == "population":
        shots = None
        values["sigma2"], values["a"] = draw(st.floats(0.5, 1.5)), draw(st.floats(-1.5, 1.5))
        support = query = (values["a"], values["sigma2"])
    else:
        shots = draw(st.integers(1, max_shots))
        label = st.sampled_from([0.0, 1.0]) if model == "logistic" else st.floats(-1.5, 1.5)
        sets = []
        for x_name, y_name in (("x", "y"), ("xq", "yq")):
            xs = np.array([draw(st.floats(-1.5, 1.5)) for _ in range(shots)])
            ys = np.array([draw(label) for _ in range(shots)])
            values.update({f"{x_name}{i}": v for i, v in enumerate(xs, 1)})
            values.update({f"{y_name}{i}": v for i, v in enumerate(ys, 1)})
            sets.append((xs, ys))
        support, query = sets
    d = derive(model, depth, steps, loss, shots)
    return d, values, np.array(theta), alpha, steps, LOSS[model, loss], support, query


def check_meta_gradient(problem):
    d, values, theta, alpha, steps, loss, support, query = problem
    f = lambda t: meta_loss(t, alpha, steps, loss, support, query)  # noqa: E731
    value = f(theta)
    assume(np.isfinite(value) and abs(value) < 1e4)
    nd = bridge.numeric(d)
    np.testing.assert_allclose(nd.meta_loss(**values), value, rtol=1e-10, atol=1e-12)
    symbolic = np.array(nd.meta_grad(**values))
    assert_close(symbolic, central_differences(f, theta), rtol=1e-6)
    assert_close(symbolic, autograd.grad(f)(theta), rtol=1e-9)


EVERY = [(L, K) for L in range(1, 5) for K in range(4)]
SMALL = [(L, K) for L in range(1, 4) for K in range(3)]


@pytest.mark.parametrize("depth, steps", EVERY)
@settings(max_examples=6)
@given(data=st.data())
def test_population_meta_gradient_matches_numpy_inner_loop(depth, steps, data):
    check_meta_gradient(data.draw(problems("linear", "population", depth, steps, min_depth=depth,
                                           min_steps=steps)))


@pytest.mark.parametrize("depth, steps", SMALL)
@settings(max_examples=5)
@given(data=st.data())
def test_empirical_meta_gradient_matches_numpy_inner_loop(depth, steps, data):
    check_meta_gradient(data.draw(problems("linear", "empirical", depth, steps, min_depth=depth,
                                           min_steps=steps)))


@pytest.mark.parametrize("depth, steps", SMALL)
@settings(max_examples=4)
@given(data=st.data())
def test_logistic_meta_gradient_matches_numpy_inner_loop(depth, steps, data):
    check_meta_gradient(data.draw(problems("logistic", "empirical", depth, steps, max_shots=2,
                                           min_depth=depth, min_steps=steps)))


@pytest.mark.parametrize("model", ["linear", "logistic"])
@settings(max_examples=3)
@given(data=st.data())
def test_deepest_longest_empirical_case(model, data):
    problem = data.draw(problems(model, "empirical", max_depth=4, max_steps=3, max_shots=2,
                                 min_depth=4, min_steps=3))
    check_meta_gradient(problem)


@pytest.mark.parametrize("model, loss", sorted(LOSS))
@settings(max_examples=15)
@given(data=st.data())
def test_first_order_and_multitask_gradients(model, loss, data):
    d, values, theta, alpha, steps, fn, support, query = data.draw(
        problems(model, loss, max_depth=3, max_steps=2, max_shots=2))
    first = derive(d.model, d.depth, d.steps, d.loss, d.shots, first_order=True)
    adapted = inner_loop(theta, alpha, steps, fn, support)
    assume(all(np.isfinite(adapted)) and max(map(abs, adapted)) < 1e3)
    assert_close(bridge.numeric(first).meta_grad(**values), fn(adapted, query)[1], rtol=1e-9)
    assert_close(bridge.numeric(d).multitask_grad(**values), fn(list(theta), query)[1],
                 rtol=1e-9)


@pytest.mark.parametrize("loss", ["population", "empirical"])
@settings(max_examples=15)
@given(data=st.data())
def test_effective_step_is_first_order_contraction_of_the_slope(loss, data):
    """L_s''(W) d W_1 / d alpha at alpha = 0 equals -(effective_step / alpha) dL_s/dW."""
    d, values, theta, _, _, fn, support, _ = data.draw(
        problems("linear", loss, max_depth=4, max_steps=0))
    h = 1e-4
    slope = lambda alpha: _prod(inner_loop(theta, alpha, 1, fn, support))  # noqa: E731
    rate = (slope(h) - slope(-h)) / (2 * h)
    dl_dw = fn([_prod(theta)], support)[1][0]  # the depth-1 gradient is dL/dW
    step = bridge.numeric(d).effective_step(**{**values, "alpha": 1.0})
    np.testing.assert_allclose(rate * values_curvature(loss, support), -step * dl_dw,
                               rtol=1e-6, atol=1e-9)


def values_curvature(loss, support):
    """L_s''(W): sigma2 for the population loss, mean x^2 for the empirical one."""
    return support[1] if loss == "population" else np.mean(support[0] ** 2)


@pytest.mark.parametrize("model, loss, shots, depth, steps", [
    ("linear", "population", None, 2, 2), ("linear", "empirical", 1, 2, 1),
    ("logistic", "empirical", 1, 1, 1)])
def test_chain_rule_sweep_equals_differentiating_the_composed_loss(model, loss, shots, depth,
                                                                   steps):
    d = derive(model, depth, steps, loss, shots)
    direct = [sympy.diff(d.meta_loss, p) for p in d.params]
    rng = np.random.default_rng(0)
    point = {s.name: rng.uniform(0.1, 0.9, size=5) for s in d.symbols}
    names = [s.name for s in d.symbols]
    np.testing.assert_allclose(bridge.lambdify(direct, names)(*(point[n] for n in names)),
                               bridge.lambdify(d.meta_grad, names)(*(point[n] for n in names)),
                               rtol=1e-10)
    if model == "linear" and steps == 1:
        assert all(sympy.simplify(x - y) == 0 for x, y in zip(direct, d.meta_grad, strict=True))


def test_derive_is_cached_and_exposes_documented_symbols():
    d = derive("linear", 2, 1, "empirical", 2)
    assert derive(model="linear", depth=2, steps=1, loss="empirical", shots=2) is d
    assert [s.name for s in d.symbols] == ["w1", "w2", "alpha", "x1", "x2", "y1", "y2",
                                           "xq1", "xq2", "yq1", "yq2"]
    assert [s.name for s in derive("logistic", 1, 0, "empirical", 1).params] == ["w1", "b"]
    p = derive("linear", 3, 2)
    assert [s.name for s in p.symbols] == ["w1", "w2", "w3", "alpha", "sigma2", "a"]
    assert set(p.symbols) >= maml_free_symbols(p)
    assert p.effective_step.equals(p.symbols[3] * p.symbols[4] * (
        (p.params[1] * p.params[2]) ** 2 + (p.params[0] * p.params[2]) ** 2
        + (p.params[0] * p.params[1]) ** 2))
    assert derive("logistic", 2, 1, "empirical", 1).effective_step is None


def maml_free_symbols(d):
    from theory.symbolic import dag
    return dag.free_symbols([d.meta_loss, *d.meta_grad, *d.adapted])


@pytest.mark.parametrize("kwargs, match", [
    (dict(depth=0), "depth must be an integer >= 1, got 0"),
    (dict(depth="two"), "depth must be an integer >= 1, got 'two'"),
    (dict(depth=1.5), "depth must be an integer >= 1, got 1.5"),
    (dict(steps=-1), "steps must be an integer >= 0, got -1"),
    (dict(model="quadratic"), "model must be 'linear' or 'logistic', got 'quadratic'"),
    (dict(loss="hinge"), "loss must be 'population' or 'empirical', got 'hinge'"),
    (dict(loss="empirical", shots=0), "shots must be an integer >= 1, got 0"),
    (dict(loss="empirical"), r"shots must be an integer >= 1 \(.*\), got None"),
    (dict(shots=3), "population loss has no data points"),
    (dict(model="logistic"), "only the empirical loss"),
    (dict(first_order="yes"), "first_order must be True or False, got 'yes'"),
])
def test_bad_arguments_raise_value_error_naming_value_and_range(kwargs, match):
    with pytest.raises(ValueError, match=match):
        derive(**kwargs)
    with pytest.raises(ValueError, match=match):
        maml.validate(**{**dict(model="linear", depth=1, steps=1, loss="population",
                                shots=None, first_order=False), **kwargs})
