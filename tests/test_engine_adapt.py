"""``adapt`` on tasks unlike the checkpoint's: fewer classes use a subset of the head's units;
unequal or other shot counts are valid and noted; more classes than units is an error."""

import json
import shutil

import numpy as np
import pytest

from conftest import assert_one_line_error, run_main, untrained_checkpoint
from theory.engine import adapt_task, checkpoint, cnn, data, maml
from theory.engine.data import export



def _checkpoint(root, **config):
    """An untrained 4-way checkpoint: the identities tested here hold for any parameters."""
    path = root / "checkpoint.npz"
    untrained_checkpoint(path, **{"ways": 4, **config})
    return path


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """A 4-way 2-shot episode of synthetic test glyphs, 2 queries per class."""
    root = tmp_path_factory.mktemp("task")
    export.write_episode(data.load("synthetic", split="test"), root, ways=4, shots=2, query=2,
                         seed=1)
    return root


def _fewer(task, tmp_path, keep):
    """A copy of ``task``'s support with only its first ``keep`` classes."""
    support = tmp_path / "support"
    shutil.copytree(task / "support", support)
    for folder in sorted(support.iterdir())[keep:]:
        shutil.rmtree(folder)
    return support


@pytest.mark.parametrize("algo", ["maml", "anil"])
def test_fewer_classes_adapt_the_head_cut_to_its_first_units(algo, task, tmp_path):
    ckpt = _checkpoint(tmp_path, algo=algo)
    support = _fewer(task, tmp_path, keep=3)
    res = adapt_task.adapt_folders(ckpt, support, task / "query")
    assert len(res["classes"]) == 3 and any("output units 0..2" in n for n in res["notes"])
    # a 3-unit model (the head's first 3 rows) adapted the plain way predicts the same
    config, meta_params, _, c = checkpoint.restore(ckpt)
    model = dict(meta_params["model"])
    model["head/w"], model["head/b"] = model["head/w"][:3], model["head/b"][:3]
    sup = data.load_image_folder(support, tuple(c["extra"]["in_shape"]))
    qry = data.load_image_folder(task / "query", tuple(c["extra"]["in_shape"]))
    keys = maml.adapt_keys(model, "anil") if algo == "anil" else None
    cut = maml.adapt(model, sup.images[None], sup.labels[None], alpha=config["inner_lr"],
                     steps=config["steps"], first_order=True, adapt_keys=keys)
    logits = np.asarray(cnn.apply(cut, qry.images[None]))[0]
    z = np.exp(logits - logits.max(-1, keepdims=True))
    expected = z / z.sum(-1, keepdims=True)
    got = np.array([[p["probabilities"][c] for c in res["classes"]] for p in res["predictions"]])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert [p["label"] for p in res["predictions"]] == list(np.argmax(expected, -1))


def test_unused_units_get_no_inner_update(task, tmp_path):
    ckpt = _checkpoint(tmp_path)
    config, meta_params, _, c = checkpoint.restore(ckpt)
    sup = data.load_image_folder(_fewer(task, tmp_path, keep=2), tuple(c["extra"]["in_shape"]))
    model = meta_params["model"]
    adapted = maml.adapt(model, sup.images[None], sup.labels[None], alpha=config["inner_lr"],
                         steps=3, first_order=True, units=2)
    np.testing.assert_array_equal(adapted["head/w"][0, 2:], model["head/w"][2:])
    np.testing.assert_array_equal(adapted["head/b"][0, 2:], model["head/b"][2:])
    assert not np.array_equal(adapted["head/w"][0, :2], model["head/w"][:2])


@pytest.mark.parametrize("metaopt", ["metasgd", "kfo", "tnet"])
def test_fewer_classes_work_through_every_meta_optimizer(metaopt, task, tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, metaopt=metaopt)
    support = _fewer(task, tmp_path, keep=2)
    code, out, err = run_main(["adapt", "--checkpoint", ckpt, "--support", support,
                               "--query", task / "query", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert {p["class"] for p in res["predictions"]} <= set(res["classes"])
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-5 for p in res["predictions"])
    assert err == "".join(f"note: {note}\n" for note in res["notes"])
    assert "2 classes on a 4-way model" in res["notes"][0]


def test_unequal_and_other_shot_counts_are_noted(task, tmp_path, capsys):
    ckpt = _checkpoint(tmp_path)                           # a 1-shot checkpoint
    argv = ["adapt", "--checkpoint", ckpt, "--query", task / "query"]
    code, out, err = run_main([*argv, "--support", task / "support"], capsys)
    assert code == 0 and err == ("note: 2 support images per class; the checkpoint was "
                                 "meta-trained with 1-shot tasks\n")
    assert len(out.splitlines()) == 8                      # one line per query file
    support = tmp_path / "support"
    shutil.copytree(task / "support", support)
    first = sorted(support.iterdir())[0]
    (first / "1.png").unlink()
    code, out, err = run_main([*argv, "--support", support, "--json"], capsys)
    assert code == 0 and err.count("\n") == 1 and "unequal numbers of images" in err
    assert f"{first.name}: 1" in err and json.loads(out)["notes"] == [err[6:-1]]


def test_more_classes_than_units_or_one_class_is_an_error(task, tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, ways=3)
    for support, fragments in [(task / "support", ["has 4 class sub-folders", "3-way model",
                                                   "valid: 2..3 classes", "--ways 4"]),
                               (_fewer(task, tmp_path, keep=1), ["1 class sub-folder",
                                                                 "2 to 3 classes"])]:
        code, _, err = run_main(["adapt", "--checkpoint", ckpt, "--support", support,
                                 "--query", task / "query"], capsys)
        assert_one_line_error(code, err, str(support), *fragments)
