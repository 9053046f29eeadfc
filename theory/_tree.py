"""Trees of arrays in the style of ``jax.tree_util``, shared by ``landscape`` and ``engine``.

A tree is a nested dict, list or tuple; anything else (an array, a float, ``None``) is a
leaf. The order of the leaves is stable: a dict's in its insertion order (the order of
``cnn.init``, kept by the checkpoints), a list's or tuple's by index; ``unflatten`` rebuilds
the same containers (a tuple stays a tuple).

map(f, tree, *rest)         -- f over the leaves of trees of one structure (dicts matched by key)
with_paths(tree)            -- [(path, leaf)]: a path is the tuple of keys and indices from the root
leaves(tree)                -- the leaves in order
flatten(tree) -> (leaves, treedef); unflatten(treedef, leaves) -- inverses of each other
map_with_path(f, tree)      -- f(path, leaf) at every leaf
all_finite(tree)            -- no float leaf holds a NaN or an infinity
to_json(tree), from_json(spec) -- a JSON description of a tree whose leaves are JSON values
"""

import numpy as np

_SEQUENCES = (list, tuple)


def _children(node):
    """``(key, child)`` pairs of a dict, list or tuple; ``None`` for a leaf."""
    if isinstance(node, dict):
        return list(node.items())
    if isinstance(node, _SEQUENCES):
        return list(enumerate(node))
    return None


def _describe(node):
    if isinstance(node, dict):
        return f"keys {list(node)}"
    if isinstance(node, _SEQUENCES):
        return f"a {type(node).__name__} of {len(node)}"
    return "a leaf"


def _same_node(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys()
    if isinstance(a, _SEQUENCES):
        return isinstance(b, _SEQUENCES) and len(a) == len(b)
    return _children(b) is None


def map(f, tree, *rest):  # noqa: A001 - tree_util's name, read as ``_tree.map``
    """``f(leaf, *matching leaves of rest)`` at every leaf of ``tree``, in a tree like it.

    ``rest`` must have the structure of ``tree`` (dicts the same keys in any order, sequences
    the same length; a list matches a tuple), else ValueError naming both.
    """
    for other in rest:
        if not _same_node(tree, other):
            raise ValueError(f"trees do not match: {_describe(tree)} vs {_describe(other)}")
    if isinstance(tree, dict):
        return {k: map(f, v, *(o[k] for o in rest)) for k, v in tree.items()}
    if isinstance(tree, _SEQUENCES):
        return type(tree)(map(f, *nodes) for nodes in zip(tree, *rest))
    return f(tree, *rest)


def with_paths(tree, path=()):
    """``[(path, leaf)]`` in the stable order; ``path`` leads from the root to the leaf."""
    children = _children(tree)
    if children is None:
        return [(path, tree)]
    return [item for key, child in children for item in with_paths(child, path + (key,))]


def leaves(tree):
    """The leaves of ``tree`` in the stable order."""
    return [leaf for _, leaf in with_paths(tree)]


def flatten(tree):
    """``(leaves, treedef)``; ``treedef`` is ``tree`` with every leaf replaced by ``None``."""
    return leaves(tree), map(lambda _: None, tree)


def unflatten(treedef, values):
    """The tree of structure ``treedef`` (from ``flatten``) with ``values`` as its leaves."""
    values = list(values)
    slots = leaves(treedef)
    if len(values) != len(slots):
        raise ValueError(f"the tree has {len(slots)} leaves, got {len(values)} values")
    it = iter(values)
    return map(lambda _: next(it), treedef)


def map_with_path(f, tree):
    """``f(path, leaf)`` at every leaf of ``tree``, in a tree like it."""
    pairs, treedef = with_paths(tree), map(lambda _: None, tree)
    return unflatten(treedef, [f(path, leaf) for path, leaf in pairs])


def all_finite(tree):
    """True if no float (or complex) leaf of ``tree`` holds a NaN or an infinity."""
    return all(np.asarray(x).dtype.kind not in "fc" or bool(np.all(np.isfinite(x)))
               for x in leaves(tree))


def to_json(tree):
    """A JSON-able description of ``tree``: ``{"dict": [[key, spec], ...]}`` (in order),
    ``{"list": [spec, ...]}``, ``{"tuple": [spec, ...]}``, ``{"leaf": leaf}``."""
    if isinstance(tree, dict):
        return {"dict": [[key, to_json(value)] for key, value in tree.items()]}
    if isinstance(tree, _SEQUENCES):
        return {"tuple" if isinstance(tree, tuple) else "list": [to_json(v) for v in tree]}
    return {"leaf": tree}


def from_json(spec):
    """The tree that ``to_json`` described (KeyError or TypeError for a damaged ``spec``)."""
    if "dict" in spec:
        return {key: from_json(value) for key, value in spec["dict"]}
    if "list" in spec:
        return [from_json(value) for value in spec["list"]]
    if "tuple" in spec:
        return tuple(from_json(value) for value in spec["tuple"])
    return spec["leaf"]
