"""R1-R4 hold symbolically (simplify(lhs - rhs) == 0) and numerically at random points."""

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from theory.symbolic import bridge, claims, dag, derive
from theory.symbolic.symbols import a, alpha, mu, sigma2, v

CLAIMS = {
    **{f"r1_shallow_linear({k})": lambda k=k: claims.r1_shallow_linear(k) for k in range(4)},
    **{f"r1_task_average({k})": lambda k=k: claims.r1_task_average(k) for k in range(4)},
    "r2_deep_linear_one_step()": claims.r2_deep_linear_one_step,
    "r2_minimisers()": claims.r2_minimisers,
    **{f"r2_effective_step({L})": lambda L=L: claims.r2_effective_step(L) for L in range(1, 5)},
    **{f"r3_bottom_layer_update({L})": lambda L=L: claims.r3_bottom_layer_update(L)
       for L in range(1, 5)},
    **{f"r3_meta_sgd({L})": lambda L=L: claims.r3_meta_sgd(L) for L in range(1, 5)},
    "r3_meta_sgd(2, 'empirical', 3)": lambda: claims.r3_meta_sgd(2, "empirical", 3),
    **{f"r3_collapse({k})": lambda k=k: claims.r3_collapse(k) for k in range(1, 3)},
    **{f"r4_logistic_shallow({n})": lambda n=n: claims.r4_logistic_shallow(n) for n in (1, 2)},
    **{f"r4_logistic_linnet({L})": lambda L=L: claims.r4_logistic_linnet(L) for L in (2, 3)},
    "r4_logistic_linnet(2, 2)": lambda: claims.r4_logistic_linnet(2, 2),
}
POSITIVE = {"alpha", "sigma2", "v"}


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_claims_hold_symbolically_and_numerically(name):
    stated = CLAIMS[name]()
    assert stated
    rng = np.random.default_rng(sorted(CLAIMS).index(name))
    for claim in stated:
        assert claims.holds(claim), claim.statement
        names = sorted(s.name for s in dag.free_symbols([claim.lhs, claim.rhs]))
        point = [rng.uniform(0.1, 1.2, 20) if n in POSITIVE else rng.uniform(-1.5, 1.5, 20)
                 for n in names]
        lhs, rhs = bridge.lambdify([claim.lhs, claim.rhs], names)(*point)
        np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-12, err_msg=claim.statement)


def test_holds_rejects_a_wrong_closed_form():
    right = claims.r1_shallow_linear(2)[1]
    wrong = claims.Claim("wrong power", right.lhs, right.rhs * (1 - alpha * sigma2))
    assert claims.holds(right) and not claims.holds(wrong)


def test_r2_minimisers_are_the_four_points_of_the_stated_set():
    w1, w2 = derive("linear", 2, 1).params
    r = 1 / sympy.sqrt(alpha * sigma2)
    found = {(p.get(w1, w1), p.get(w2, w2)) for p in claims.r2_minimiser_points()}
    assert found == {(0, r), (0, -r), (r, 0), (-r, 0)}


@given(st.integers(0, 3), st.floats(-2, 2), st.floats(-2, 2), st.floats(0.05, 0.95),
       st.floats(-2, 2), st.floats(0.05, 1.0), st.floats(0.5, 1.5))
def test_task_average_matches_a_two_point_task_distribution(steps, a1, a2, p, w, step, s2):
    """E over a in {a1, a2} with P(a1) = p equals the mu, v formula; the R1 bound holds."""
    d = derive("linear", 1, steps)
    loss = bridge.lambdify(d.meta_loss, ["w1", "alpha", "sigma2", "a"])
    direct = p * loss(w, step, s2, a1) + (1 - p) * loss(w, step, s2, a2)
    mean = p * a1 + (1 - p) * a2
    var = p * a1 ** 2 + (1 - p) * a2 ** 2 - mean ** 2
    formula = bridge.lambdify(claims.expect_over_tasks(d.meta_loss),
                              ["w1", "alpha", "sigma2", "mu", "v"])
    np.testing.assert_allclose(formula(w, step, s2, mean, var), direct, rtol=1e-9, atol=1e-12)
    bound = s2 / 2 * (1 - step * s2) ** (2 * steps) * var
    assert direct >= bound - 1e-12


def test_expectation_needs_only_two_moments():
    with pytest.raises(ValueError, match="degree 4 in a is not <= 2"):
        claims.expect_over_tasks(a ** 4)
    assert claims.expect_over_tasks(3 * a ** 2 - a + 1) == 3 * (mu ** 2 + v) - mu + 1
