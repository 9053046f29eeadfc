"""Paper values, the engine-results reader and the table figures (5, 6)."""

import json
import math

import numpy as np
import pytest

from theory.figures import paper, results, style, tables


def test_paper_tables_have_24_and_15_cells_and_only_quoted_values():
    assert len(paper.TABLE1) == 24 and len(paper.TABLE2) == 15
    quoted1 = {k: v for k, v in paper.TABLE1.items() if v is not None}
    quoted2 = {k: v for k, v in paper.TABLE2.items() if v is not None}
    # only the Omniglot cells are quoted in our sources; the others must stay unknown
    assert {k[0] for k in quoted1} == {"omniglot"} and len(quoted1) == 8
    assert {k[0] for k in quoted2} == {"omniglot"} and len(quoted2) == 5
    assert [paper.table1("omniglot", "maml", n) for n in (2, 3, 4, 6)] == [66.8, 93.5, 98.5, 97.6]
    assert [paper.table1("omniglot", "maml+linnet", n) for n in (2, 3, 4, 6)] == [
        88.1, 95.5, 98.1, 97.6]
    assert [paper.table2("omniglot", m) for m in paper.TABLE2_METHODS] == [
        66.6, 74.07, 94.63, 92.27, 96.62]


def test_paper_rejects_cells_outside_the_tables():
    with pytest.raises(ValueError, match="layers"):
        paper.table1("omniglot", "maml", 5)
    with pytest.raises(ValueError, match="kfo"):
        paper.table2("omniglot", "adam")


def _run(path, accuracy, *, seed, metaopt="none", layers=2, linnet=0, ci95=0.01, kind="engine-run"):
    cfg = {"dataset": "omniglot", "algo": "maml", "metaopt": metaopt, "layers": layers,
           "linnet": linnet, "ways": 5, "shots": 5, "iterations": 100, "seed": seed}
    path.write_text(json.dumps({"kind": kind, "config": cfg, "seed": seed,
                                "test": {"accuracy": accuracy, "ci95": ci95, "episodes": 600}}))


def test_results_reader_selects_cells_and_averages_seeds(tmp_path):
    _run(tmp_path / "a.json", 0.70, seed=0)
    _run(tmp_path / "b.json", 0.80, seed=1)
    _run(tmp_path / "c.json", 0.90, seed=0, linnet=1)
    _run(tmp_path / "d.json", 0.95, seed=0, metaopt="kfo")
    _run(tmp_path / "e.json", 0.99, seed=0, kind="figure-data")  # not an engine run
    runs = results.load_runs(tmp_path)
    assert len(runs) == 4
    maml = results.summarise(results.select(runs, dataset="omniglot", method="maml", layers=2))
    assert maml["seeds"] == 2 and maml["accuracy"] == pytest.approx(75.0)
    # Student t with 1 degree of freedom over the two seed accuracies
    assert maml["ci95"] == pytest.approx(12.706 * np.std([70, 80], ddof=1) / math.sqrt(2), rel=1e-3)
    linnet = results.summarise(results.select(runs, dataset="omniglot", method="maml+linnet",
                                              layers=2))
    assert linnet["accuracy"] == pytest.approx(90.0) and linnet["ci95"] == pytest.approx(1.0)
    kfo = results.select(runs, dataset="omniglot", method="kfo", layers=2)
    assert [r["config"]["metaopt"] for r in kfo] == ["kfo"]
    assert results.select(runs, dataset="omniglot", method="maml", layers=4) == []
    assert results.summarise([]) is None


def test_missing_results_directory_means_not_run(tmp_path):
    res = tables.compute_linnet_depth(results_dir=tmp_path / "nowhere")
    assert res["ours"] == {"maml": [None] * 4, "maml+linnet": [None] * 4}
    assert res["paper"]["maml"] == [66.8, 93.5, 98.5, 97.6]
    json.dumps(res)


def _texts(fig):
    return " ".join([t.get_text() for ax in fig.axes for t in ax.texts]
                    + [ax.get_title() for ax in fig.axes])


@pytest.mark.parametrize("compute, draw", [
    (tables.compute_linnet_depth, tables.fig_linnet_depth),
    (tables.compute_meta_optimizers, tables.fig_meta_optimizers)])
def test_table_figures_say_not_run_when_results_are_missing(tmp_path, compute, draw):
    with style.context():
        fig = draw(compute(results_dir=tmp_path))
    assert tables.NOT_RUN in _texts(fig)
    _run(tmp_path / "a.json", 0.7, seed=0)  # one MAML 2-layer cell now exists
    with style.context():
        partial = draw(compute(results_dir=tmp_path))
    text = _texts(partial)
    assert "cells: our result: not yet run" in text
    heights = [p.get_height() for p in partial.axes[0].patches]
    assert any(h == pytest.approx(70.0) for h in heights)


def test_a_run_with_one_test_episode_has_an_unknown_interval(tmp_path):
    _run(tmp_path / "a.json", 0.7, seed=0, ci95=None)
    cell = results.summarise(results.load_runs(tmp_path))
    assert cell["accuracy"] == pytest.approx(70.0) and cell["ci95"] is None
    res = tables.compute_linnet_depth(results_dir=tmp_path)
    json.dumps(res, allow_nan=False)
    with style.context():
        fig = tables.fig_linnet_depth(res)
    assert any(p.get_height() == pytest.approx(70.0) for p in fig.axes[0].patches)


@pytest.mark.parametrize("text", ["{not json", "", '{"kind": "engine-run", "config": {}}'])
def test_a_damaged_results_file_is_named_not_skipped(tmp_path, text):
    _run(tmp_path / "a.json", 0.70, seed=0)
    (tmp_path / "broken.json").write_text(text)
    with pytest.raises(ValueError, match="broken.json"):
        results.load_runs(tmp_path)
