"""Bad-input catalogue of ``python -m theory.paper``: exit 2, one line naming the input, no
traceback, no file changed (``conftest.check_rejected``). The parser's own range checks
(``--seeds 0``, ``--layers two``, ...) are exercised in-process by ``test_paper_sweep``."""

import json

import pytest

from conftest import ROOT, check_rejected

COMMITTED = (ROOT / "results", ROOT / "README.md", ROOT / "paper_repro.md")


@pytest.fixture
def place(tmp_path):
    """A scratch folder with a regular file, damaged records and a results folder."""
    (tmp_path / "a-file").write_text("not a folder\n")
    search = tmp_path / "bad-search" / "lr-search"
    search.mkdir(parents=True)
    (search / "synthetic.json").write_text('{"kind": "lr-se')
    listed = tmp_path / "list-search" / "lr-search"
    listed.mkdir(parents=True)
    (listed / "synthetic.json").write_text(json.dumps([1, 2]))
    record = tmp_path / "bad-record" / "table-a" / "omniglot"
    record.mkdir(parents=True)
    (record / "maml-L2-s0.json").write_text('{"kind": "engine-run", "config": {}}')
    return tmp_path


SMOKE = ["--budget", "smoke", "--results", "{place}/r", "--runs", "{place}/w"]
CASES = [
    (["run", "--budget", "huge"], ["--budget", "'huge'"]),
    (["plan", "--datasets", "cifarfs"], ["cifarfs", "--data cifarfs=PATH"]),
    (["plan", "--budget", "tiny", "--seeds", "100000000"], ["100000000", "1000"]),
    (["plan", "--data", "cifarfs"], ["--data", "'cifarfs'"]),
    (["plan", "--data", "imagenet=/x"], ["imagenet"]),
    (["run", *SMOKE, "--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"],
     ["--jobs 2", "--scheduler tcp://127.0.0.1:1"]),
    (["run", *SMOKE, "--scheduler", "nonsense"], ["--scheduler nonsense"]),
    (["status", "--budget", "smoke", "--results", "{place}/a-file"], ["a-file"]),
    (["run", "--budget", "smoke", "--results", "{place}/a-file/x", "--runs", "{place}/w"],
     ["--results", "a-file"]),
    (["run", "--budget", "smoke", "--results", "/sys/theory-out", "--runs", "{place}/w"],
     ["--results /sys/theory-out"]),
    (["plan", "--budget", "smoke", "--results", "{place}/bad-search"],
     ["bad-search/lr-search/synthetic.json"]),
    (["status", "--budget", "smoke", "--results", "{place}/list-search"],
     ["list-search/lr-search/synthetic.json", "JSON array"]),
    (["summary", "--results", "{place}/bad-record"], ["maml-L2-s0.json"]),
    (["summary", "--datasets", "x"], ["'x'"]),
    (["repro", "--results", "{place}/bad-record", "--repro", "{place}/a-file", "--readme",
      "{place}/a-file"], ["maml-L2-s0.json"]),
    (["repro", "--repro", "{place}/none.md"], ["none.md"]),
]


@pytest.mark.parametrize("argv, names", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_paper_refuses(argv, names, place):
    argv = [a.format(place=place) for a in argv]
    check_rejected(["theory.paper", *argv], watch=[place, *COMMITTED], names=names, cwd=ROOT)
