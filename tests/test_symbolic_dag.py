"""``theory.symbolic.dag``: substitution with functions and hash-consing keep the mathematics."""

import numpy as np
import sympy
from hypothesis import given
from hypothesis import strategies as st

from theory.symbolic import dag

x, y, z = sympy.symbols("x y z", real=True)


@st.composite
def expressions(draw, depth=3):
    """Small expressions in x, y, z built from +, *, integer powers, exp and log(1 + exp)."""
    if depth == 0 or draw(st.booleans()):
        return draw(st.sampled_from([x, y, z, sympy.Integer(2), sympy.Rational(-1, 3)]))
    a, b = draw(expressions(depth=depth - 1)), draw(expressions(depth=depth - 1))
    kind = draw(st.sampled_from(["add", "mul", "pow", "exp", "softplus"]))
    if kind == "add":
        return a + b
    if kind == "mul":
        return a * b
    if kind == "pow":
        return (1 + a ** 2) ** draw(st.sampled_from([-2, -1, 2]))
    if kind == "exp":
        return sympy.exp(a / 4)
    return sympy.log(1 + sympy.exp(a / 4))


@given(expressions(), expressions(), st.floats(-1, 1), st.floats(-1, 1))
def test_substitute_equals_xreplace_at_every_point(expr, value, px, py):
    """With functions present, substitution goes through opaque stand-ins and interning; the
    result must still be the expression ``xreplace`` gives, as a function of x, y, z."""
    mapping = {x: value, y: x * y + 1}
    (ours,) = dag.substitute([expr], mapping)
    reference = expr.xreplace(mapping)
    point = {x: px, y: py, z: 0.5}
    assert not ours.has(*dag._STAND_INS.values())
    np.testing.assert_allclose(float(ours.evalf(subs=point)), float(reference.evalf(subs=point)),
                               rtol=1e-9, atol=1e-12)


def test_interner_makes_equal_subexpressions_one_object():
    a = sympy.exp(x * y) + 1
    b = sympy.Add(sympy.exp(sympy.Mul(y, x)), sympy.Integer(1))  # equal, built separately
    intern = dag.Interner()
    pair = sympy.Mul(a, b ** 2, evaluate=False)
    canonical = intern(pair)
    assert canonical == pair
    assert canonical.args[0] is intern(a) is intern(b)
    assert canonical.args[1].args[0] is canonical.args[0]  # b inside b**2 is a's object
    assert intern(sympy.exp(y * x)) in canonical.args[0].args


@given(expressions(), expressions())
def test_unshare_inverts_share(first, second):
    exprs = [first, second, first * second + first]
    definitions, reduced = dag.share(exprs, prefix="c")
    assert dag.unshare(definitions, reduced) == exprs
