"""The table figures (5, 6): paper beside our cells (``theory.paper.cells``)."""

import json

import pytest

from theory.figures import style, tables
from theory.paper import cells


def _run(path, accuracy, *, seed, metaopt="none", layers=2, linnet=0, ci95=0.01, kind="engine-run"):
    cfg = {"dataset": "omniglot", "algo": "maml", "metaopt": metaopt, "layers": layers,
           "linnet": linnet, "ways": 5, "shots": 5, "iterations": 100, "seed": seed}
    path.write_text(json.dumps({"kind": kind, "config": cfg, "seed": seed,
                                "test": {"accuracy": accuracy, "ci95": ci95, "episodes": 600}}))


def test_missing_results_directory_means_not_run(tmp_path):
    res = tables.compute_linnet_depth(results_dir=tmp_path / "nowhere")
    assert res["ours"] == {"maml": [None] * 4, "linnet": [None] * 4}
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
    cell = cells.cells(tmp_path, "omniglot")[("maml", 2)]
    assert cell["accuracy"] == pytest.approx(70.0) and cell["ci95"] is None
    res = tables.compute_linnet_depth(results_dir=tmp_path)
    json.dumps(res, allow_nan=False)
    with style.context():
        fig = tables.fig_linnet_depth(res)
    assert any(p.get_height() == pytest.approx(70.0) for p in fig.axes[0].patches)


def test_error_bars_stop_at_100_percent_and_miss_the_value_labels(tmp_path):
    for seed, acc in enumerate((0.99, 0.80, 0.99)):    # mean 92.7, t half-width about 27
        _run(tmp_path / f"kfo{seed}.json", acc, seed=seed, metaopt="kfo")
    res = tables.compute_meta_optimizers(results_dir=tmp_path)
    kfo = res["ours"]["kfo"]
    assert kfo["accuracy"] + kfo["ci95"] > 100
    with style.context():
        fig = tables.fig_meta_optimizers(res)
    ax = fig.axes[0]
    tops = [seg[:, 1].max() for coll in ax.collections for seg in coll.get_segments()]
    assert tops and max(tops) <= 100.0
    label = next(t for t in ax.texts if t.get_text() == f"{kfo['accuracy']:.1f}")
    lows = [seg[:, 1].min() for coll in ax.collections for seg in coll.get_segments()
            if abs(seg[0, 0] - label.get_position()[0]) < 1e-9]
    # the label is drawn either below the error bar's lower end or above its upper end
    y = label.get_position()[1]
    assert lows and (y < min(lows) or y > max(tops))


@pytest.mark.parametrize("text", ["{not json", "", '{"kind": "engine-run", "config": {}}'])
def test_a_damaged_results_file_is_named_not_skipped(tmp_path, text):
    _run(tmp_path / "a.json", 0.70, seed=0)
    (tmp_path / "broken.json").write_text(text)
    with pytest.raises(ValueError, match="broken.json"):
        cells.load(tmp_path)
