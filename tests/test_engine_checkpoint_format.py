"""The checkpoint format is stable: committed checkpoints load and save back entry for entry."""

import pathlib

import numpy as np
import pytest

from theory.engine import checkpoint, cnn, optim

COMMITTED = sorted((pathlib.Path(__file__).parent.parent / "results/checkpoints").glob("*.npz"))


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_checkpoints_load_and_save_back_identically(path, tmp_path):
    """Written by earlier code, they load, and saving what was loaded gives the same archive:
    the same entry names, dtypes and values, and the same ``__meta__`` (nesting included)."""
    ckpt = checkpoint.load(path)
    fields = ("model", "metaopt", "adam", "config", "iteration", "rng_state", "validation",
              "architecture", "extra", "best")
    checkpoint.save(tmp_path / "again.npz", **{k: ckpt[k] for k in fields})
    with np.load(path) as old, np.load(tmp_path / "again.npz") as new:
        assert old.files == new.files
        for key in old.files:
            assert old[key].dtype == new[key].dtype and np.array_equal(old[key], new[key]), key


def test_adam_state_and_nested_trees_keep_their_keys_and_containers(tmp_path):
    """The documented layout: ``model/<key>``, ``adam/x::model::<key>``, ``best/<path>``."""
    params = cnn.init(np.random.default_rng(0), layers=1, hidden=2, ways=2, in_shape=(1, 4, 4))
    meta = {"model": params, "metaopt": {"head/w/L": np.eye(2)}}
    init, update, _ = optim.adam(1e-3)
    state = update(0, meta, init(meta))
    best = {"model": params, "extra": (np.zeros(2), [np.ones(1, np.float32)])}
    checkpoint.save(tmp_path / "c.npz", model=params, metaopt=meta["metaopt"],
                    adam=optim.state_to_arrays(state), config={}, iteration=1,
                    rng_state={}, best=best)
    with np.load(tmp_path / "c.npz") as npz:
        assert {"model/conv1/w", "metaopt/head/w/L", "adam/x::model::conv1/w",
                "adam/v::metaopt::head/w/L", "adam/__structure__", "best/extra/0",
                "best/extra/1/0"} <= set(npz.files)
    back = checkpoint.load(tmp_path / "c.npz")
    assert isinstance(back["best"]["extra"], tuple) and isinstance(back["best"]["extra"][1], list)
    assert back["best"]["extra"][1][0].dtype == np.float32
    restored = optim.state_from_arrays(back["adam"])
    for part in ("x", "m", "v"):
        assert list(restored[part]["model"]) == list(params)
        for k in params:
            np.testing.assert_array_equal(restored[part]["model"][k], state[part]["model"][k])
