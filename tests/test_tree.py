"""``theory._tree``: laws of map and flatten over random trees; the shared Adam's state."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import _optim, _tree

leaf = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                 st.lists(st.floats(-1e6, 1e6), max_size=3).map(np.array))
trees = st.recursive(leaf, lambda sub: st.one_of(
    st.dictionaries(st.text("abc/", min_size=1, max_size=3), sub, max_size=3),
    st.lists(sub, max_size=3), st.lists(sub, max_size=3).map(tuple)), max_leaves=12)


def same(a, b):
    """Same containers (type, key order, length) with the very same leaf objects."""
    if isinstance(a, (dict, list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and (
            list(a) == list(b) and all(same(a[k], b[k]) for k in a) if isinstance(a, dict)
            else all(same(x, y) for x, y in zip(a, b)))
    return a is b


@settings(max_examples=60)
@given(trees)
def test_unflatten_inverts_flatten_and_map_identity_is_the_tree(tree):
    values, treedef = _tree.flatten(tree)
    assert same(_tree.unflatten(treedef, values), tree)
    assert same(_tree.map(lambda x: x, tree), tree)
    assert _tree.flatten(_tree.map(lambda x: x, tree))[1] == treedef


@settings(max_examples=60)
@given(trees)
def test_map_acts_leafwise_and_paths_lead_to_the_leaves(tree):
    values = _tree.leaves(tree)
    assert _tree.leaves(_tree.map(id, tree)) == [id(x) for x in values]
    assert all(_tree.leaves(_tree.map(lambda x, y: x is y, tree, tree)))
    for path, x in _tree.with_paths(tree):
        node = tree
        for key in path:
            node = node[key]
        assert node is x
    paths = [p for p, _ in _tree.with_paths(tree)]
    assert _tree.leaves(_tree.map_with_path(lambda p, _: repr(p), tree)) == list(map(repr, paths))
    assert len(set(paths)) == len(paths)


@settings(max_examples=60)
@given(trees)
def test_json_description_round_trips_through_a_json_string(tree):
    names = _tree.map_with_path(lambda p, _: "/".join(map(str, p)), tree)
    back = _tree.from_json(json.loads(json.dumps(_tree.to_json(names))))
    assert back == names and _tree.flatten(back)[1] == _tree.flatten(names)[1]


@given(trees, st.sampled_from([np.nan, np.inf, -np.inf]))
def test_all_finite_finds_any_non_finite_leaf(tree, bad):
    assert _tree.all_finite(tree)
    values, treedef = _tree.flatten(tree)
    if values:
        values[-1] = np.append(values[-1], bad)
        assert not _tree.all_finite(_tree.unflatten(treedef, values))


def test_mismatched_trees_and_leaf_counts_are_named():
    with pytest.raises(ValueError, match=r"keys \['a'\] vs keys \['b'\]"):
        _tree.map(lambda x, y: x, {"a": 1}, {"b": 1})
    with pytest.raises(ValueError, match="a tuple of 2 vs a leaf"):
        _tree.map(lambda x, y: x, (1, 2), 3)
    with pytest.raises(ValueError, match="3 leaves, got 2"):
        _tree.unflatten(_tree.flatten([1, (2, 3)])[1], [1, 2])


@settings(max_examples=30)
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=4), st.floats(1e-3, 1.0),
       st.integers(0, 5))
def test_adam_moves_every_tree_layout_alike(xs, lr, i):
    """The same arrays in a tuple, a list and a dict take the same Adam step."""
    x, g = np.array(xs), np.cos(np.array(xs))
    init, update, get = _optim.adam(lr)
    steps = [get(update(i, wrap(g), init(wrap(x)))) for wrap in
             (lambda a: (a,), lambda a: [a], lambda a: {"w": {"v": a}})]
    flat = [_tree.leaves(s)[0] for s in steps]
    assert all(np.array_equal(flat[0], f) for f in flat[1:])
    # the first step moves each entry by lr against the sign of its gradient (m_hat / sqrt(v_hat))
    if i == 0:
        np.testing.assert_allclose(flat[0], x - lr * np.sign(g) * np.abs(g) / (np.abs(g) + 1e-8),
                                   rtol=1e-12, atol=1e-12)
