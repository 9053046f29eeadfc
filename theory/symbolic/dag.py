"""Shared-subexpression tools for derived expressions, which are small DAGs but huge trees.

An unrolled inner loop reuses theta_k in every later step, so a meta-gradient with a few
hundred distinct subexpressions can expand to 10^8 tree nodes. Everything here walks the DAG
once (iteratively: unrolled loops are deep), never the expanded tree.
"""

import sympy


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
    """Inverse of ``share``: substitute the definitions back (keeps sharing, so it is fast)."""
    value = {}
    for name, expr in definitions:
        value[name] = expr.xreplace(value)
    return [e.xreplace(value) for e in reduced]


def substitute(exprs, mapping):
    """``xreplace`` of ``mapping`` in each of ``exprs``, memoised over the DAG.

    Functions (exp, log) are rebuilt unevaluated: their automatic evaluation asks sign
    questions that walk the whole expanded tree; Add, Mul and Pow are evaluated as usual.
    """
    exprs = [sympy.sympify(e) for e in exprs]
    value = {}
    for node in postorder(exprs):
        if node in mapping:
            value[node] = mapping[node]
        elif not node.args:
            value[node] = node
        else:
            args = [value[arg] for arg in node.args]
            if all(new is old for new, old in zip(args, node.args, strict=True)):
                value[node] = node
            elif isinstance(node, sympy.Function):
                value[node] = node.func(*args, evaluate=False)
            else:
                value[node] = node.func(*args)
    return [value[e] for e in exprs]
