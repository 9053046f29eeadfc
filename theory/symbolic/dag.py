"""Shared-subexpression tools for derived expressions, which are small DAGs but huge trees.

An unrolled inner loop reuses theta_k in every later step, so a meta-gradient with a few
hundred distinct subexpressions can expand to 10^8 tree nodes. Everything here walks the DAG
once (iteratively: unrolled loops are deep), never the expanded tree. Sympy itself walks trees
in two places, both avoided in ``substitute``: assumption queries about a function's argument
(functions are swapped for opaque stand-ins while Add/Mul/Pow evaluate, ``swap_functions``)
and equality tests between equal copies (``Interner`` keeps one object per subexpression).
"""

import sympy
from sympy.core.operations import AssocOp


def postorder(exprs):
    """Distinct subexpressions of ``exprs``, children before parents."""
    order, done = [], set()
    stack = [(e, False) for e in reversed(exprs)]
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if expanded or not node.args:
            done.add(node)
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((arg, False) for arg in reversed(node.args) if arg not in done)
    return order


def free_symbols(exprs):
    """The symbols in ``exprs`` (``Basic.free_symbols`` would walk the expanded trees)."""
    return {node for node in postorder(exprs) if node.is_Symbol}


def tree_size(exprs):
    """Number of nodes of ``exprs`` written out as trees (what ``str`` would have to print)."""
    size = {}
    for node in postorder(exprs):
        size[node] = 1 + sum(size[arg] for arg in node.args)
    return sum(size[e] for e in exprs)


def _rebuild(node, args):
    try:
        return node.func(*args, evaluate=False)
    except TypeError:
        return node.func(*args)


def share(exprs, rename=None, prefix="_s"):
    """Common-subexpression elimination over the DAG of ``exprs``.

    Returns ``(definitions, reduced)``: ``definitions`` is a list of ``(Symbol(prefix + i), expr)``
    in dependency order, ``reduced`` the expressions in terms of those symbols. Every
    non-atomic subexpression used more than once gets a definition. ``rename`` maps atoms (for
    example input symbols) to replacements.
    """
    exprs = [sympy.sympify(e) for e in exprs]
    nodes = postorder(exprs)
    uses = dict.fromkeys(nodes, 0)
    for node in nodes:
        for arg in node.args:
            uses[arg] += 1
    for e in exprs:
        uses[e] += 1
    rename = rename or {}
    value, definitions = {}, []
    for node in nodes:
        if not node.args:
            value[node] = rename.get(node, node)
            continue
        built = _rebuild(node, [value[arg] for arg in node.args])
        if uses[node] > 1:
            name = sympy.Symbol(f"{prefix}{len(definitions)}")
            definitions.append((name, built))
            built = name
        value[node] = built
    return definitions, [value[e] for e in exprs]


def unshare(definitions, reduced):
    """Inverse of ``share``: substitute the definitions back, keeping the sharing.

    The substitution is structural (nodes rebuilt unevaluated, as ``share`` built them):
    evaluating would ask sympy's questions that walk expanded trees (see ``substitute``).
    """
    value = {}
    for name, expr in definitions:
        (value[name],) = _map([expr], value, _structural)
    return _map(reduced, value, _structural)


def substitute(exprs, mapping, interner=None):
    """``xreplace`` of ``mapping`` in each of ``exprs``, memoised over the DAG.

    Functions (exp, log) are rebuilt unevaluated: their automatic evaluation asks sign
    questions that walk the whole expanded tree; Add, Mul and Pow are evaluated as usual.
    Where functions occur, Add, Mul and Pow are evaluated with each function swapped for an
    opaque stand-in (sympy asks sign and finiteness questions of a function's argument, and
    answering them walks its expanded tree), and every node goes through ``interner`` (one
    per derivation, see ``Interner``): equal subexpressions are then one object, so comparing
    them never walks a tree either.
    """
    exprs = [sympy.sympify(e) for e in exprs]
    heads = {node.func: _stand_in(node.func) for node in
             postorder(exprs + [sympy.sympify(v) for v in mapping.values()])
             if isinstance(node, sympy.Function)}
    if not heads:
        return _map(exprs, mapping, _evaluated(lambda node: node))
    intern = interner if interner is not None else Interner()
    hide = lambda group: [intern(e) for e in swap_functions(  # noqa: E731
        [intern(sympy.sympify(e)) for e in group], heads)]
    mapping = dict(zip(hide(list(mapping)), hide(list(mapping.values())), strict=True))
    reduced = _map(hide(exprs), mapping, _evaluated(intern))
    shown = swap_functions(reduced, {s: f for f, s in heads.items()})
    return [intern(e) for e in shown]


def swap_functions(exprs, heads):
    """``exprs`` with each function head ``f`` replaced by ``heads[f]``, memoised over the DAG;
    the nodes above a swapped one are rebuilt unevaluated, so the structure stays the same."""
    return _map(exprs, {}, lambda node, args: _structural(node, args,
                                                          heads.get(node.func, node.func)))


def _map(exprs, replace, build):
    """Walk the DAG of ``exprs`` children first: a node in ``replace`` becomes its value, an
    atom stays, any other node becomes ``build(node, new_args)``."""
    memo = {}
    for node in postorder(exprs):
        if node in replace:
            memo[node] = replace[node]
        elif not node.args:
            memo[node] = node
        else:
            memo[node] = build(node, [memo[arg] for arg in node.args])
    return [memo[e] for e in exprs]


def _unchanged(node, args):
    return all(new is old for new, old in zip(args, node.args, strict=True))


def _structural(node, args, func=None):
    func = node.func if func is None else func
    return node if func is node.func and _unchanged(node, args) else _make(func, args)


def _evaluated(intern):
    """Build Add, Mul and Pow evaluated, functions unevaluated; results through ``intern``."""
    def build(node, args):
        if _unchanged(node, args):
            return node
        if isinstance(node, sympy.Function):
            return intern(_make(node.func, args))
        return intern(node.func(*args))
    return build


_STAND_INS = {}


def _stand_in(func):
    """An undefined function named after ``func``: sympy knows nothing about it, so it asks
    nothing about its argument."""
    if func not in _STAND_INS:
        _STAND_INS[func] = sympy.Function(f"_opaque_{func.__name__}")
    return _STAND_INS[func]


def _make(func, args):
    """``func(*args)`` unevaluated and past sympy's constructor cache: looking an expression
    up there compares it with cached ones, which walks trees when they are equal copies."""
    if issubclass(func, AssocOp):
        return func._from_args(args)
    obj = sympy.Basic.__new__(func, *args)
    if func is sympy.Pow:  # Pow keeps is_commutative in a slot its constructor fills
        obj.is_commutative = args[0].is_commutative and args[1].is_commutative
    return obj


class Interner:
    """Hash-consing of sympy expressions: ``intern(expr)`` returns one object per distinct
    subexpression (the first one seen), so that equal subexpressions are identical.

    Sympy compares expressions by walking their trees; two equal but distinct copies of a
    shared DAG make every dictionary lookup, cache hit and set membership test walk the
    expanded tree. Nodes are keyed by their head and the identities of their (interned)
    arguments; the interner keeps every node it saw alive, so identities stay unique.
    """

    def __init__(self):
        self._table, self._seen = {}, {}

    def __call__(self, expr):
        seen, table = self._seen, self._table
        stack = [(expr, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in seen:
                continue
            if not node.args:
                seen[id(node)] = (node, table.setdefault(node, node))
            elif not expanded:
                stack.append((node, True))
                stack.extend((arg, False) for arg in node.args if id(arg) not in seen)
            else:
                args = [seen[id(arg)][1] for arg in node.args]
                key = (node.func, tuple(map(id, args)))
                canonical = table.get(key)
                if canonical is None:
                    same = all(new is old for new, old in zip(args, node.args, strict=True))
                    canonical = table[key] = node if same else _make(node.func, args)
                seen[id(node)] = (node, canonical)
        return seen[id(expr)][1]
