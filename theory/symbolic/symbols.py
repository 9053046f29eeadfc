"""The sympy symbols of the formula sheet, one per paper symbol, with fixed names.

Every derivation uses exactly these names, so a printed expression can be parsed back with
``sympy.sympify(text, locals=symbols.by_name(names))``:

alpha   inner-loop step size (positive)
sigma2  E[x^2] of the regression inputs (positive)
a       the task's slope, tasks are y = a x (real)
mu, v   E[a] and Var(a) over the task distribution (real, nonnegative); used only where an
        expectation over tasks is taken (results R1)
w1..wL  the layer weights, f(x) = (w1 w2 ... wL) x (real)
b       the logistic bias (real)
x1..xn, y1..yn      support points
xq1..xqn, yq1..yqn  query points
"""

import functools

import sympy

alpha = sympy.Symbol("alpha", positive=True)
sigma2 = sympy.Symbol("sigma2", positive=True)
a = sympy.Symbol("a", real=True)
mu = sympy.Symbol("mu", real=True)
v = sympy.Symbol("v", nonnegative=True)
b = sympy.Symbol("b", real=True)


@functools.lru_cache(maxsize=None)
def weights(depth):
    """``(w1, ..., wL)`` for depth L >= 1."""
    return tuple(sympy.Symbol(f"w{l}", real=True) for l in range(1, depth + 1))


@functools.lru_cache(maxsize=None)
def support(n):
    """Support points ``((x1..xn), (y1..yn))``."""
    return (tuple(sympy.Symbol(f"x{i}", real=True) for i in range(1, n + 1)),
            tuple(sympy.Symbol(f"y{i}", real=True) for i in range(1, n + 1)))


@functools.lru_cache(maxsize=None)
def query(n):
    """Query points ``((xq1..xqn), (yq1..yqn))``."""
    return (tuple(sympy.Symbol(f"xq{i}", real=True) for i in range(1, n + 1)),
            tuple(sympy.Symbol(f"yq{i}", real=True) for i in range(1, n + 1)))


def by_name(names):
    """Map each name in ``names`` to its symbol (with its assumptions), for ``sympify(locals=)``.

    Raises ``ValueError`` for a name that is not one of the symbols above.
    """
    fixed = {s.name: s for s in (alpha, sigma2, a, mu, v, b)}
    table = {}
    for name in names:
        if name in fixed:
            table[name] = fixed[name]
            continue
        for prefix, make in (("xq", lambda i: query(i)[0]), ("yq", lambda i: query(i)[1]),
                             ("w", weights), ("x", lambda i: support(i)[0]),
                             ("y", lambda i: support(i)[1])):
            index = name[len(prefix):]
            if name.startswith(prefix) and index.isdigit() and int(index) >= 1:
                table[name] = make(int(index))[-1]
                break
        else:
            raise ValueError(f"symbol name {name!r} is not one of alpha, sigma2, a, mu, v, b, "
                             "w<l>, x<i>, y<i>, xq<i>, yq<i> (l, i >= 1)")
    return table
