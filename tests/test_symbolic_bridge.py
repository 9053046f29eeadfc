"""The sympy -> numpy bridge: broadcasting, constants, name checking, and the DAG tools."""

import doctest
import importlib

import numpy as np
import pytest
import sympy

from theory.symbolic import bridge, dag, derive, symbols


def test_lambdify_broadcasts_inputs_and_constants_over_a_grid():
    x, y = sympy.symbols("x y")
    f = bridge.lambdify([x * y + 1, sympy.Integer(3), x], ["x", "y"])
    xs, ys = np.linspace(-1, 1, 4), np.linspace(0, 2, 3)[:, None]
    prod, const, ident = f(xs, ys)
    assert prod.shape == const.shape == ident.shape == (3, 4)
    np.testing.assert_array_equal(prod, xs * ys + 1)
    np.testing.assert_array_equal(const, np.full((3, 4), 3.0))
    np.testing.assert_array_equal(ident, np.broadcast_to(xs, (3, 4)))
    assert bridge.lambdify(sympy.Integer(2), ["x"])(np.zeros(5)).shape == (5,)


def test_lambdify_matches_by_name_whatever_the_assumptions():
    expr = symbols.alpha * symbols.sigma2 + sympy.exp(symbols.weights(1)[0])
    f = bridge.lambdify(expr, ["w1", "alpha", "sigma2"])
    np.testing.assert_allclose(f(0.5, 2.0, 3.0), 6.0 + np.exp(0.5), rtol=1e-15)


def test_lambdify_rejects_missing_names_and_wrong_arity():
    x, y = sympy.symbols("x y")
    with pytest.raises(ValueError, match=r"symbols \['y'\] of the expressions are not among"):
        bridge.lambdify(x + y, ["x"])
    with pytest.raises(ValueError, match="got 1 arrays, expected 2"):
        bridge.lambdify(x + y, ["x", "y"])(1.0)
    with pytest.raises(ValueError, match="not distinct"):
        bridge.lambdify(x, ["x", "x"])


def test_numeric_derivation_evaluates_on_grids_and_checks_names():
    nd = bridge.numeric(derive("linear", 2, 1))
    assert nd.names == ("w1", "w2", "alpha", "sigma2", "a")
    assert bridge.numeric(derive("linear", 2, 1)) is nd
    w1, w2 = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 4))
    grid = nd.meta_loss(w1=w1, w2=w2, alpha=0.3, sigma2=1.0, a=0.5)
    assert grid.shape == (4, 5)
    assert nd.meta_loss(w1=w1[2, 3], w2=w2[2, 3], alpha=0.3, sigma2=1.0, a=0.5) == grid[2, 3]
    assert [g.shape for g in nd.meta_grad(w1=w1, w2=w2, alpha=0.3, sigma2=1.0, a=0.5)] == [
        (4, 5), (4, 5)]
    with pytest.raises(ValueError, match=r"missing \['a'\]"):
        nd.meta_loss(w1=1.0, w2=1.0, alpha=0.3, sigma2=1.0)
    with pytest.raises(ValueError, match=r"unknown \['beta'\]"):
        nd.meta_loss(w1=1.0, w2=1.0, alpha=0.3, sigma2=1.0, a=0.0, beta=1.0)
    with pytest.raises(ValueError, match="'logistic' has no effective step"):
        bridge.numeric(derive("logistic", 1, 1, "empirical", 1)).effective_step(
            w1=1.0, b=0.0, alpha=0.1, x1=1.0, y1=1.0, xq1=1.0, yq1=0.0)


def test_share_and_unshare_are_inverse_and_tree_size_counts_the_expansion():
    d = derive("linear", 2, 2)
    exprs = [d.meta_loss, *d.meta_grad]
    definitions, reduced = dag.share(exprs)
    assert definitions  # an unrolled loop reuses theta_k
    back = dag.unshare(definitions, reduced)
    assert all(sympy.expand(x - y) == 0 for x, y in zip(back, exprs, strict=True))
    w = sympy.Symbol("w")
    shared = (w + 1) ** 2
    assert dag.tree_size([shared * shared + shared]) > dag.tree_size([shared])
    assert dag.free_symbols(exprs) == {s for s in d.symbols}


def test_deep_unrolled_loops_evaluate_without_walking_the_expanded_tree():
    d = derive("logistic", 4, 3, "empirical", 2)
    assert dag.tree_size([d.meta_grad[0]]) > 10 ** 7
    assert len(dag.postorder([d.meta_grad[0]])) < 10 ** 4
    nd = bridge.numeric(d)
    values = {n: 0.3 for n in nd.names}
    assert all(np.isfinite(g) for g in nd.meta_grad(**values))


@pytest.mark.parametrize("module", ["maml", "bridge", "claims"])
def test_docstring_examples(module):
    failed, tried = doctest.testmod(importlib.import_module(f"theory.symbolic.{module}"))
    assert tried > 0 and failed == 0
