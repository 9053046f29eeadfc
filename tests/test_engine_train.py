"""Meta-training runs: bitwise resume, divergence stop, refusal to overwrite, config checks.

The run that must beat chance is the end-to-end CLI run of ``test_engine_cli.py``.
"""

import json
import os
import subprocess

import numpy as np
import pytest

from conftest import Stop, comparable, save_without, stop_after
from theory.engine import checkpoint, cli, data, metaopt, provenance
from theory.engine import config as run_config
from theory.engine import train as training

# A few seconds per run: 1 conv layer of width 4, 3-way 1-shot, 2 tasks per meta-batch.
TINY = {"layers": 1, "hidden": 4, "ways": 3, "shots": 1, "query": 2, "steps": 1,
        "inner_lr": 0.1, "meta_lr": 0.01, "meta_batch": 2, "iterations": 6, "val_every": 3,
        "val_episodes": 4, "test_episodes": 6, "checkpoint_every": 2, "seed": 5}


def _same_checkpoints(a, b):
    a, b = checkpoint.load(a), checkpoint.load(b)
    assert a["iteration"] == b["iteration"] and a["rng_state"] == b["rng_state"]
    assert a["validation"] == b["validation"]
    for group in ("model", "metaopt"):
        assert list(a[group]) == list(b[group])
        for key in a[group]:
            assert a[group][key].dtype == b[group][key].dtype
            assert a[group][key].tobytes() == b[group][key].tobytes(), (group, key)
    for key in a["adam"]:
        assert np.asarray(a["adam"][key]).tobytes() == np.asarray(b["adam"][key]).tobytes()


@pytest.mark.parametrize("metaopt", ["none", "kfo"])
def test_resume_after_interrupt_is_bitwise_identical(tmp_path, metaopt):
    config = dict(TINY, metaopt=metaopt)
    whole = training.train(config, out_dir=tmp_path / "whole", progress=False)
    part = tmp_path / "part"
    with pytest.raises(Stop):
        training.train(config, out_dir=part, progress=False, callback=stop_after(3))
    # iteration 3 completed but the last checkpoint is from iteration 2; nothing half-written
    assert sorted(os.listdir(part)) == [training.CHECKPOINT]
    assert checkpoint.load(part / training.CHECKPOINT)["iteration"] == 2
    resumed = training.train(config, out_dir=part, resume=True, progress=False)
    assert comparable(resumed) == comparable(whole)
    assert [it for it, _ in whole["validation"]] == [3, 6]
    _same_checkpoints(part / training.CHECKPOINT, tmp_path / "whole" / training.CHECKPOINT)
    on_disk = json.loads((part / training.RESULTS).read_text())
    assert comparable(on_disk) == json.loads(json.dumps(comparable(whole)))


def test_workers_change_nothing_for_given_chunks_and_may_change_on_resume(tmp_path):
    """Two processes per meta-step (one helper) against one, chunks of one task each; the
    second run starts on two workers and resumes on one."""
    config = dict(TINY, task_chunk=1)
    one = training.train(dict(config, workers=1), out_dir=tmp_path / "one", progress=False)
    part = tmp_path / "two"
    with pytest.raises(Stop):
        training.train(dict(config, workers=2), out_dir=part, progress=False,
                       callback=stop_after(3))
    two = training.train(dict(config, workers=1), out_dir=part, resume=True, progress=False)
    assert one["config"]["workers"] == 1 == two["config"]["workers"]
    assert comparable(two) == comparable(one)
    _same_checkpoints(part / training.CHECKPOINT, tmp_path / "one" / training.CHECKPOINT)


def test_resume_can_extend_a_finished_run(tmp_path):
    whole = training.train(TINY, out_dir=tmp_path / "whole", progress=False)
    short = dict(TINY, iterations=4)
    training.train(short, out_dir=tmp_path / "part", progress=False)
    resumed = training.train(TINY, out_dir=tmp_path / "part", resume=True, progress=False)
    assert resumed["test"] == whole["test"]


def test_existing_run_is_never_overwritten_and_resume_checks_config(tmp_path):
    training.train(dict(TINY, iterations=2), out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="already exists; pass --resume"):
        training.train(TINY, out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="layers=1, now layers=2"):
        training.train(dict(TINY, layers=2), out_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        training.train(TINY, out_dir=tmp_path / "empty", resume=True, progress=False)
    with pytest.raises(ValueError, match="is a file; expected a directory"):
        training.train(TINY, out_dir=tmp_path / training.CHECKPOINT, progress=False)


def test_nan_meta_loss_stops_naming_the_iteration_and_keeps_last_checkpoint(tmp_path,
                                                                           monkeypatch):
    calls = []
    real = data.sample_tasks

    def poisoned(*args, **kwargs):
        x_s, y_s, x_q, y_q = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:       # the batch of iteration 3
            x_q = np.full_like(x_q, np.nan)
        return x_s, y_s, x_q, y_q

    monkeypatch.setattr(data, "sample_tasks", poisoned)
    config = dict(TINY, val_every=100)
    with pytest.raises(training.DivergedError, match=r"meta-loss nan is not finite at "
                                                     r"iteration 3.*last good checkpoint"):
        training.train(config, out_dir=tmp_path, progress=False)
    assert checkpoint.load(tmp_path / training.CHECKPOINT)["iteration"] == 2
    assert sorted(os.listdir(tmp_path)) == [training.CHECKPOINT]


def test_ways_beyond_the_classes_of_a_split_is_refused_before_training(tmp_path):
    classes = data.load("synthetic", split="val").n_classes
    with pytest.raises(ValueError, match=f"ways={classes + 1} exceeds the {classes} classes "
                                         "of the val split"):
        training.train(dict(TINY, ways=classes + 1), out_dir=tmp_path, progress=False)
    assert not os.path.exists(tmp_path / training.CHECKPOINT)


@pytest.mark.parametrize("bad, match", [
    ({"ways": 1}, "ways must be an integer >= 2, got 1"),
    ({"shots": 0}, "shots must be an integer >= 1, got 0"),
    ({"steps": -1}, "steps must be an integer >= 0, got -1"),
    ({"layers": 2.5}, "layers must be an integer >= 1, got 2.5"),
    ({"inner_lr": 0.0}, "inner_lr must be a finite number > 0, got 0.0"),
    ({"meta_lr": float("nan")}, "meta_lr must be a finite number > 0, got nan"),
    ({"algo": "reptile"}, "algo must be 'maml', 'fomaml' or 'anil', got 'reptile'"),
    ({"metaopt": "adamw"}, "metaopt must be 'none', .* or 'kfo-mlp', got 'adamw'"),
    ({"dataset": "mnist"}, "dataset must be 'synthetic', .* or 'mini-imagenet', got 'mnist'"),
    ({"algo": "anil", "first_order": True}, "first_order=True applies to algo='maml'"),
    ({"linnet_width": 0}, "linnet_width must be an integer >= 1, got 0"),
    ({"linnet_width": 64}, "linnet_width=64 sets the width of LinNet layers, but linnet=0"),
    ({"width": 3}, r"unknown config keys \['width'\]"),
    ({"task_chunk": 0}, r"task_chunk must be an integer >= 1, got 0"),
    ({"task_chunk": 5}, r"task_chunk=5 must be None \(automatic\) or an integer in 1\.\.4"),
    ({"task_chunk": 1.0}, r"task_chunk must be an integer >= 1, got 1.0"),
    ({"metaopt": "kfo", "metaopt_options": {"foo": 1}},
     "metaopt_options: unknown option 'foo' for meta-optimizer 'kfo'; valid options: psd"),
    ({"metaopt_options": {"conv": "in"}}, "unknown option 'conv' for meta-optimizer 'none'"),
    ({"metaopt": "kfo", "metaopt_options": {"conv": "mid"}}, "conv='mid' is not one of"),
    ({"metaopt": "kfo", "metaopt_options": [("psd", True)]},
     r"metaopt_options=\[\('psd', True\)\] must be a dict"),
])
def test_make_config_names_the_bad_value(bad, match):
    with pytest.raises(ValueError, match=match):
        training.make_config(**bad)


def test_train_options_are_the_config_fields(capsys):
    """``train``'s options come from ``config.FIELDS``: parsed defaults are the config defaults,
    and each option sets its field."""
    def parsed(*argv):
        args = cli.build_parser().parse_args(["train", "--out", "run", *argv])
        return run_config.make_config(**cli.train_config(args))

    assert parsed() == run_config.make_config()
    assert parsed("--inner-lr", "0.1", "--first-order", "--metaopt", "kfo", "--metaopt-option",
                  "psd=true", "--task-chunk", "2", "--linnet", "1", "--linnet-width", "8",
                  "--split-by", "character", "--patience", "2") == run_config.make_config(
        inner_lr=0.1, first_order=True, metaopt="kfo", metaopt_options={"psd": True},
        task_chunk=2, linnet=1, linnet_width=8, split_by="character", patience=2)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for field in run_config.FIELDS:
        flag = "--metaopt-option" if field.kind == "options" else \
            "--" + field.name.replace("_", "-")
        assert f"{flag} " in text, flag
        if field.default not in (None, False, {}):
            assert f"default: {field.default}" in text, field.name


def test_make_config_stores_every_metaopt_option():
    assert training.make_config()["metaopt_options"] == {}
    assert training.DEFAULTS["metaopt_options"] == {}
    config = training.make_config(metaopt="kfo-mlp", metaopt_options={"psd": True})
    assert config["metaopt_options"] == {"psd": True, "bias": False, "hidden": 2,
                                         "max_dim": 1024, "adapt_transform": False,
                                         "conv": "in", "vectors": "diagonal"}
    assert training.make_config(**config) == config     # idempotent: restore re-checks it


@pytest.mark.parametrize("name", ["kfo", "metasgd"])
def test_anil_meta_parameters_cover_only_the_head(name):
    """By hand, 2 conv layers of 4 channels on 8x8 images (features 4 x 2 x 2 = 16), 3 ways."""
    shape = {"layers": 2, "hidden": 4, "ways": 3, "linnet": 1, "linnet_width": 6}
    meta = {algo: run_config.init_meta_params(
        training.make_config(algo=algo, metaopt=name, **shape), (1, 8, 8),
        np.random.default_rng(0)) for algo in ("anil", "maml")}
    body = (4 * 9 + 4 + 8) + (4 * 4 * 9 + 4 + 8)       # convs with their bias and BN
    model = body + 6 * 16 + 3 * 6 + 3                    # LinNet (6, 16), head (3, 6) + 3
    if name == "kfo":   # L, R per matrix; a diagonal L per vector
        phi = (36 + 16 * 16) + (9 + 36) + 3
        body_phi = (1 + 81) + 3 * 4 + (16 + 81) + 3 * 4  # conv="in": 1 x 9, then 4 x 9 slices
    else:               # one step size per entry
        phi = 6 * 16 + 3 * 6 + 3
        body_phi = body
    anil = meta["anil"]["metaopt"]
    assert {k.rsplit("/", 1)[0] if name == "kfo" else k for k in anil} == {
        "lin1/w", "head/w", "head/b"}
    deployed = body + 3 * 16 + 3                          # LinNet collapsed into the head
    assert metaopt.count_parameters(meta["anil"]) == {"meta": model + phi,
                                                      "deployed": deployed}
    assert metaopt.count_parameters(meta["maml"]) == {"meta": model + phi + body_phi,
                                                      "deployed": deployed}


def test_checkpoint_from_before_metaopt_options_restores_with_its_layout(tmp_path):
    """Runs saved without ``metaopt_options`` used KFO's former conv="out" default."""
    config = dict(TINY, iterations=2, metaopt="kfo", metaopt_options={"conv": "out"})
    training.train(config, out_dir=tmp_path, progress=False)
    path = tmp_path / training.CHECKPOINT
    # n = O = 4 (conv="in": I = 1)
    assert checkpoint.load(path)["metaopt"]["conv1/w/L"].shape == (4, 4)
    save_without(path, "metaopt_options")
    restored, _, opt_obj, _ = checkpoint.restore(path)
    assert restored["metaopt_options"]["conv"] == opt_obj.options["conv"] == "out"
    resumed = training.train(dict(config, iterations=3), out_dir=tmp_path, resume=True,
                             progress=False)
    assert resumed["iterations_done"] == 3
    with pytest.raises(ValueError, match="it was run with metaopt_options=.*'conv': 'out'.*"
                                         "now metaopt_options=.*'conv': 'in'"):
        training.train(dict(config, iterations=4, metaopt_options={}), out_dir=tmp_path,
                       resume=True, progress=False)


def test_task_chunking_leaves_the_run_unchanged(tmp_path):
    """Chunks of 1 and 3 tasks (3 does not divide 4) against the whole batch.

    float32 summation order differs, and Adam's normalised steps amplify tiny differences of
    near-zero gradients, so the check is relative: the params differ by well under 1% of how
    far training moved them.
    """
    config = dict(TINY, meta_batch=4, iterations=4, val_every=2, checkpoint_every=4)
    assert training.make_config(**config)["task_chunk"] is None
    runs = {c: training.train(dict(config, task_chunk=c), out_dir=tmp_path / str(c),
                              progress=False) for c in (4, 1, 3)}
    ckpts = {c: checkpoint.load(tmp_path / str(c) / training.CHECKPOINT)["model"] for c in runs}
    init = run_config.init_meta_params(training.make_config(**config), (1, 28, 28),
                                     np.random.default_rng(run_config.seeds(5)["init"]))["model"]

    def norm(tree):
        return np.sqrt(sum(np.sum(np.asarray(v, np.float64) ** 2) for v in tree.values()))

    moved = norm({k: ckpts[4][k] - init[k] for k in init})
    assert moved > 1e-2
    for c in (1, 3):
        assert runs[c]["config"]["task_chunk"] == c
        assert norm({k: ckpts[c][k] - ckpts[4][k] for k in init}) < 1e-3 * moved
        assert runs[c]["test"]["accuracy"] == pytest.approx(runs[4]["test"]["accuracy"], abs=0.02)


@pytest.mark.parametrize("status, expected",
                         [("", "abc"), (" M theory/engine/cnn.py", "abc+dirty")])
def test_commit_is_marked_dirty_when_the_package_differs(monkeypatch, status, expected):
    def run(args, **kwargs):
        out = "abc" if args[1] == "rev-parse" else status
        return subprocess.CompletedProcess(args, 0, stdout=out + "\n", stderr="")
    monkeypatch.setattr(provenance.subprocess, "run", run)
    assert provenance.source_commit() == expected


def test_commit_is_unknown_without_git(monkeypatch):
    def run(args, **kwargs):
        raise FileNotFoundError("git")
    monkeypatch.setattr(provenance.subprocess, "run", run)
    assert provenance.source_commit() == "unknown"
