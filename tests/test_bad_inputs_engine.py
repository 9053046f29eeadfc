"""Catalogue of bad inputs for every ``python -m theory.engine`` sub-command.

Each row runs the real command line in a subprocess (``conftest.check_rejected``) and expects
exit status 2, one line on stderr naming the offending input, no traceback, and no file
created, changed or removed in the inputs or the working folder. The inputs are built once:
a small checkpoint and a task folder, then damaged copies of every kind of file the engine
reads (checkpoints, JSON answers, images, Omniglot zips, CIFAR-100 and mini-ImageNet
pickles). Rows never reach the dataset generation or a meta-step, so each costs one
interpreter start-up.
"""

import io
import json
import os
import pickle
import re
import shutil
import tempfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import check_rejected, untrained_checkpoint
from theory.engine import checkpoint
from theory.engine import train as training
from theory.engine.data import cifarfs

ENGINE = "theory.engine"


def _png(path, seed, size=28):
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _pickle(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj))


def _zip(path, members):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """``{name: path}`` of every good and damaged input of the catalogue."""
    root = tmp_path_factory.mktemp("inputs")
    p = {"root": root}
    # checkpoints: a good one, then damaged ones
    p["ckpt"] = root / "good.npz"
    untrained_checkpoint(p["ckpt"])
    p["omni_ckpt"] = root / "omniglot.npz"
    untrained_checkpoint(p["omni_ckpt"], dataset="omniglot")
    good = p["ckpt"].read_bytes()
    for name, content in {"empty": b"", "cut": good[:100], "half": good[:len(good) // 2],
                          "text": b"this is not a checkpoint\n",
                          "pickled": pickle.dumps({"model": 1})}.items():
        p[f"ckpt_{name}"] = root / f"ckpt-{name}.npz"
        p[f"ckpt_{name}"].write_bytes(content)
    p["ckpt_objects"] = root / "ckpt-objects.npz"
    np.savez(p["ckpt_objects"], __meta__=np.array([{"format": 1}], dtype=object))
    p["ckpt_plain"] = root / "ckpt-plain.npz"
    np.savez(p["ckpt_plain"], w=np.ones(3))
    # well-formed archives with wrong contents: no input shape, a config that is no dict, NaN
    c = checkpoint.load(p["ckpt"])
    fields = dict(metaopt=c["metaopt"], adam={}, iteration=0, rng_state=c["rng_state"])
    for name, model, config, extra in (
            ("shapeless", c["model"], c["config"], {}),
            ("listconfig", c["model"], [1], c["extra"]),
            ("nan", dict(c["model"], **{"head/b": c["model"]["head/b"] * np.nan}),
             c["config"], c["extra"])):
        p[f"ckpt_{name}"] = root / f"ckpt-{name}.npz"
        checkpoint.save(p[f"ckpt_{name}"], model=model, config=config, extra=extra, **fields)
    # a task: 3 classes of 1 image, 2 query images; then damaged images
    task = root / "task"
    for k in range(3):
        _png(task / "support" / f"class{k}" / "0.png", k)
    for j in range(2):
        _png(task / "query" / f"{j}.png", 10 + j)
    p["support"], p["query"] = task / "support", task / "query"
    png = (task / "query" / "0.png").read_bytes()
    for name, content in {"empty": b"", "garbage": b"\x89PNG\r\n\x1a\n garbage",
                          "cut": png[:60]}.items():
        bad = root / f"support-{name}"
        shutil.copytree(p["support"], bad)
        (bad / "class1" / "0.png").write_bytes(content)
        p[f"support_{name}"] = bad
        p[f"support_{name}_file"] = bad / "class1" / "0.png"
        badq = root / f"query-{name}"
        shutil.copytree(p["query"], badq)
        (badq / "1.png").write_bytes(content)
        p[f"query_{name}"], p[f"query_{name}_file"] = badq, badq / "1.png"
    p["one_class"] = root / "one-class"
    _png(p["one_class"] / "class0" / "0.png", 0)
    p["five_classes"] = root / "five-classes"
    for k in range(5):
        _png(p["five_classes"] / f"class{k}" / "0.png", k)
    # answers files
    for name, content in {"list": b"[1, 2]", "empty": b"", "cut": b'{"answers": {"0.png"',
                          "binary": b"\xff\xfe\x00\x01", "keyless": b'{"kind": "x"}',
                          "numbers": b'{"answers": {"0.png": 3, "1.png": 4}}'}.items():
        p[f"answers_{name}"] = root / f"answers-{name}.json"
        p[f"answers_{name}"].write_bytes(content)
    # outputs that exist: a file, a finished run, a written episode
    p["file"] = root / "a-file"
    p["file"].write_text("keep me\n")
    p["run"] = root / "run"
    p["run"].mkdir()
    shutil.copy(p["ckpt"], p["run"] / training.CHECKPOINT)
    (p["run"] / training.RESULTS).write_text('{"kind": "engine-run"}\n')
    p["episode"] = root / "episode"
    shutil.copytree(task, p["episode"])
    (p["episode"] / "answers.json").write_text('{"answers": {}}\n')
    # Omniglot zips
    member = "images_background/Alpha/character01/0101_01.png"
    buffer = io.BytesIO()
    Image.new("L", (105, 105), 255).save(buffer, format="PNG")
    p["omni_badpng"] = root / "omni-badpng"
    _zip(p["omni_badpng"] / "images_background.zip", {member: b"\x89PNG garbage"})
    p["omni_cut"] = root / "omni-cut"
    _zip(p["omni_cut"] / "full.zip", {member: buffer.getvalue()})
    zipped = (p["omni_cut"] / "full.zip").read_bytes()
    (p["omni_cut"] / "full.zip").unlink()
    (p["omni_cut"] / "images_background.zip").write_bytes(zipped[:len(zipped) // 2])
    p["omni_empty"] = root / "omni-empty"
    p["omni_empty"].mkdir()
    (p["omni_empty"] / "images_background.zip").write_bytes(b"")
    p["omni_nothing"] = root / "omni-nothing"
    p["omni_nothing"].mkdir()
    p["omni_dir"] = root / "omni-dir"
    (p["omni_dir"] / "images_background.zip").mkdir(parents=True)
    # CIFAR-100 pickles
    names = {b"fine_label_names": [c.encode() for c in cifarfs.CIFAR100_CLASSES]}
    table = {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 1]}
    for name, files in {"empty": {"meta": b"", "train": b"", "test": b""},
                        "cut": {"meta": pickle.dumps(names)[:50]},
                        "list": {"meta": pickle.dumps([1, 2, 3])},
                        "shape": {"train": pickle.dumps({b"data": np.zeros((2, 5), np.uint8),
                                                         b"fine_labels": [0, 1]})}}.items():
        folder = root / f"cifar-{name}" / "cifar-100-python"
        folder.mkdir(parents=True)
        for part in ("meta", "train", "test"):
            content = files.get(part, pickle.dumps(names if part == "meta" else table))
            (folder / part).write_bytes(content)
        p[f"cifar_{name}"] = folder.parent
    p["cifar_dir"] = root / "cifar-dir"
    (p["cifar_dir"] / "cifar-100-python" / "train").mkdir(parents=True)
    # mini-ImageNet pickles
    for name, obj in {"list": [1, 2], "keyless": {"images": 1},
                      "float": {"image_data": np.zeros((2, 4, 4, 3)),
                                "class_dict": {"n01": [0, 1]}},
                      "index": {"image_data": np.zeros((2, 4, 4, 3), np.uint8),
                                "class_dict": {"n01": [0, 7]}}}.items():
        p[f"mini_{name}"] = root / f"mini-{name}"
        _pickle(p[f"mini_{name}"] / "mini-imagenet-cache-train.pkl", obj)
    p["mini_empty"] = root / "mini-empty"
    p["mini_empty"].mkdir()
    (p["mini_empty"] / "mini-imagenet-cache-train.pkl").write_bytes(b"")
    p["mini_dir"] = root / "mini-dir"
    (p["mini_dir"] / "mini-imagenet-cache-train.pkl").mkdir(parents=True)
    p["mini_cut"] = root / "mini-cut"
    _pickle(p["mini_cut"] / "mini-imagenet-cache-train.pkl", {"image_data": np.zeros(
        (2, 4, 4, 3), np.uint8), "class_dict": {"n01": [0, 1]}})
    data = (p["mini_cut"] / "mini-imagenet-cache-train.pkl").read_bytes()
    (p["mini_cut"] / "mini-imagenet-cache-train.pkl").write_bytes(data[:len(data) // 2])
    return {k: str(v) for k, v in p.items()}


TRAIN = ["train", "--layers", "1", "--hidden", "4", "--iterations", "1", "--no-progress"]
EVAL = ["eval", "--checkpoint", "{ckpt}", "--episodes", "2", "--no-progress"]
ADAPT = ["adapt", "--checkpoint", "{ckpt}", "--support", "{support}", "--query", "{query}"]
EPISODE = ["episode", "--dataset", "synthetic"]
BENCH = ["bench", "--layers", "1", "--hidden", "4", "--repeats", "1"]


def _row(case, argv, *names):
    return pytest.param(argv, names, id=case)


CATALOGUE = [
    # damaged checkpoints, to eval and adapt
    *[_row(f"{cmd}-ckpt-{kind}", [*base[:2], "{ckpt_%s}" % kind, *base[3:]], "{ckpt_%s}" % kind,
           "not a theory.engine checkpoint")
      for cmd, base, kinds in (
          ("eval", EVAL, ("empty", "cut", "half", "text", "pickled", "objects", "plain")),
          ("adapt", ADAPT, ("cut", "text")))     # the same reader: a sample is enough
      for kind in kinds],
    _row("eval-ckpt-shapeless", [*EVAL[:2], "{ckpt_shapeless}"], "{ckpt_shapeless}",
         "in_shape"),
    _row("eval-ckpt-listconfig", [*EVAL[:2], "{ckpt_listconfig}"], "{ckpt_listconfig}",
         "config is [1]"),
    _row("adapt-ckpt-nan", [*ADAPT[:2], "{ckpt_nan}", *ADAPT[3:]], "{ckpt_nan}",
         "non-finite values in model/head/b"),
    _row("eval-ckpt-missing", ["eval", "--checkpoint", "{root}/none.npz"], "{root}/none.npz"),
    _row("eval-ckpt-dir", ["eval", "--checkpoint", "{root}"], "{root}", "is a directory"),
    _row("adapt-ckpt-dir", [*ADAPT[:2], "{task}", *ADAPT[3:]], "{task}", "is a directory"),
    # images, folders given as files and the other way round
    *[_row(f"adapt-{part}-{kind}", [*ADAPT, "--" + part, "{%s_%s}" % (part, kind)],
           "{%s_%s_file}" % (part, kind), "cannot read image file")
      for part in ("support", "query") for kind in ("empty", "garbage", "cut")],
    _row("adapt-support-file", [*ADAPT, "--support", "{file}"], "{file}", "is a file"),
    _row("adapt-query-file", [*ADAPT, "--query", "{file}"], "{file}", "is a file"),
    _row("adapt-query-classes", [*ADAPT, "--query", "{support}"], "{support}",
         "holds sub-folders"),
    _row("adapt-one-class", [*ADAPT, "--support", "{one_class}"], "{one_class}",
         "1 class sub-folder"),
    _row("adapt-more-classes", [*ADAPT, "--support", "{five_classes}"], "{five_classes}",
         "3-way model", "--ways 5"),
    # answers files
    *[_row(f"adapt-answers-{kind}", [*ADAPT, "--answers", "{answers_%s}" % kind],
           "{answers_%s}" % kind, "answers file")
      for kind in ("list", "empty", "cut", "binary", "keyless", "numbers")],
    _row("adapt-answers-dir", [*ADAPT, "--answers", "{root}"], "{root}", "is a directory"),
    _row("adapt-answers-missing", [*ADAPT, "--answers", "{root}/none.json"],
         "{root}/none.json", "does not exist"),
    # outputs: unwritable, a file, an existing run or episode (never overwritten)
    _row("train-out-file", [*TRAIN, "--out", "{file}"], "{file}", "is a file"),
    _row("train-out-under-file", [*TRAIN, "--out", "{file}/run"], "{file}/run"),
    _row("train-out-existing-run", [*TRAIN, "--out", "{run}"], "{run}", "--resume"),
    _row("train-resume-nothing", [*TRAIN, "--out", "{root}/fresh", "--resume"],
         "{root}/fresh", "--resume"),
    _row("episode-out-file", [*EPISODE, "--out", "{file}"], "{file}", "is a file"),
    _row("episode-out-under-file", [*EPISODE, "--out", "{file}/task"], "{file}/task"),
    _row("episode-out-existing", [*EPISODE, "--out", "{episode}"], "{episode}",
         "already exists"),
    # datasets read through --data: Omniglot zips, CIFAR-100 and mini-ImageNet pickles
    *[_row(f"{cmd}-omniglot-{kind}", [*base, "--dataset", "omniglot", "--data",
                                      "{omni_%s}" % kind, "--out", "{root}/new"],
           "{omni_%s}" % kind)
      for cmd, base, kinds in (("train", TRAIN, ("badpng", "cut", "empty", "nothing", "dir")),
                               ("episode", EPISODE[:1], ("badpng", "cut")))
      for kind in kinds],
    _row("eval-omniglot-badpng", [*EVAL[:2], "{omni_ckpt}", "--data", "{omni_badpng}"],
         "{omni_badpng}"),
    _row("train-omniglot-file", [*TRAIN, "--dataset", "omniglot", "--data", "{file}",
                                 "--out", "{root}/new"], "{file}"),
    *[_row(f"{cmd}-cifarfs-{kind}", [*base, "--dataset", "cifarfs", "--data",
                                     "{cifar_%s}" % kind, "--out", "{root}/new"],
           "{cifar_%s}" % kind)
      for cmd, base, kinds in (("train", TRAIN, ("empty", "cut", "list", "shape", "dir")),
                               ("episode", EPISODE[:1], ("cut",)))
      for kind in kinds],
    *[_row(f"{cmd}-mini-{kind}", [*base, "--dataset", "mini-imagenet", "--data",
                                  "{mini_%s}" % kind, "--out", "{root}/new"],
           "{mini_%s}" % kind)
      for cmd, base, kinds in (("train", TRAIN, ("list", "keyless", "float", "index", "cut",
                                                 "empty", "dir")),
                               ("episode", ["episode", "--split", "train"], ("cut",)))
      for kind in kinds],
    _row("eval-synthetic-data", [*EVAL, "--data", "{root}"], "--data {root}",
         "synthetic benchmark"),
    _row("train-synthetic-data", [*TRAIN, "--data", "{root}", "--out", "{root}/new"],
         "--data {root}", "synthetic benchmark"),
    # out-of-range and non-finite numbers
    *[_row(f"train{flag}={value}", [*TRAIN, flag, value, "--out", "{root}/new"], flag,
           repr(value))
      for flag, value in (("--inner-lr", "nan"), ("--meta-lr", "inf"), ("--inner-lr", "-1"),
                          ("--meta-lr", "0"), ("--ways", "1"), ("--shots", "0"),
                          ("--iterations", "-1"), ("--seed", "nan"), ("--task-chunk", "0"))],
    _row("train-task-chunk-over-batch", [*TRAIN, "--task-chunk", "9", "--out", "{root}/new"],
         "task_chunk=9"),
    *[_row(f"eval{flag}={value}", [*EVAL, flag, value], flag, repr(value))
      for flag, value in (("--episodes", "0"), ("--steps", "-1"), ("--episodes", "inf"))],
    *[_row(f"eval{flag}={value}", [*EVAL, flag, value], flag, repr(value))
      for flag, value in (("--curve", "-1"), ("--curve", "nan"))],
    *[_row(f"train{flag}={value}", [*TRAIN, flag, value, "--out", "{root}/new"], flag, value)
      for flag, value in (("--patience", "-1"), ("--meta-lr-schedule", "step"),
                          ("--split-by", "drawer"))],
    *[_row(f"adapt{flag}={value}", [*ADAPT, flag, value], flag, repr(value))
      for flag, value in (("--steps", "-1"), ("--steps", "nan"))],
    *[_row(f"bench{flag}={value}", [*BENCH, flag, value], flag, repr(value))
      for flag, value in (("--repeats", "0"), ("--ways", "1"), ("--meta-batch", "-1"),
                          ("--hidden", "nan"))],
    *[_row(f"episode{flag}={value}", [*EPISODE, flag, value, "--out", "{root}/new"], flag,
           repr(value))
      for flag, value in (("--ways", "1"), ("--shots", "0"), ("--query", "inf"),
                          ("--seed", "-1"))],
    # episode sizes beyond the dataset: refused against it before anything is written (they
    # cannot drive more memory than the dataset's own images)
    _row("episode-ways-huge", [*EPISODE, "--ways", "100000", "--out", "{root}/new"],
         "ways=100000", "256 classes", "valid: 1..256"),
    *[_row(f"episode{flag}=huge", [*EPISODE, "--split", "train", flag, value, "--out",
                                   "{root}/new"], value, "need shots + query <= 20")
      for flag, value in (("--shots", "100000"), ("--query", "1000000000"))],
    # contradictory options
    _row("train-patience-one-round", [*TRAIN, "--patience", "2", "--val-every", "50",
                                      "--iterations", "50", "--out", "{root}/new"],
         "patience=2", "val_every=50"),
    _row("train-linnet-width-alone", [*TRAIN, "--linnet-width", "64", "--out", "{root}/new"],
         "linnet_width=64", "linnet=0"),
    _row("train-anil-first-order", [*TRAIN, "--algo", "anil", "--first-order",
                                    "--out", "{root}/new"], "first_order=True"),
    _row("train-option-without-metaopt", [*TRAIN, "--metaopt-option", "psd=true",
                                          "--out", "{root}/new"], "psd", "takes no options"),
    _row("train-option-twice", [*TRAIN, "--metaopt", "kfo", "--metaopt-option", "psd=true",
                                "--metaopt-option", "psd=false", "--out", "{root}/new"],
         "psd given twice"),
    _row("eval-curve-and-steps", [*EVAL, "--curve", "3", "--steps", "2"], "--steps 2",
         "--curve 3"),
    *[_row(f"{cmd}-split-by-alphabet", [*base, "--split-by", "alphabet", "--out", "{root}/new"],
           "split_by='alphabet'", "omniglot only")
      for cmd, base in (("train", TRAIN), ("episode", EPISODE))],
    _row("eval-other-metaopt", [*EVAL, "--metaopt", "kfo"], "--metaopt kfo", "(valid: none)"),
    _row("adapt-other-metaopt", [*ADAPT, "--metaopt", "tnet"], "--metaopt tnet"),
    _row("bench-anil-first-order", [*BENCH, "--algo", "anil", "--first-order"],
         "first_order=True"),
    _row("no-command", [], "command"),
]


@pytest.mark.parametrize("argv, names", CATALOGUE)
def test_bad_input_is_refused_cleanly(argv, names, inputs, tmp_path):
    fill = dict(inputs, task=os.path.join(inputs["root"], "task"))
    argv = [a.format(**fill) for a in argv]
    message = check_rejected([ENGINE, *argv], watch=[inputs["root"], tmp_path],
                             names=[n.format(**fill) for n in names], cwd=tmp_path,
                             env={"THEORY_CACHE_DIR": "off"})
    assert not re.search(r"<[\w.]+ object at 0x[0-9a-f]+>", message), message


def _unwritable(folder):
    """True if no file can be created in ``folder`` (root writes through permission bits)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder):
            return False
    except OSError:
        return True


@pytest.mark.parametrize("command", [[*TRAIN, "--out"], [*EPISODE, "--out"]],
                         ids=["train", "episode"])
def test_unwritable_output_is_found_before_any_work(command, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        folders = [f for f in (str(locked), "/sys") if os.path.isdir(f) and _unwritable(f)]
        if not folders:
            pytest.skip("no unwritable folder here (running as root, /sys writable)")
        for folder in folders:
            out = os.path.join(folder, "run")
            check_rejected([ENGINE, *command, out], watch=[tmp_path], names=[out],
                           cwd=tmp_path)
    finally:
        locked.chmod(0o755)
