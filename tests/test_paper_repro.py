"""``paper_repro.md`` says only what the committed results say.

Every backticked number of an *ours* cell must equal, to the digits printed, the JSON value
named in the row's *source* cell (``results/figures/<figure>.json``, written by
``python -m theory.figures``); every table cell of the paper has a row whose paper value is the
quoted one (or "value not quoted in our sources") and whose *ours* is "not run" exactly when no
engine result exists; cheap figures are recomputed to check that the JSON is what the code
produces.
"""

import json
import pathlib
import re

import numpy as np
import pytest

from theory.engine import cli as engine_cli
from theory.engine.data import omniglot
from theory.figures import cli
from theory.paper import cells, numbers, render, repro, vocabulary

ROOT = pathlib.Path(__file__).parent.parent
REPRO = ROOT / "paper_repro.md"
DATA = ROOT / "results" / "figures"
SOURCE = re.compile(r"`([a-z_]+):([A-Za-z0-9_.+-]+)`")
NUMBER = re.compile(r"`(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)`")
ROUNDING = 1e-12  # below this, a loss or a distance is float64 rounding noise, not a result


def _rows(prefix):
    rows = []
    for line in REPRO.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].startswith(prefix):
            rows.append(cells)
    return rows


def _lookup(figure, key):
    value = json.loads((DATA / f"{figure}.json").read_text())["data"]
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _significant(text):
    digits = text.lower().split("e")[0].replace("-", "").replace(".", "").lstrip("0")
    return max(len(digits), 1)


def test_claim_numbers_match_the_results_json():
    rows = _rows("C") + _rows("F10")   # a figure row quotes and sources in its verdict cell
    assert len(rows) >= 6
    checked = 0
    for cells in rows:
        ours, source = (cells[3], cells[4]) if cells[0].startswith("C") else (cells[5],) * 2
        numbers, keys = NUMBER.findall(ours), SOURCE.findall(source)
        assert len(numbers) == len(keys), f"row {cells[0]}: {numbers} vs {keys}"
        for text, (figure, key) in zip(numbers, keys, strict=True):
            value = _lookup(figure, key)
            checked += 1
            if abs(float(text)) < ROUNDING and abs(value) < ROUNDING:
                continue  # both at rounding level: the digits differ between CPUs
            rounded = float(f"{value:.{_significant(text)}g}")
            assert float(text) == rounded, f"row {cells[0]}: {text} but {figure}:{key} = {value}"
    assert checked >= 15


def test_every_table_cell_has_a_row_with_the_paper_value_and_honest_status():
    rows = {c[0]: c for c in _rows("T1/") + _rows("T2/")}
    expected = {f"T1/{d}/{m}/{n}": (v, d, (m, n)) for (d, m, n), v in numbers.TABLE1.items()}
    expected.update({f"T2/{d}/{m}": (v, d, (m, 2)) for (d, m), v in numbers.TABLE2.items()})
    assert sorted(rows) == sorted(expected) and len(rows) == 24 + 15
    groups = {d: cells.grouped(ROOT / "results", d) for d in vocabulary.PAPER_DATASETS}
    for cell, (value, dataset, key) in expected.items():
        row = rows[cell]
        assert float(row[2]) == value and row[2] == numbers.PRINTED[
            (dataset, *key) if cell.startswith("T1/") else (dataset, key[0])], cell
        budget = cells.preferred(groups[dataset], [key])
        summary = cells.summary(groups[dataset].get(budget, {}).get(key))
        if summary is None:
            assert row[3] == "not run" and row[6].startswith("not run"), cell
        else:   # the cell of its preferred budget, which the row names
            assert f"{summary['accuracy']:.1f}" in row[3], cell
            assert f"--budget {budget}`" in row[4] and row[5].startswith(f"`{budget}`"), cell


@pytest.mark.parametrize("name", ["collapse", "surface"])
def test_committed_json_is_what_the_command_produces(name):
    saved = json.loads((DATA / f"{name}.json").read_text())
    assert saved["quick"] is False and saved["command"] == f"python -m theory.figures {name}"
    data, _ = cli.build(name, seed=saved["seed"], quick=False)
    for key, value in saved["data"]["summary"].items():
        np.testing.assert_allclose(data["summary"][key], value, rtol=1e-6, atol=1e-12,
                                   err_msg=f"{name}: summary.{key}")


def test_generated_rows_and_readme_tables_are_current(tmp_path):
    """``python -m theory.paper repro`` on the committed results changes nothing."""
    repro_path, readme = tmp_path / "paper_repro.md", tmp_path / "README.md"
    repro_path.write_text(REPRO.read_text())
    readme.write_text((ROOT / "README.md").read_text())
    changed = repro.update(repro_path, readme, ROOT / "results")
    assert changed == [], "run: python -m theory.paper repro"


def test_checkpoints_block_says_what_index_json_says(tmp_path):
    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    base = {"algo": "maml", "metaopt": "none", "linnet": 0, "layers": 4, "hidden": 24,
            "ways": 20, "shots": 1, "iterations": 900, "patience": 4}
    (shipped / "index.json").write_text(json.dumps({
        "omniglot-20w1s-4layer-alphabet.npz": {
            "run": "checkpoints/omniglot/maml-L4-20w1s-alphabet-s0", "budget": "converged",
            "config": base, "val_accuracy": 0.8123, "test_split": "alphabet",
            "test_holds": "alphabets never seen in meta-training (alphabet split)",
            "test": {"accuracy": 0.8567, "ci95": 0.0049, "episodes": 600}},
        "omniglot-5w5s-2layer.npz": {
            "run": "table-b/omniglot/kfo-L2-s0",
            "config": dict(base, metaopt="kfo", layers=2, hidden=16, ways=5, shots=5,
                           iterations=90, patience=0),
            "val_accuracy": 0.887, "test": {"accuracy": 0.904, "ci95": 0.005, "episodes": 600}},
        "omniglot-20w1s-4layer.npz": {
            "run": "checkpoints/omniglot/maml-L4-20w1s-s0", "budget": "authors",
            "config": dict(base, hidden=64, iterations=2000, patience=3, downsample="stride",
                           readout="mean", init="authors", query=1),
            "val_accuracy": 0.9, "test": {"accuracy": 0.91, "ci95": 0.004, "episodes": 600}}}))
    rows = render.render_checkpoints(tmp_path).splitlines()
    assert len(rows) == 5
    assert rows[3].startswith("| `omniglot-20w1s-4layer.npz` | MAML, 4 layers, width 64, "
                              "stride-2 convs, mean readout, the authors' init | 20-way 1-shot "
                              "(query 1) | `authors`: early stopping, cap 2000 | 90.0 | 91.0 ± 0.4 (600)")
    assert rows[2] == ("| `omniglot-20w1s-4layer-alphabet.npz` | MAML, 4 layers, width 24 | "
                       "20-way 1-shot | `converged`: early stopping, cap 900 | 81.2 | "
                       "85.7 ± 0.5 (600) | alphabets never seen in meta-training (alphabet "
                       "split) |")
    # an entry of an index written before the budget and split were recorded
    assert rows[4] == ("| `omniglot-5w5s-2layer.npz` | KFO, 2 layers, width 16 | 5-way 5-shot "
                       "| 90 meta-iterations | 88.7 | 90.4 ± 0.5 (600) | characters never seen "
                       "in meta-training (character split) |")
    assert "No checkpoints" in render.render_checkpoints(tmp_path / "none")


# the README's example episodes (20-way 1-shot, 5 query images per class, seed 0): the sentence
# quoting their accuracies, the episode's extra arguments, and the suffix of the checkpoints
EXAMPLES = {
    "character": (r"This episode \(seed 0\) ends with `accuracy: ([\d.]+) \(100 query "
                  r"images\)`; the 4-layer model \(`omniglot-20w1s-4layer.npz`\) gets "
                  r"([\d.]+)\.", [], ""),
    "alphabet": (r"on this episode of held-out alphabets \(seed 0\), "
                 r"`omniglot-20w1s-2layer-alphabet.npz` gets ([\d.]+) and "
                 r"`omniglot-20w1s-4layer-alphabet.npz` ([\d.]+)\.",
                 ["--split-by", "alphabet"], "-alphabet"),
}


@pytest.mark.skipif(not (omniglot.default_root() / "images_background_small1.zip").is_file(),
                    reason="real Omniglot zips not found (set THEORY_OMNIGLOT)")
@pytest.mark.parametrize("split", sorted(EXAMPLES))
def test_readme_episode_accuracies_are_what_the_shipped_checkpoints_give(split, tmp_path,
                                                                          capsys):
    pattern, extra, suffix = EXAMPLES[split]
    quoted = re.search(pattern, " ".join((ROOT / "README.md").read_text().split()))
    assert quoted, f"the README's example episode sentence ({split} split) is missing"
    task = tmp_path / "task20"
    assert engine_cli.main(["episode", "--dataset", "omniglot", "--ways", "20", "--shots", "1",
                            "--query", "5", *extra,
                            "--out", str(task)]) == 0
    for layers, want in zip((2, 4), quoted.groups(), strict=True):
        capsys.readouterr()
        assert engine_cli.main([
            "adapt", "--checkpoint",
            str(ROOT / "results" / "checkpoints" / f"omniglot-20w1s-{layers}layer{suffix}.npz"),
            "--support", str(task / "support"), "--query", str(task / "query"),
            "--answers", str(task / "answers.json")]) == 0
        assert f"accuracy: {want} (100 query images)" in capsys.readouterr().out


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """A folder of smoke-run records: a tiny synthetic sweep, nothing like the committed ones."""
    from theory.paper import execute
    root = tmp_path_factory.mktemp("smoke")
    execute.run_sweep("tiny", results_dir=root / "results", runs_dir=root / "runs",
                      scheduler=execute.SERIAL, progress=False, echo=lambda text: None,
                      datasets=("synthetic",), seeds=1, layers=(2,), tables=("table-a",),
                      methods=("maml",))
    return root / "results"


def _committed():
    return {p: p.read_bytes() for p in (REPRO, ROOT / "README.md")}


def test_repro_from_other_results_never_touches_the_committed_files(smoke_results, tmp_path,
                                                                   capsys):
    from theory.paper import cli as paper_cli
    before = _committed()
    code = run_cli(paper_cli, ["repro", "--results", smoke_results])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--readme" in err
    assert _committed() == before
    # told where, it writes there (the smoke tables), and nowhere else
    readme = tmp_path / "README.md"
    readme.write_bytes(before[ROOT / "README.md"])
    assert run_cli(paper_cli, ["repro", "--results", smoke_results, "--readme", readme]) == 0
    assert str(readme) in capsys.readouterr().out
    assert _committed() == before and readme.read_bytes() != before[ROOT / "README.md"]
    assert "synthetic, budget `tiny`" in readme.read_text()
    # --check compares and writes nothing: stale from other records, current from ours
    assert run_cli(paper_cli, ["repro", "--check", "--results", smoke_results]) == 1
    assert "not current" in capsys.readouterr().err and _committed() == before
    assert run_cli(paper_cli, ["repro", "--check"]) == 0
    assert _committed() == before


def run_cli(module, argv):
    """Exit status of ``python -m <module> argv`` (bad input: 2, from ``_cli.run``)."""
    from theory import _cli
    try:
        return _cli.run(module.main, [str(a) for a in argv])
    except SystemExit as stop:
        return stop.code
