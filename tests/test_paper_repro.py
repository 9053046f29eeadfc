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

from theory.figures import cli
from theory.paper import cells, numbers, repro

ROOT = pathlib.Path(__file__).parent.parent
REPRO = ROOT / "paper_repro.md"
DATA = ROOT / "results" / "figures"
SOURCE = re.compile(r"`([a-z_]+):([A-Za-z0-9_.+]+)`")
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
    groups = {d: cells.grouped(ROOT / "results", d) for d in numbers.DATASETS}
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
