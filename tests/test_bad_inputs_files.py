"""Bad-input catalogue of the files the project reads back: records, searches, the checkpoint
index, checkpoints, answers, images; FIFOs and devices where files are expected; names that
would leave their folder; names that would forge text output.

Every row builds its damaged file in ``tmp_path`` and runs the real command line in a
subprocess with a timeout (``conftest.check_rejected``), so a reader that hangs fails the row. A damaged
record is neither "done" nor a crash: ``status`` says ``damaged`` naming the file and the
field, ``summary`` refuses in one line naming both.
"""

import io
import json
import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import ROOT, check_rejected, run_cli, untrained_checkpoint
from theory import _io
from theory.paper import budgets, cells, records, render
from theory.paper import plan as planning

TINY = ["--budget", "tiny", "--datasets", "synthetic", "--only", "table-a", "--methods", "maml",
        "--layers", "2", "--seeds", "1"]


def _run():
    return planning.make_plan("tiny", tables=("table-a",), datasets=("synthetic",),
                              methods=("maml",), layers=(2,), seeds=1)[0]


def good_record(run):
    """A record that fits the schema: what the sweep writes for ``run``, in small."""
    inner, meta = budgets.budget("tiny")["default_lr"]
    return {"kind": "engine-run", "config": dict(run.config, inner_lr=inner, meta_lr=meta),
            "seed": 0,
            "test": {"accuracy": 0.5, "ci95": 0.1, "episodes": 10},
            "validation": [[run.config["iterations"], 0.5]],
            "sweep": {"budget": "tiny", "table": run.table, "method": run.method,
                      "run": run.name}}


def _deep(n):
    return "[" * n + "]" * n


TAMPERED = [   # (case, change to the good record's JSON text or object, field named)
    ("seed-text", lambda r: dict(r, seed="x"), "field seed is 'x'"),
    ("seed-missing", lambda r: {k: v for k, v in r.items() if k != "seed"}, "field seed"),
    ("accuracy-nan", lambda r: dict(r, test=dict(r["test"], accuracy=float("nan"))),
     "field test.accuracy is nan"),
    ("test-null", lambda r: dict(r, test=None), "field test is None"),
    ("kind-missing", lambda r: {k: v for k, v in r.items() if k != "kind"}, "field kind"),
    ("kind-number", lambda r: dict(r, kind=5), "field kind is 5"),
    ("config-null", lambda r: dict(r, config=None), "field config is None"),
    ("config-list", lambda r: dict(r, config=[1]), "field config is [1]"),
    ("iterations-text", lambda r: dict(r, config=dict(r["config"], iterations="4")),
     "field config.iterations is '4'"),
    ("iterations-missing", lambda r: dict(r, config={k: v for k, v in r["config"].items()
                                                     if k != "iterations"}),
     "field config.iterations is missing"),
    ("validation-text", lambda r: dict(r, validation="high"), "field validation is 'high'"),
    ("sweep-text", lambda r: dict(r, sweep="tiny"), "field sweep is 'tiny'"),
    ("split-escapes", lambda r: dict(r, config=dict(r["config"], split_by="../../../x")),
     "field config.split_by"),
    ("failure-status", lambda r: dict(r, kind="engine-run-failed", status=3),
     "field status is 3"),
    ("nested-deep", lambda r: json.dumps(r)[:-1] + ', "extra": ' + _deep(100) + "}",
     "nested deeper than 32 levels"),
    ("nested-100000", lambda r: json.dumps(r)[:-1] + ', "extra": ' + _deep(100_000) + "}",
     "not valid JSON"),
    ("truncated", lambda r: json.dumps(r)[:40], "not valid JSON"),
    ("array", lambda r: [r], "holds a JSON array"),
]


def _write_tampered(tmp_path, change):
    run = _run()
    path = tmp_path / "results" / run.table / run.dataset / f"{run.name}.json"
    path.parent.mkdir(parents=True)
    changed = change(good_record(run))
    path.write_text(changed if isinstance(changed, str) else json.dumps(changed))
    return path


def test_the_good_record_counts_as_done(tmp_path):
    path = _write_tampered(tmp_path, lambda r: r)
    proc = run_cli(["theory.paper", "status", *TINY, "--results", tmp_path / "results",
                    "--runs", tmp_path / "runs"], timeout=120)
    assert proc.returncode == 0 and proc.stdout.splitlines()[0].split()[-1] == "done", \
        proc.stdout
    assert records.damage(tmp_path / "results", tmp_path / "runs", "tiny", _run()) is None
    assert path.exists()


def _is_record(changed):
    """Whether the cells read ``changed`` as a record: JSON text that may be one, or an
    object of a record kind (JSON of no record kind, an index say, is not theirs)."""
    return isinstance(changed, str) or isinstance(changed, dict) and changed.get("kind") in (
        "engine-run", "engine-run-failed")


@pytest.mark.parametrize("change, field", [pytest.param(c, f, id=i) for i, c, f in TAMPERED])
def test_a_tampered_record_is_damaged_not_done_nor_a_crash(change, field, tmp_path):
    path = _write_tampered(tmp_path, change)
    results, runs = tmp_path / "results", tmp_path / "runs"
    assert records.status(results, runs, "tiny", _run()) == "damaged"
    why = records.damage(results, runs, "tiny", _run())
    assert str(path) in why and field in why and "\n" not in why, why
    if _is_record(change(good_record(_run()))):
        with pytest.raises(ValueError, match=re.escape(str(path))) as err:
            cells.load(results)
        assert field in str(err.value)


@pytest.mark.parametrize("case", ["seed-text", "accuracy-nan", "nested-100000"])
def test_status_and_summary_say_which_record_is_damaged(case, tmp_path):
    change, field = next((c, f) for i, c, f in TAMPERED if i == case)
    path = _write_tampered(tmp_path, change)
    proc = run_cli(["theory.paper", "status", *TINY, "--results", tmp_path / "results",
                    "--runs", tmp_path / "runs"], timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    line = proc.stdout.splitlines()[0]
    assert " damaged (record " in line and str(path) in line and field in line, line
    check_rejected(["theory.paper", "summary", "--results", tmp_path / "results",
                    "--datasets", "synthetic"], watch=[tmp_path], names=[path, field])


def test_a_record_that_is_a_fifo_is_damaged_not_waited_on(tmp_path):
    run = _run()
    path = tmp_path / "results" / run.table / run.dataset / f"{run.name}.json"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    proc = run_cli(["theory.paper", "status", *TINY, "--results", tmp_path / "results",
                    "--runs", tmp_path / "runs"], timeout=120)
    assert proc.returncode == 0 and "is a FIFO" in proc.stdout and "damaged" in proc.stdout
    check_rejected(["theory.paper", "summary", "--results", tmp_path / "results",
                    "--datasets", "synthetic"], watch=[tmp_path], names=[path, "FIFO"])


LR_SEARCH = [
    ("points-text", {"points": "many"}, "field points is 'many'"),
    ("point-lr-text", {"points": [{"run": "r", "method": "maml", "inner_lr": "big",
                                   "meta_lr": 0.1, "iterations": 4, "val_accuracy": 0.5,
                                   "status": "ok"}]}, "field points[0].inner_lr is 'big'"),
    ("point-missing", {"points": [{"run": "r"}]}, "field points[0].method is missing"),
    ("winners-list", {"winners": [1]}, "field winners is [1]"),
    ("winner-accuracy", {"winners": {"maml": {"inner_lr": 0.1, "meta_lr": 0.1,
                                              "val_accuracy": 7}}},
     "field winners.maml.val_accuracy is 7"),
]


@pytest.mark.parametrize("change, field", [pytest.param(c, f, id=i) for i, c, f in LR_SEARCH])
def test_a_damaged_lr_search_is_one_line_naming_the_field(change, field, tmp_path):
    path = tmp_path / "results" / "lr-search" / "synthetic.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"kind": "lr-search", "dataset": "synthetic", "budget": "tiny",
                                "points": [], "winners": {}, **change}))
    for command in ("status", "plan"):
        check_rejected(["theory.paper", command, *TINY, "--results", tmp_path / "results",
                        "--runs", tmp_path / "runs"], watch=[tmp_path], names=[path, field])


@pytest.mark.parametrize("entry, field", [
    ({"run": "r", "val_accuracy": 0.5, "test": {"accuracy": 0.5}, "config": {}},
     "test.ci95 is missing"),
    ({"run": "r", "val_accuracy": "high", "test": {}, "config": {}},
     "val_accuracy is 'high'"),
    ("a file", "is 'a file'"),
], ids=["no-ci95", "accuracy-text", "entry-text"])
def test_a_damaged_checkpoint_index_names_the_field(entry, field, tmp_path):
    path = tmp_path / "checkpoints" / "index.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"omniglot-5w5s-2layer.npz": entry}))
    with pytest.raises(ValueError, match="checkpoint index .*index.json: field "
                       "omniglot-5w5s-2layer.npz.*" + field.replace("(", r"\(")):
        render.render_checkpoints(tmp_path)


def test_a_checkpoint_name_from_the_index_may_not_leave_its_folder(tmp_path):
    path = tmp_path / "checkpoints" / "index.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"../../evil.npz": {}}))
    with pytest.raises(ValueError, match=r"field  key is '\.\./\.\./evil\.npz'|key"):
        render.render_checkpoints(tmp_path)


def test_a_record_that_escapes_its_folder_writes_nothing_outside(tmp_path):
    """A 20-way record whose ``split_by`` climbs out of ``results/`` is damaged: the checkpoint
    copy skips it and writes nothing anywhere."""
    run = [r for r in planning.make_plan("tiny", datasets=("omniglot",), tables=("checkpoints",),
                                         checkpoints=True, layers=(2,), seeds=1)
           if r.table == "checkpoints"][0]
    results, runs = tmp_path / "top" / "results", tmp_path / "top" / "runs"
    path = results / run.table / run.dataset / f"{run.name}.json"
    path.parent.mkdir(parents=True)
    rec = good_record(run)
    rec["config"]["split_by"] = "../../../../escaped"
    path.write_text(json.dumps(rec))
    before = sorted(p for p in tmp_path.rglob("*"))
    assert records.copy_checkpoints(results, runs, "tiny", [run]) == {}
    assert sorted(p for p in tmp_path.rglob("*")) == before


@given(st.text(max_size=20))
def test_inside_never_leaves_its_folder(name):
    folder = "/tmp/theory-inside-test"
    try:
        path = _io.inside(folder, name)
    except ValueError:
        return
    assert os.path.dirname(path) == os.path.realpath(folder) and _io.safe_name(name)


# --- checkpoints and answers ----------------------------------------------------------------

def _forged(path, meta=None, entry=None):
    """A copy of the checkpoint at ``path`` with its ``__meta__`` text or one array entry's
    bytes replaced."""
    out = path.with_name(path.stem + "-forged.npz")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if meta is not None and info.filename == "__meta__.npy":
                buffer = io.BytesIO()
                np.save(buffer, np.array(meta))
                data = buffer.getvalue()
            if entry is not None and info.filename == entry[0]:
                data = entry[1]
            dst.writestr(info, data)
    return out


def _huge_header():
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (10 ** 12,)})
    return buffer.getvalue() + b"\0" * 64


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.npz"
    untrained_checkpoint(path)
    return path


def _meta(path):
    with np.load(path) as npz:
        return json.loads(str(npz["__meta__"]))


CHECKPOINTS = [
    ("meta-deep", lambda m: json.dumps(dict(m, config=dict(m["config"], x=json.loads(
        _deep(50))))), "nested deeper than 32 levels"),
    ("meta-100000-deep", lambda m: json.dumps(m)[:-1] + ', "x": ' + _deep(100_000) + "}",
     "nested too deeply"),
    ("validation-text", lambda m: json.dumps(dict(m, validation="x")),
     "field validation is 'x'"),
    ("rng-list", lambda m: json.dumps(dict(m, rng_state=[1])), "field rng_state is [1]"),
    ("in-shape-text", lambda m: json.dumps(dict(m, extra=dict(m["extra"], in_shape="big"))),
     "field extra.in_shape is 'big'"),
    ("trees-missing", lambda m: json.dumps({k: v for k, v in m.items() if k != "trees"}),
     "field trees is missing"),
]


@pytest.mark.parametrize("change, field", [pytest.param(c, f, id=i) for i, c, f in CHECKPOINTS])
def test_a_checkpoint_with_damaged_metadata_is_one_line(change, field, ckpt):
    bad = _forged(ckpt, meta=change(_meta(ckpt)))
    check_rejected(["theory.engine", "eval", "--checkpoint", bad, "--episodes", "2",
                    "--no-progress"], watch=[bad.parent], names=[bad, field])


def test_a_checkpoint_array_that_claims_10_to_the_12_elements_is_refused(ckpt):
    bad = _forged(ckpt, entry=("model/head/b.npy", _huge_header()))
    check_rejected(["theory.engine", "eval", "--checkpoint", bad, "--episodes", "2",
                    "--no-progress"], watch=[bad.parent],
                   names=[bad, "model/head/b.npy", "(1000000000000,)"])


@pytest.mark.parametrize("what", ["checkpoint", "answers"])
def test_a_fifo_given_as_a_file_is_refused_not_waited_on(what, ckpt, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    task = tmp_path / "task"
    for k in range(2):
        (task / "support" / f"c{k}").mkdir(parents=True)
        _png(task / "support" / f"c{k}" / "0.png", k)
    (task / "query").mkdir()
    _png(task / "query" / "q.png", 5)
    argv = ["theory.engine", "adapt", "--checkpoint", fifo if what == "checkpoint" else ckpt,
            "--support", task / "support", "--query", task / "query"]
    if what == "answers":
        argv += ["--answers", fifo]
    check_rejected(argv, watch=[tmp_path], names=[fifo, "is a FIFO"], timeout=120)


def _png(path, seed):
    from PIL import Image
    pixels = np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def test_fifos_among_images_are_skipped(ckpt, tmp_path):
    """A FIFO in a support class folder, the query folder and an Omniglot folder is not an
    image: the readers skip it instead of blocking on it."""
    task = tmp_path / "task"
    for k in range(2):
        (task / "support" / f"c{k}").mkdir(parents=True)
        _png(task / "support" / f"c{k}" / "0.png", k)
    os.mkfifo(task / "support" / "c0" / "1.png")
    (task / "query").mkdir()
    _png(task / "query" / "q.png", 5)
    os.mkfifo(task / "query" / "r.png")
    proc = run_cli(["theory.engine", "adapt", "--checkpoint", ckpt, "--support",
                    task / "support", "--query", task / "query"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [line.split("\t")[0] for line in proc.stdout.splitlines()] == [
        str(task / "query" / "q.png")]
    omniglot = tmp_path / "omniglot" / "Alpha"
    for c in range(2):
        (omniglot / f"character0{c}").mkdir(parents=True)
        _png(omniglot / f"character0{c}" / f"0{c}_01.png", c)
    os.mkfifo(omniglot / "character00" / "00_02.png")
    code = ("from theory.engine.data import omniglot; print(len(omniglot.decoded("
            f"omniglot._fingerprint({str(tmp_path / 'omniglot')!r}))[0]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, THEORY_CACHE_DIR="off",
                                                PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0 and proc.stdout.strip() == "2", proc.stderr


def test_class_folder_names_cannot_forge_adapt_output(ckpt, tmp_path):
    """Folder names holding a newline or a tab print escaped: one line of two columns per
    query image."""
    task = tmp_path / "task"
    names = ["cat\nfake.png\tdog", "tab\there", "esc\x1b[2J"]
    for k, name in enumerate(names):
        (task / "support" / name).mkdir(parents=True)
        _png(task / "support" / name / "0.png", k)
    (task / "query").mkdir()
    for j in range(2):
        _png(task / "query" / f"{j}.png", 10 + j)
    proc = run_cli(["theory.engine", "adapt", "--checkpoint", ckpt, "--support",
                    task / "support", "--query", task / "query"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all(line.count("\t") == 1 for line in lines), lines
    shown = {"cat\\nfake.png\\tdog", "tab\\there", "esc\\x1b[2J"}
    assert all(line.split("\t")[1] in shown for line in lines), lines
    assert "\x1b" not in proc.stdout + proc.stderr
