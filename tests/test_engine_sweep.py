"""The benchmark-table sweep: plan, resumable execution, lr search, checkpoints, summary, CLI."""

import importlib.util
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from theory.engine import checkpoint, sweep, sweep_run, sweep_summary
from theory.engine.data import omniglot
from theory.engine import train as training

CLI = Path(__file__).resolve().parents[1] / "benchmarks" / "paper_tables.py"


def _cli():
    spec = importlib.util.spec_from_file_location("paper_tables", CLI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny(tmp_path, **restrict):
    kw = dict(datasets=("synthetic",), seeds=1, layers=(2,))
    kw.update(restrict)
    return sweep_run.run_sweep("tiny", results_dir=tmp_path / "results", runs_dir=tmp_path / "runs",
                           progress=False, echo=lambda text: None, **kw)


def test_plan_covers_the_tables_and_seeds():
    plan = sweep.make_plan("cpu", checkpoints=True)
    names = {(r["table"], r["dataset"], r["name"]) for r in plan}
    assert len(names) == len(plan)
    for dataset in sweep.DATASETS:
        for method in sweep.TABLE_B_METHODS:
            seeds = [r["seed"] for r in plan if r["dataset"] == dataset and r["layers"] == 2
                     and r["method"] == method and r["table"] != "lr-search"
                     and r["config"]["ways"] == 5]
            assert sorted(seeds) == [0, 1, 2]
        for method in sweep.TABLE_A_METHODS:
            assert {r["layers"] for r in plan if r["dataset"] == dataset
                    and r["method"] == method and r["table"] == "table-a"} == {2, 3, 4, 6}
    twenty = [r for r in plan if r["table"] == "checkpoints"]
    assert {(r["dataset"], r["layers"], r["config"]["ways"], r["config"]["shots"])
            for r in twenty} == {("omniglot", 2, 20, 1), ("omniglot", 4, 20, 1)}
    for run in plan:   # every config is one the engine accepts
        cfg = dict(run["config"], inner_lr=0.1, meta_lr=0.001)
        assert training.make_config(**cfg)["steps"] == 5
        assert run["config"]["meta_batch"] == 16
    linnet = [r for r in plan if r["method"] == "linnet"]
    assert all(r["config"]["linnet"] == sweep.LINNET for r in linnet)


def test_search_grid_can_be_replaced():
    def grid(**kw):
        return {(r["method"], r["config"]["inner_lr"], r["config"]["meta_lr"])
                for r in sweep.make_plan("cpu", tables=("lr-search",), datasets=("synthetic",),
                                         **kw)}
    assert len(grid()) == len(sweep.METHODS) * 5 * 2
    assert grid(lr_inner=(0.01, 0.1), lr_meta=[0.003]) == {
        (m, a, 0.003) for m in sweep.METHODS for a in (0.01, 0.1)}
    for bad in ((), (0.0,), (-1,), (True,), ("0.1",)):
        with pytest.raises(ValueError, match="lr_inner"):
            sweep.make_plan("cpu", lr_inner=bad)


def test_estimate_grows_with_iterations_and_dry_run_prints_it(capsys):
    run = sweep.make_plan("cpu", tables=("table-a",), datasets=("omniglot",),
                          methods=("maml",), layers=(2,), seeds=1)[0]
    longer = dict(run, config=dict(run["config"], iterations=2 * run["config"]["iterations"]))
    assert sweep.estimate_seconds(longer) > sweep.estimate_seconds(run) > 0
    assert _cli().main(["run", "--budget", "cpu", "--dry-run", "--only", "table-b",
                        "--methods", "kfo", "--datasets", "omniglot", "--results",
                        "/nonexistent"]) == 0
    out = capsys.readouterr().out
    assert "kfo-L2-s2" in out and "3 runs, estimated" in out


def test_tiny_sweep_runs_skips_and_records_failures(tmp_path, monkeypatch):
    outcome = _tiny(tmp_path, tables=("table-b",), methods=("maml", "kfo"))
    assert outcome == {"table-a/synthetic/maml-L2-s0": "done",
                       "table-b/synthetic/kfo-L2-s0": "done"}
    for table, name in (("table-a", "maml-L2-s0"), ("table-b", "kfo-L2-s0")):
        rec = json.loads((tmp_path / "results" / table / "synthetic" / f"{name}.json")
                         .read_text())
        assert rec["kind"] == "engine-run" and rec["test"]["episodes"] == 10
        assert 0 <= rec["test"]["accuracy"] <= 1 and rec["sweep"]["budget"] == "tiny"
        assert rec["sweep"]["lr_source"] == "default"
    # a second invocation trains nothing
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("retrained"))
    assert set(_tiny(tmp_path, tables=("table-b",), methods=("maml", "kfo")).values()) \
        == {"skipped"}

    def diverge(config, **kwargs):
        raise training.DivergedError("meta-loss nan is not finite at iteration 3")

    mc = {"table-b/synthetic/mc-L2-s0": "diverged"}
    monkeypatch.setattr(training, "train", diverge)
    assert _tiny(tmp_path, tables=("table-b",), methods=("mc",)) == mc
    rec = json.loads((tmp_path / "results/table-b/synthetic/mc-L2-s0.json").read_text())
    assert rec["kind"] == sweep.FAILED and "iteration 3" in rec["error"]
    # a divergence is final; any other error is recorded and retried by the next invocation
    assert _tiny(tmp_path, tables=("table-b",), methods=("mc",)) == dict.fromkeys(mc, "skipped")
    monkeypatch.setattr(training, "train", lambda *a, **k: 1 / 0)
    anil = {"table-b/synthetic/anil-L2-s0": "error"}
    assert _tiny(tmp_path, tables=("table-b",), methods=("anil",)) == anil
    monkeypatch.undo()
    assert _tiny(tmp_path, tables=("table-b",), methods=("anil",)) == dict.fromkeys(anil, "done")
    cells = sweep_summary.load_cells(tmp_path / "results", "synthetic")
    assert cells[("mc", 2)] == {"failed": 1}
    assert "failed (1 seeds)" in sweep_summary.render(tmp_path / "results", ("synthetic",))


def test_interrupted_run_resumes_to_the_same_record(tmp_path):
    def stop(iteration, info):
        if iteration == 3:   # after the checkpoint of iteration 2: iteration 3 is redone
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _tiny(tmp_path / "a", tables=("table-a",), methods=("maml",), callback=stop)
    plan = sweep.make_plan("tiny", tables=("table-a",), datasets=("synthetic",),
                           methods=("maml",), layers=(2,), seeds=1)
    assert sweep_run.status(tmp_path / "a/results", tmp_path / "a/runs", "tiny", plan[0]) \
        == "partial"
    assert _tiny(tmp_path / "a", tables=("table-a",), methods=("maml",)) \
        == {"table-a/synthetic/maml-L2-s0": "done"}
    _tiny(tmp_path / "b", tables=("table-a",), methods=("maml",))
    a, b = (json.loads((tmp_path / x / "results/table-a/synthetic/maml-L2-s0.json")
                       .read_text()) for x in "ab")
    assert a["test"] == b["test"] and a["validation"] == b["validation"]


def test_lr_search_records_every_point_and_feeds_the_winner(tmp_path, monkeypatch):
    accuracy = {0.1: 0.3, 0.4: 0.7}   # validation accuracy by inner lr (hand-made)

    def fake(config, *, out_dir, **kwargs):
        os.makedirs(out_dir, exist_ok=True)
        rec = {"kind": "engine-run", "config": config, "seed": config["seed"],
               "validation": [[config["iterations"], accuracy[config["inner_lr"]]]],
               "test": {"accuracy": 0.99, "ci95": 0.01, "episodes": 1}}
        (Path(out_dir) / training.RESULTS).write_text(json.dumps(rec))
        return rec

    monkeypatch.setattr(training, "train", fake)
    _tiny(tmp_path, tables=("lr-search", "table-b"), methods=("kfo",))
    search = json.loads((tmp_path / "results/lr-search/synthetic.json").read_text())
    assert search["kind"] == "lr-search" and search["split"] == "val"
    assert sorted((p["inner_lr"], p["val_accuracy"]) for p in search["points"]) \
        == [(0.1, 0.3), (0.4, 0.7)]
    assert search["winners"]["kfo"]["inner_lr"] == 0.4
    rec = json.loads((tmp_path / "results/table-b/synthetic/kfo-L2-s0.json").read_text())
    assert rec["config"]["inner_lr"] == 0.4 and rec["sweep"]["lr_source"] == "lr-search"
    assert not (tmp_path / "results/lr-search/synthetic").exists()  # no engine-run records
    # a search restricted to another method keeps kfo's points and winner
    _tiny(tmp_path, tables=("lr-search",), methods=("maml",))
    search = json.loads((tmp_path / "results/lr-search/synthetic.json").read_text())
    assert sorted(search["winners"]) == ["kfo", "maml"] and len(search["points"]) == 4


def _fake_checkpoint(path, config):
    checkpoint.save(path, model={"w": np.array([float(config["seed"])])}, metaopt={},
                    adam={"m": np.zeros(3)}, config=config, iteration=1, rng_state={})


def test_twenty_way_runs_take_their_own_per_depth_search(tmp_path, monkeypatch):
    # validation accuracy by (ways, layers, inner lr), hand-made: the 20-way winners differ
    # from the 5-way one and between depths
    accuracy = {(5, 2, 0.1): 0.3, (5, 2, 0.4): 0.7, (20, 2, 0.4): 0.2, (20, 4, 0.4): 0.1}

    def fake(config, *, out_dir, **kwargs):
        os.makedirs(out_dir, exist_ok=True)
        _fake_checkpoint(Path(out_dir, training.CHECKPOINT), config)
        rec = {"kind": "engine-run", "config": config, "seed": config["seed"],
               "validation": [[config["iterations"], accuracy[
                   (config["ways"], config["layers"], config["inner_lr"])]]],
               "test": {"accuracy": 0.5, "ci95": 0.01, "episodes": 10}}
        (Path(out_dir) / training.RESULTS).write_text(json.dumps(rec))
        return rec

    monkeypatch.setattr(training, "train", fake)
    monkeypatch.setitem(sweep.BUDGETS, "tiny", dict(sweep.BUDGETS["tiny"],
                                                      lr_20w=((0.4,), (0.003, 0.01))))
    _tiny(tmp_path, tables=("lr-search", "checkpoints"), datasets=("omniglot",),
          methods=("maml",), layers=(2, 4), checkpoints=True)
    search = json.loads((tmp_path / "results/lr-search/omniglot.json").read_text())
    assert sorted(search["winners"]) == ["maml", "maml-20w1s-L2", "maml-20w1s-L4"]
    assert search["winners"]["maml-20w1s-L4"]["meta_lr"] == 0.003   # first on ties
    for depth in (2, 4):
        rec = json.loads((tmp_path / f"results/checkpoints/omniglot/maml-L{depth}-20w1s-s0.json")
                         .read_text())
        assert (rec["config"]["ways"], rec["config"]["inner_lr"]) == (20, 0.4)
    # a record trained with other lrs than the search now gives is not silently kept
    plan = sweep.assign_lrs(
        [r for r in sweep.make_plan("tiny", tables=("checkpoints",), datasets=("omniglot",),
                                    layers=(2,), checkpoints=True)],
        tmp_path / "results", "tiny")
    plan[0]["config"]["inner_lr"] = 0.1
    with pytest.raises(ValueError, match="delete it"):
        sweep_run.status(tmp_path / "results", tmp_path / "runs", "tiny", plan[0])


def test_checkpoint_copy_picks_the_best_validation(tmp_path, monkeypatch):
    def fake(config, *, out_dir, **kwargs):
        os.makedirs(out_dir, exist_ok=True)
        _fake_checkpoint(Path(out_dir, training.CHECKPOINT), config)
        return {"kind": "engine-run", "config": config, "seed": config["seed"],
                "validation": [[1, 0.5 + 0.1 * config["seed"]]],
                "test": {"accuracy": 0.5, "ci95": 0.1, "episodes": 10}}

    monkeypatch.setattr(training, "train", fake)
    plan = sweep.make_plan("tiny", tables=("table-a",), datasets=("omniglot",),
                           methods=("maml",), layers=(2,), seeds=2)
    sweep.assign_lrs(plan, tmp_path / "results", "tiny")
    sweep_run.execute_all(plan, tmp_path / "results", tmp_path / "runs", "tiny", progress=False)
    copied = sweep.copy_checkpoints(tmp_path / "results", tmp_path / "runs", "tiny", plan)
    assert copied == {"omniglot-5w5s-2layer.npz": "table-a/omniglot/maml-L2-s1"}
    copy = checkpoint.load(tmp_path / "results/checkpoints/omniglot-5w5s-2layer.npz")
    assert copy["model"]["w"].tolist() == [1.0] and copy["adam"] == {}
    assert copy["extra"]["optimizer_state"] == "dropped" and copy["config"]["seed"] == 1


def _cell(acc, ci, seeds=3):
    return {"accuracy": acc, "ci95": ci, "seeds": seeds, "failed": 0}


def test_compare_verdicts():
    assert sweep_summary.compare(_cell(90, 1), _cell(80, 1)) == "held"
    assert sweep_summary.compare(_cell(81, 1), _cell(80, 1)) == "within noise"
    assert sweep_summary.compare(_cell(79.5, 1), _cell(80, 1)) == "within noise"
    assert sweep_summary.compare(_cell(70, 1), _cell(80, 1)) == "did not hold"
    assert sweep_summary.compare(None, _cell(80, 1)) == "not run"
    assert sweep_summary.compare({"failed": 3}, _cell(80, 1)) == "not run"
    # a cell whose interval is unknown (one test episode) can neither confirm nor refute
    assert sweep_summary.compare(_cell(99, None, seeds=1), _cell(20, 1)) == "within noise"
    assert sweep_summary.compare(_cell(20, 1), _cell(99, None, seeds=1)) == "within noise"
    assert "± ?" in sweep_summary.ours_text(_cell(70, None, seeds=1))


def test_claims_on_hand_made_cells():
    cells = {("maml", 2): _cell(60, 2), ("linnet", 2): _cell(85, 2),
             ("maml", 6): _cell(97, 1), ("linnet", 6): _cell(97.5, 1),
             ("metasgd", 2): _cell(70, 2), ("mc", 2): _cell(93, 2), ("tnet", 2): _cell(91, 2),
             ("kfo", 2): _cell(92.5, 2)}
    verdict = {claim: v for claim, v, _ in sweep_summary.claims(cells)}
    assert list(verdict.values()) == ["held", "held", "held", "within noise"]
    cells[("metasgd", 2)] = _cell(50, 2)
    cells[("kfo", 2)] = _cell(95, 2)
    verdict = [v for _, v, _ in sweep_summary.claims(cells)]
    assert verdict[2:] == ["did not hold", "held"]
    del cells[("linnet", 6)], cells[("tnet", 2)]
    verdict = [v for _, v, _ in sweep_summary.claims(cells)]
    assert verdict[1:3] == ["not run", "did not hold"]
    assert [v for _, v, _ in sweep_summary.claims({})] == ["not run"] * 4


def test_gap_claim_uses_the_combined_interval():
    cells = {("maml", 2): _cell(60, 3), ("linnet", 2): _cell(64, 3),
             ("maml", 4): _cell(90, 3), ("linnet", 4): _cell(91, 3)}
    claim, verdict, detail = sweep_summary.claims(cells)[1]
    # gap 4 vs 1 with half-width sqrt(4 * 9) = 6: not resolved
    assert verdict == "within noise" and "4 layers" in detail
    assert math.isclose(math.hypot(math.hypot(3, 3), math.hypot(3, 3)), 6.0)


def test_gap_that_reverses_with_depth_does_not_close():
    # LinNet a little worse at 2 layers and far worse at 6: the 2-layer gap is larger, but
    # the gap did not close
    cells = {("maml", 2): _cell(77, 2), ("linnet", 2): _cell(75, 2),
             ("maml", 6): _cell(85, 1), ("linnet", 6): _cell(51, 1)}
    assert sweep_summary.claims(cells)[1][1] == "did not hold"
    cells[("linnet", 6)] = _cell(85.5, 1)
    assert sweep_summary.claims(cells)[1][1] == "within noise"
    cells[("linnet", 6)] = _cell(85.5, None, seeds=1)     # unknown interval: cannot refute
    assert sweep_summary.claims(cells)[1][1] == "within noise"


def test_summary_renders_paper_values_and_ours(tmp_path, capsys):
    folder = tmp_path / "results/table-a/omniglot"
    folder.mkdir(parents=True)
    for seed, acc in enumerate((0.6, 0.62, 0.64)):
        rec = {"kind": "engine-run", "config": {"layers": 2, "iterations": 60}, "seed": seed,
               "test": {"accuracy": acc, "ci95": 0.01, "episodes": 600},
               "sweep": {"method": "maml"}}
        (folder / f"maml-L2-s{seed}.json").write_text(json.dumps(rec))
    assert _cli().main(["summary", "--results", str(tmp_path / "results"),
                        "--budget", "cpu"]) == 0
    out = capsys.readouterr().out
    half = 4.302652729749464 * np.std([60, 62, 64], ddof=1) / math.sqrt(3)
    assert f"| MAML | 66.8 | 62.0 ± {half:.1f} (n=3) |" in out
    assert "| KFO | 96.62 | not run |" in out
    assert "| MAML w/ LinNet | 88.1 | not run |" in out
    assert "## synthetic" in out and "hidden 16" in out


@pytest.mark.parametrize("argv", [
    ["run", "--budget", "huge"], ["run", "--only", "table-z", "--dry-run"],
    ["run", "--methods", "maml,adam", "--dry-run"], ["run", "--seeds", "0"],
    ["run", "--layers", "5", "--dry-run"], ["run", "--layers", "two", "--dry-run"],
    ["run", "--jobs", "0"], ["summary", "--budget", "x"],
    ["run", "--lr-inner", "x", "--dry-run"], ["run", "--lr-meta", "0,0.1", "--dry-run"],
])
def test_bad_input_is_one_line_exit_2(argv, capsys):
    from theory import _cli as cli
    with pytest.raises(SystemExit) as exc:
        cli.run(_cli().main, argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


def test_results_of_another_budget_are_not_mixed(tmp_path):
    run = sweep.make_plan("tiny", tables=("table-a",), datasets=("synthetic",),
                          methods=("maml",), layers=(2,), seeds=1)[0]
    path = Path(sweep.record_path(tmp_path, run))
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"kind": "engine-run", "config": {"iterations": 999},
                                "sweep": {"budget": "cpu"}}))
    with pytest.raises(ValueError, match="another budget"):
        sweep_run.status(tmp_path, tmp_path / "runs", "tiny", run)


def test_two_jobs_run_in_single_thread_children(tmp_path):
    outcome = _tiny(tmp_path, tables=("table-b",), methods=("maml", "anil"), jobs=2)
    assert outcome == {"table-a/synthetic/maml-L2-s0": "done",
                       "table-b/synthetic/anil-L2-s0": "done"}
    rec = json.loads((tmp_path / "results/table-b/synthetic/anil-L2-s0.json").read_text())
    assert rec["config"]["algo"] == "anil" and rec["test"]["episodes"] == 10


@pytest.mark.skipif(not (omniglot.default_root() / "images_background_small1.zip").is_file(),
                    reason="real Omniglot zips not found (set THEORY_OMNIGLOT)")
def test_checkpoints_on_real_omniglot_load_for_adapt(tmp_path):
    outcome = _tiny(tmp_path, tables=("table-a", "checkpoints"), datasets=("omniglot",),
                    methods=("maml",), layers=(2,), checkpoints=True)
    assert set(outcome.values()) == {"done"} and len(outcome) == 2
    index = json.loads((tmp_path / "results/checkpoints/index.json").read_text())
    assert sorted(index) == ["omniglot-20w1s-2layer.npz", "omniglot-5w5s-2layer.npz"]
    for name, ways in (("omniglot-5w5s-2layer.npz", 5), ("omniglot-20w1s-2layer.npz", 20)):
        config, meta_params, _, _ = training.restore(tmp_path / "results/checkpoints" / name)
        assert config["ways"] == ways and meta_params["model"]["head/w"].shape[0] == ways
