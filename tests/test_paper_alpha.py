"""The alpha sweep on CNNs: its reader, its registered claim and its figure, on hand-made
records (the sweep's own records are judged by ``paper_repro.md``)."""

import json

import pytest

from theory.figures import alpha_cnn
from theory.paper import alpha, cells, records, verdicts

ALPHAS = (0.03, 0.1, 0.3, 1.0)


def _write(root, method, layers, a, acc, *, diverged=False, ci95=0.01):
    cfg = {"dataset": "omniglot", "layers": layers, "ways": 5, "shots": 5, "algo": "maml",
           "metaopt": "kfo" if method == "kfo" else "none",
           "linnet": 2 if method == "linnet" else 0, "hidden": 32, "iterations": 1000,
           "inner_lr": a, "meta_lr": 0.003, "val_every": 200, "val_episodes": 300, "seed": 0,
           "steps": 5, "downsample": "stride", "readout": "mean"}
    sweep = {"budget": "authors", "table": "alpha", "method": method, "lr_source": "given"}
    if diverged:
        rec = {"kind": records.FAILED, "status": "diverged", "error": "NaN meta-loss",
               "config": cfg, "seed": 0, "sweep": sweep}
    else:
        rec = {"kind": "engine-run", "seed": 0, "config": cfg, "wall_time_s": 60.0,
               "test": {"accuracy": acc, "ci95": ci95, "episodes": 600}, "sweep": sweep}
    folder = root / "authors" / "alpha" / "omniglot"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{method}-L{layers}-a{a:g}-s0.json").write_text(json.dumps(rec))


def _sweep(root, accs):
    for (method, layers), row in accs.items():
        for a, acc in zip(ALPHAS, row, strict=True):
            _write(root, method, layers, a, acc, diverged=acc is None)


FLAT = (0.90, 0.91, 0.92, 0.91)


def test_the_claim_holds_when_only_shallow_maml_depends_on_alpha(tmp_path):
    _sweep(tmp_path, {("maml", 2): (0.50, 0.60, 0.85, 0.70), ("linnet", 2): FLAT,
                      ("kfo", 2): FLAT, ("maml", 4): FLAT})
    found = alpha.sweep(tmp_path)
    assert found[("maml", 2)][0.3]["accuracy"] == pytest.approx(85.0)
    judged = alpha.claim(found, ALPHAS)
    assert judged.verdict == verdicts.HELD
    assert "spread 35.0 (best alpha 0.3, worst 0.03)" in judged.detail


def test_the_claim_fails_when_another_model_depends_on_alpha_more(tmp_path):
    _sweep(tmp_path, {("maml", 2): FLAT, ("linnet", 2): (0.3, 0.9, 0.9, 0.9),
                      ("kfo", 2): FLAT, ("maml", 4): FLAT})
    assert alpha.claim(alpha.sweep(tmp_path), ALPHAS).verdict == verdicts.FAILED_CLAIM


def test_equal_spreads_are_within_noise_and_a_missing_run_is_not_run(tmp_path):
    _sweep(tmp_path, {key: FLAT for key in alpha.MODELS})
    assert alpha.claim(alpha.sweep(tmp_path), ALPHAS).verdict == verdicts.NOISE
    (tmp_path / "authors" / "alpha" / "omniglot" / "kfo-L2-a1-s0.json").unlink()
    judged = alpha.claim(alpha.sweep(tmp_path), ALPHAS)
    assert judged.verdict == verdicts.NOT_RUN and judged.detail == "15 of 16 runs"


def test_a_diverged_run_counts_as_chance_with_no_interval(tmp_path):
    _sweep(tmp_path, {("maml", 2): (0.90, 0.90, 0.90, None), ("linnet", 2): FLAT,
                      ("kfo", 2): FLAT, ("maml", 4): FLAT})
    point = alpha.sweep(tmp_path)[("maml", 2)][1.0]
    assert point == {"accuracy": 20.0, "ci95": 0.0, "seeds": 1, "diverged": True}
    d, (high, low) = alpha.spread(alpha.sweep(tmp_path)[("maml", 2)])
    assert (high, low) == (0.03, 1.0) and d.mean == pytest.approx(70.0)


def test_a_divergence_adds_the_spreads_where_every_model_trained_without_changing_the_verdict(
        tmp_path):
    _sweep(tmp_path, {("maml", 2): (0.60, 0.70, 0.65, 0.50),
                      ("linnet", 2): (0.70, 0.80, 0.78, None), ("kfo", 2): FLAT,
                      ("maml", 4): FLAT})
    judged = alpha.claim(alpha.sweep(tmp_path), ALPHAS)
    assert judged.verdict == verdicts.FAILED_CLAIM      # LinNet's spread, 80 - 20 = 60, decides
    assert ("over the alphas where every model trained (0.03, 0.1, 0.3) the spreads are "
            "MAML, 2 layers 10.0, MAML w/ LinNet, 2 layers 10.0, KFO, 2 layers 2.0, "
            "MAML, 4 layers 2.0") in judged.detail
    _sweep(tmp_path, {("linnet", 2): FLAT})            # no divergence: no extra reading
    assert "described" not in alpha.claim(alpha.sweep(tmp_path), ALPHAS).detail


def test_alpha_runs_are_never_table_cells(tmp_path):
    _sweep(tmp_path, {key: FLAT for key in alpha.MODELS})
    assert cells.grouped(tmp_path, "omniglot") == {}


def test_the_figure_draws_the_sweep_and_an_empty_panel_without_it(tmp_path):
    empty = alpha_cnn.compute_alpha_cnn(results_dir=tmp_path)
    assert empty["claim"]["verdict"] == verdicts.NOT_RUN and not any(empty["ours"].values())
    alpha_cnn.fig_alpha_cnn(empty)
    _sweep(tmp_path, {key: FLAT for key in alpha.MODELS})
    res = alpha_cnn.compute_alpha_cnn(results_dir=tmp_path)
    assert [p["alpha"] for p in res["ours"]["maml_L2"]] == list(ALPHAS)
    assert res["summary"]["maml_L2_spread"] == pytest.approx(2.0)
    fig = alpha_cnn.fig_alpha_cnn(res)
    assert len(fig.axes[0].lines) >= 4
