"""The one bridge from sympy to numpy: vectorised numeric twins of derived expressions.

``lambdify(exprs, names)`` -> a function of arrays, one per name, that broadcasts them against
each other (grids welcome); every output has the broadcast shape, constants included.
``numeric(derivation)`` -> a ``NumericDerivation`` whose methods take the symbols by name.
"""

import functools

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter

from . import dag


def lambdify(exprs, names):
    """Compile ``exprs`` (one expression or a sequence) into a numpy function of ``names``.

    The returned ``f(*arrays)`` takes one array per name, in order, broadcasts them, and returns
    a float64 array of the broadcast shape (a tuple of them for a sequence of expressions).
    Raises ``ValueError`` if an expression has a free symbol that is not in ``names``.

    >>> x, y = sympy.symbols("x y")
    >>> lambdify([x * y, sympy.Integer(2)], ["x", "y"])(np.arange(3.0), 2.0)
    (array([0., 2., 4.]), array([2., 2., 2.]))
    """
    single = isinstance(exprs, sympy.Basic) or not isinstance(exprs, (list, tuple))
    exprs = [sympy.sympify(exprs)] if single else [sympy.sympify(e) for e in exprs]
    names = tuple(str(n) for n in names)
    if len(set(names)) != len(names):
        raise ValueError(f"names {names!r} are not distinct")
    free = {s.name for s in dag.free_symbols(exprs)}
    missing = sorted(free - set(names))
    if missing:
        raise ValueError(f"symbols {missing} of the expressions are not among names {names}")
    compiled = _compile(exprs, names)

    def f(*values):
        if len(values) != len(names):
            raise ValueError(f"got {len(values)} arrays, expected {len(names)}: {names}")
        arrays = [np.asarray(x, dtype=float) for x in values]
        shape = np.broadcast_shapes(*(x.shape for x in arrays))
        outs = compiled(*arrays)
        outs = tuple(np.broadcast_to(np.asarray(o, dtype=float), shape).copy() for o in outs)
        return outs[0] if single else outs

    f.names = names
    return f


def _compile(exprs, names):
    """Python source, one line per shared subexpression, compiled with numpy as the backend.

    ``sympy.lambdify`` walks expression trees; ours are small DAGs with huge trees, so the code
    is generated from ``dag.share`` instead. Inputs are matched by name (not by assumptions).
    """
    position = {name: i for i, name in enumerate(names)}
    rename = {s: sympy.Symbol(f"_a{position[s.name]}") for s in dag.free_symbols(exprs)}
    definitions, reduced = dag.share(exprs, rename=rename, prefix="_t")
    printer = NumPyPrinter({"fully_qualified_modules": True, "allow_unknown_functions": False})
    lines = [f"def _f({', '.join(f'_a{i}' for i in range(len(names)))}):"]
    lines += [f"    {name} = {printer.doprint(e)}" for name, e in definitions]
    lines.append(f"    return ({', '.join(printer.doprint(e) for e in reduced)},)")
    namespace = {"numpy": np}
    exec(compile("\n".join(lines), "<theory.symbolic.bridge>", "exec"), namespace)
    return namespace["_f"]


class NumericDerivation:
    """Numeric twin of a ``Derivation``: each method takes every symbol of ``.names`` by keyword.

    ``meta_loss(**values) -> array``; ``meta_grad``, ``multitask_grad -> tuple of arrays``
    (order of the derivation's params); ``effective_step -> array`` (linear models only).
    """

    def __init__(self, derivation):
        self.derivation = derivation
        self.names = tuple(s.name for s in derivation.symbols)
        self._meta_loss = lambdify(derivation.meta_loss, self.names)
        self._meta_grad = lambdify(derivation.meta_grad, self.names)
        self._multitask_grad = lambdify(derivation.multitask_grad, self.names)
        step = derivation.effective_step
        self._effective_step = None if step is None else lambdify(step, self.names)

    def _args(self, values):
        unknown = sorted(set(values) - set(self.names))
        missing = [n for n in self.names if n not in values]
        if unknown or missing:
            raise ValueError(f"values for {sorted(values)} do not match the names {self.names}"
                             f" (missing {missing}, unknown {unknown})")
        return [values[n] for n in self.names]

    def meta_loss(self, **values):
        """Post-adaptation query loss."""
        return self._meta_loss(*self._args(values))

    def meta_grad(self, **values):
        """Meta-gradient (exact, or first-order if the derivation is), one array per param."""
        return self._meta_grad(*self._args(values))

    def multitask_grad(self, **values):
        """Gradient of the query loss without adaptation, one array per param."""
        return self._multitask_grad(*self._args(values))

    def effective_step(self, **values):
        """First-order contraction of one inner step on the slope (linear models)."""
        if self._effective_step is None:
            raise ValueError(f"model {self.derivation.model!r} has no effective step "
                             "(defined for model 'linear' only)")
        return self._effective_step(*self._args(values))


@functools.lru_cache(maxsize=64)
def numeric(derivation):
    """The cached ``NumericDerivation`` of ``derivation``."""
    return NumericDerivation(derivation)
