"""R5e/R5f agree with the numeric depth-L model at random points (that they hold:
test_symbolic_matrix)."""

import numpy as np
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.landscape import deep
from theory.symbolic import claims, matrix_deep
from theory.symbolic.matrix import _setting
from theory.symbolic.symbols import alpha


def test_a_wrong_alpha_l_term_fails():
    right = matrix_deep.r5e_deep_preconditioner()[1]
    assert not claims.holds(claims.Claim("sign flipped", right.lhs, -right.rhs))


def numeric_layers(ws, rng):
    values = {x: rng.normal() for w in ws for x in w.free_symbols}
    num = [np.array(w.subs(values), dtype=float) for w in ws]
    return values, tuple(m[None] for m in num[:-1]) + (num[-1][0][None],)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), depth=st.integers(2, 4), h=st.integers(1, 3))
def test_symbolic_preconditioner_is_the_numeric_one(seed, depth, h):
    rng = np.random.default_rng(seed)
    ws = matrix_deep.layers(2, h, depth)
    values, params = numeric_layers(ws, rng)
    np.testing.assert_allclose(deep.preconditioner(params)[0],
                               np.array(matrix_deep.preconditioner(ws).subs(values), dtype=float),
                               rtol=1e-10, atol=1e-12)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), step=st.floats(0.05, 0.8))
def test_symbolic_two_steps_are_the_numeric_unrolling(seed, step):
    """The derived K = 2 adapted w (differentiation twice) at random values is
    deep.adapted_error's."""
    rng = np.random.default_rng(seed)
    sigma, _, a, _, _ = _setting(2)
    ws = matrix_deep.layers(2, 2, 2)
    values, params = numeric_layers(ws, rng)
    q, _ = np.linalg.qr(rng.normal(size=(2, 2)))
    s_num, a_num = (q * [1.0, 0.4]) @ q.T, rng.normal(size=2)
    at = {**values, **dict(zip(sigma, s_num.ravel(), strict=True)),
          **dict(zip(a, a_num, strict=True)), alpha: step}
    expected = np.array(sympy.Matrix(matrix_deep.adapted(ws, a, sigma, 2)).subs(at),
                        dtype=float).ravel() - a_num
    np.testing.assert_allclose(deep.adapted_error(params, s_num, step, 2, a_num[None])[0, 0],
                               expected, rtol=1e-9, atol=1e-12)
