"""Checkpoint files: exact round trip, atomic writes, architecture checks, config checks."""

import os
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.engine import checkpoint


def _trees(dtype=np.float32):
    rng = np.random.default_rng(3)
    model = {"conv1/w": rng.normal(size=(4, 1, 3, 3)).astype(dtype),
             "bn1/gamma": np.ones(4, dtype), "head/w": rng.normal(size=(3, 4)).astype(dtype),
             "head/b": np.zeros(3, dtype)}
    phi = {"conv1/w/L": np.eye(4, dtype=dtype)}
    adam = {"x": {"model": model, "metaopt": phi}, "m": [model, (np.int64(7), phi)]}
    return model, phi, adam


def _save(path, model, phi, adam, rng, **kw):
    checkpoint.save(path, model=model, metaopt=phi, adam=adam, config={"seed": 1, "lr": 0.5},
                    iteration=kw.pop("iteration", 5), rng_state=rng.bit_generator.state,
                    validation=[(5, 0.5)], architecture={"layers": 1, "in_shape": (1, 8, 8)},
                    extra={"wall_time_s": 1.5}, **kw)


def _assert_same_tree(a, b):
    """Same nesting, keys, dtypes and bits (a scalar leaf comes back as a 0-d array)."""
    if isinstance(a, (dict, list, tuple)):
        assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _assert_same_tree(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same_tree(x, y)
    else:
        assert np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_exact_including_rng_state(tmp_path, dtype):
    model, phi, adam = _trees(dtype)
    rng = np.random.default_rng(11)
    rng.random(5)
    path = tmp_path / "ck.npz"
    _save(path, model, phi, adam, rng)
    loaded = checkpoint.load(path)
    _assert_same_tree(loaded["model"], model)
    _assert_same_tree(loaded["metaopt"], phi)
    _assert_same_tree(loaded["adam"], adam)
    assert loaded["iteration"] == 5 and loaded["validation"] == [[5, 0.5]]
    assert loaded["config"] == {"seed": 1, "lr": 0.5}
    restored = np.random.default_rng(0)
    restored.bit_generator.state = loaded["rng_state"]
    np.testing.assert_array_equal(restored.random(4), rng.random(4))
    # the params are readable by plain numpy under their interface keys
    with np.load(path) as npz:
        np.testing.assert_array_equal(npz["model/conv1/w"], model["conv1/w"])


def test_interrupted_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model, phi, adam = _trees()
    rng = np.random.default_rng(0)
    path = tmp_path / "ck.npz"
    _save(path, model, phi, adam, rng, iteration=2)
    before = path.read_bytes()

    def savez_then_interrupt(handle, **arrays):
        handle.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.np, "savez", savez_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _save(path, model, phi, adam, rng, iteration=4)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.npz"]
    assert checkpoint.load(path)["iteration"] == 2


@pytest.mark.parametrize("read", [checkpoint.load, checkpoint.read_meta])
def test_load_rejects_missing_and_foreign_files(tmp_path, read):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        read(tmp_path / "nope.npz")
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="not a theory.engine checkpoint"):
        read(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match=r"junk.npz is not a theory.engine checkpoint \(not an"):
        read(tmp_path / "junk.npz")


@pytest.mark.parametrize("read", [checkpoint.load, checkpoint.read_meta])
def test_load_names_damaged_files_and_never_suggests_unpickling(tmp_path, read):
    model, phi, adam = _trees()
    good = tmp_path / "good.npz"
    _save(good, model, phi, adam, np.random.default_rng(0), iteration=1)
    cases = {"empty.npz": b"", "cut.npz": good.read_bytes()[:100],
             "text.npz": b"hello\n", "pickle.npz": pickle.dumps({"a": 1})}
    np.savez(tmp_path / "objects.npz", __meta__=np.array([{"a": 1}], dtype=object))
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    for name in [*cases, "objects.npz"]:
        with pytest.raises(ValueError, match=f"{name} is not a theory.engine checkpoint") as err:
            read(tmp_path / name)
        assert "allow_pickle" not in str(err.value) and "unsafe" not in str(err.value)
    with pytest.raises(ValueError, match="is a directory"):
        read(tmp_path)


def test_architecture_mismatch_names_the_key():
    model, _, _ = _trees()
    wider = dict(model, **{"conv1/w": np.zeros((8, 1, 3, 3), np.float32)})
    with pytest.raises(ValueError, match=r"conv1/w has shape \(4, 1, 3, 3\), expected "
                                         r"\(8, 1, 3, 3\)"):
        checkpoint.check_compatible(model, wider)
    deeper = dict(model, **{"conv2/w": np.zeros((4, 4, 3, 3), np.float32)})
    with pytest.raises(ValueError, match=r"missing \['conv2/w'\]"):
        checkpoint.check_compatible(model, deeper)
    checkpoint.check_compatible(model, {k: np.zeros_like(v) for k, v in model.items()})
    with pytest.raises(ValueError, match="layers=2, expected layers=4"):
        checkpoint.check_architecture({"layers": 2, "in_shape": [1, 8, 8]},
                                      {"layers": 4, "in_shape": (1, 8, 8)})
    checkpoint.check_architecture({"in_shape": [1, 8, 8]}, {"in_shape": (1, 8, 8)})


_leaves = st.builds(
    lambda shape, dtype, seed: np.random.default_rng(seed).normal(size=shape).astype(dtype),
    st.lists(st.integers(0, 3), max_size=3).map(tuple),
    st.sampled_from([np.float32, np.float64, np.int64]), st.integers(0, 2 ** 32 - 1))
_keys = st.text("abcxyz019_", min_size=1, max_size=4)
_trees_strategy = st.recursive(
    _leaves, lambda inner: st.dictionaries(_keys, inner, max_size=3)
    | st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple), max_leaves=8)


@given(tree=_trees_strategy, phi=st.dictionaries(_keys, _leaves, max_size=3))
def test_save_then_load_is_the_identity_on_any_tree(tmp_path_factory, tree, phi):
    path = tmp_path_factory.mktemp("ck") / "ck.npz"
    rng = np.random.default_rng(0)
    model = {"conv1/w": np.ones((2, 1, 3, 3), np.float32)}
    checkpoint.save(path, model=model, metaopt=phi, adam=tree, config={}, iteration=0,
                    rng_state=rng.bit_generator.state)
    loaded = checkpoint.load(path)
    _assert_same_tree(loaded["adam"], tree)
    _assert_same_tree(loaded["metaopt"], phi)


def test_copy_without_optimizer_serves_eval_and_adapt_but_not_resume(tmp_path):
    from theory.engine import adapt_task, data
    from theory.engine import train as training
    config = training.make_config(layers=1, hidden=4, ways=3, query=2, meta_batch=2,
                                  iterations=2, val_every=2, val_episodes=2, test_episodes=2)
    training.train(config, out_dir=tmp_path / "run", progress=False)
    full, copy = tmp_path / "run" / training.CHECKPOINT, tmp_path / "copy.npz"
    checkpoint.without_optimizer(full, copy)
    assert os.path.getsize(copy) < 0.5 * os.path.getsize(full)
    a, b = checkpoint.restore(full), checkpoint.restore(copy)
    for key, value in a[1]["model"].items():
        np.testing.assert_array_equal(b[1]["model"][key], value)
    x = data.load("synthetic", split="test").images[:6]
    y = np.repeat(np.arange(3), 2)
    np.testing.assert_array_equal(adapt_task.predict(a[1], a[0], a[2], x, y, x),
                                  adapt_task.predict(b[1], b[0], b[2], x, y, x))
    (tmp_path / "again").mkdir()
    os.replace(copy, tmp_path / "again" / training.CHECKPOINT)
    with pytest.raises(ValueError, match="no optimizer state"):
        training.train(dict(config, iterations=3), out_dir=tmp_path / "again", resume=True,
                       progress=False)
