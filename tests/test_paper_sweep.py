"""The paper-table sweep: plan, resumable execution, lr search, checkpoints, status, CLI."""

import dataclasses
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from theory import _cli
from theory.engine import checkpoint
from theory.engine.data import omniglot
from theory.engine import train as training
from theory.paper import budgets, cells, cli, cost, execute, records, render, vocabulary
from theory.paper import plan as sweep


def _tiny(tmp_path, **restrict):
    kw = dict(datasets=("synthetic",), seeds=1, layers=(2,))
    kw.update(restrict)
    return execute.run_sweep("tiny", results_dir=tmp_path / "results",
                             runs_dir=tmp_path / "runs", scheduler=execute.SERIAL,
                             progress=False, echo=lambda text: None, **kw)


def test_plan_covers_the_tables_and_seeds():
    plan = sweep.make_plan("cpu", checkpoints=True)
    names = {(r.table, r.dataset, r.name) for r in plan}
    assert len(names) == len(plan)
    assert {r.dataset for r in plan} == set(vocabulary.ON_THIS_MACHINE)
    for dataset in vocabulary.ON_THIS_MACHINE:
        for method in vocabulary.TABLE_B_METHODS:
            seeds = [r.seed for r in plan if r.dataset == dataset and r.layers == 2
                     and r.method == method and r.table != "lr-search"
                     and r.config["ways"] == 5]
            assert sorted(seeds) == [0, 1, 2]
        for method in vocabulary.TABLE1_METHODS:
            assert {r.layers for r in plan if r.dataset == dataset
                    and r.method == method and r.table == "table-a"} == {2, 3, 4, 6}
    twenty = [r for r in plan if r.table == "checkpoints"]
    assert {(r.dataset, r.layers, r.config["ways"], r.config["shots"])
            for r in twenty} == {("omniglot", 2, 20, 1), ("omniglot", 4, 20, 1)}
    for run in plan:   # every config is one the engine accepts
        cfg = dict(run.config, inner_lr=0.1, meta_lr=0.001)
        assert training.make_config(**cfg)["steps"] == 5
        assert run.config["meta_batch"] == 16
    linnet = [r for r in plan if r.method == "linnet"]
    assert all(r.config["linnet"] == vocabulary.LINNET for r in linnet)


def test_search_grid_can_be_replaced():
    def grid(**kw):
        return {(r.method, r.config["inner_lr"], r.config["meta_lr"])
                for r in sweep.make_plan("cpu", tables=("lr-search",), datasets=("synthetic",),
                                         **kw)}
    assert len(grid()) == len(vocabulary.METHODS) * 5 * 2
    assert grid(lr_inner=(0.01, 0.1), lr_meta=[0.003]) == {
        (m, a, 0.003) for m in vocabulary.METHODS for a in (0.01, 0.1)}
    for bad in ((), (0.0,), (-1,), (True,), ("0.1",)):
        with pytest.raises(ValueError, match="lr_inner"):
            sweep.make_plan("cpu", lr_inner=bad)


def test_estimate_grows_with_iterations_and_dry_run_prints_it(capsys):
    run = sweep.make_plan("cpu", tables=("table-a",), datasets=("omniglot",),
                          methods=("maml",), layers=(2,), seeds=1)[0]
    longer = dataclasses.replace(run, config=dict(run.config,
                                                  iterations=2 * run.config["iterations"]))
    assert cost.estimate_seconds(longer) > cost.estimate_seconds(run) > 0
    assert cli.main(["plan", "--budget", "cpu", "--only", "table-b", "--methods", "kfo",
                     "--datasets", "omniglot", "--results", "/nonexistent"]) == 0
    out = capsys.readouterr().out
    assert "kfo-L2-s2" in out and "3 runs (0 done), estimated" in out


def test_converged_20_way_runs_have_5_query_images_and_cost_less_per_iteration():
    runs = [r for r in sweep.make_plan("converged", tables=("checkpoints",), checkpoints=True)
            if r.table == "checkpoints"]
    assert len(runs) == 4 and {r.config["query"] for r in runs} == {5}
    assert {r.config["iterations"] for r in runs} == {900}
    run = runs[0]
    at15 = dataclasses.replace(run, config=dict(run.config, query=15))
    at1 = dataclasses.replace(run, config=dict(run.config, query=1))
    assert cost.estimate_seconds(at1) < cost.estimate_seconds(run) < cost.estimate_seconds(at15)
    five_way = dataclasses.replace(run, config=dict(run.config, ways=5, shots=5))
    # at query 15 a 20-way 1-shot meta-iteration costs COST["ways20"] times a 5-way 5-shot one
    start = cost.COST["start"]
    def steps_only(run):
        return cost.estimate_seconds(dataclasses.replace(
            run, config=dict(run.config, test_episodes=0, val_episodes=0))) - start

    assert steps_only(at15) == pytest.approx(cost.COST["ways20"] * steps_only(five_way))


def test_a_study_grid_comes_from_its_key_else_its_depth_else_the_budget():
    b = {"study": {"inner_lr": (1,), "meta_lr": (2,)}, "study_20w": {"inner_lr": (9,)},
         "study_inner_lr": {4: (3, 4), "linnet-L4": (5,)}}
    assert budgets.search_spec(b, "maml-L2", 2)["inner_lr"] == (1,)
    assert budgets.search_spec(b, "maml-L4", 4) == {"inner_lr": (3, 4), "meta_lr": (2,)}
    assert budgets.search_spec(b, "linnet-L4", 4)["inner_lr"] == (5,)
    assert budgets.search_spec(b, "maml-20w1s-L4", 4)["inner_lr"] == (9,)
    assert budgets.study_grid(budgets.search_spec(b, "linnet-L4", 4)) == {"inner_lr": [5],
                                                                      "meta_lr": [2]}


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
    assert rec["kind"] == records.FAILED and "iteration 3" in rec["error"]
    # a divergence is final; any other error is recorded and retried by the next invocation
    assert _tiny(tmp_path, tables=("table-b",), methods=("mc",)) == dict.fromkeys(mc, "skipped")
    monkeypatch.setattr(training, "train", lambda *a, **k: 1 / 0)
    anil = {"table-b/synthetic/anil-L2-s0": "error"}
    assert _tiny(tmp_path, tables=("table-b",), methods=("anil",)) == anil
    monkeypatch.undo()
    assert _tiny(tmp_path, tables=("table-b",), methods=("anil",)) == dict.fromkeys(anil, "done")
    assert cells.cells(tmp_path / "results", "synthetic")[("mc", 2)] == {"failed": 1}
    assert "failed (1 seeds)" in render.render(tmp_path / "results", ("synthetic",))


def test_a_tampered_record_is_set_aside_and_its_run_trained_again(tmp_path):
    """A record changed by hand (a seed that is text) is not "done": the next run keeps it as
    ``<file>.damaged``, says why in one line, trains the run again and records it anew."""
    restrict = dict(tables=("table-a",), methods=("maml",))
    name = "table-a/synthetic/maml-L2-s0"
    assert _tiny(tmp_path, **restrict) == {name: "done"}
    path = tmp_path / "results" / f"{name}.json"
    good = json.loads(path.read_text())
    path.write_text(json.dumps(dict(good, seed="x")))
    plan = sweep.make_plan("tiny", datasets=("synthetic",), seeds=1, layers=(2,), **restrict)
    assert records.status(tmp_path / "results", tmp_path / "runs", "tiny", plan[0]) == "damaged"
    said = []
    outcome = execute.run_sweep("tiny", results_dir=tmp_path / "results",
                                runs_dir=tmp_path / "runs", scheduler=execute.SERIAL,
                                progress=False, echo=said.append, datasets=("synthetic",),
                                seeds=1, layers=(2,), **restrict)
    assert outcome == {name: "done"}
    why = [line for line in said if "field seed is 'x'" in line]
    assert len(why) == 1 and f"{path}.damaged" in why[0] and "\n" not in why[0]
    assert json.loads(Path(f"{path}.damaged").read_text())["seed"] == "x"
    assert json.loads(path.read_text())["test"] == good["test"]     # trained again, the same
    assert records.status(tmp_path / "results", tmp_path / "runs", "tiny", plan[0]) == "done"


def test_an_unreadable_checkpoint_says_how_to_start_afresh(tmp_path):
    def stop(iteration, info):
        if iteration == 3:
            raise KeyboardInterrupt

    restrict = dict(tables=("table-a",), methods=("maml",))
    with pytest.raises(KeyboardInterrupt):
        _tiny(tmp_path, callback=stop, **restrict)
    plan = sweep.make_plan("tiny", datasets=("synthetic",), seeds=1, layers=(2,), **restrict)
    out = records.run_dir(tmp_path / "runs", "tiny", plan[0])
    Path(out, training.CHECKPOINT).write_bytes(b"PK\x03\x04 cut short")
    assert "start the run afresh" in records.progress(tmp_path / "runs", "tiny", plan[0])
    assert _tiny(tmp_path, **restrict) == {"table-a/synthetic/maml-L2-s0": "error"}
    rec = json.loads((tmp_path / "results/table-a/synthetic/maml-L2-s0.json").read_text())
    assert "delete it to start the run afresh" in rec["error"]
    os.remove(Path(out, training.CHECKPOINT))
    assert _tiny(tmp_path, **restrict) == {"table-a/synthetic/maml-L2-s0": "done"}


def test_interrupted_run_resumes_to_the_same_record(tmp_path):
    def stop(iteration, info):
        if iteration == 3:   # after the checkpoint of iteration 2: iteration 3 is redone
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _tiny(tmp_path / "a", tables=("table-a",), methods=("maml",), callback=stop)
    plan = sweep.make_plan("tiny", tables=("table-a",), datasets=("synthetic",),
                           methods=("maml",), layers=(2,), seeds=1)
    assert records.status(tmp_path / "a/results", tmp_path / "a/runs", "tiny", plan[0]) \
        == "partial"
    assert _tiny(tmp_path / "a", tables=("table-a",), methods=("maml",)) \
        == {"table-a/synthetic/maml-L2-s0": "done"}
    _tiny(tmp_path / "b", tables=("table-a",), methods=("maml",))
    a, b = (json.loads((tmp_path / x / "results/table-a/synthetic/maml-L2-s0.json")
                       .read_text()) for x in "ab")
    assert a["test"] == b["test"] and a["validation"] == b["validation"]


def test_status_says_how_far_an_interrupted_run_has_got(tmp_path, capsys):
    def stop(iteration, info):
        if iteration == 3:   # the checkpoint of iteration 2 (one validation round) is kept
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _tiny(tmp_path, tables=("table-a",), methods=("maml",), callback=stop)
    args = ["status", "--budget", "tiny", "--only", "table-a", "--methods", "maml",
            "--datasets", "synthetic", "--layers", "2", "--seeds", "1",
            "--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs")]
    plan = sweep.make_plan("tiny", tables=("table-a",), datasets=("synthetic",),
                           methods=("maml",), layers=(2,), seeds=1)
    path = Path(records.run_dir(tmp_path / "runs", "tiny", plan[0]), training.CHECKPOINT)
    saved = checkpoint.load(path)
    assert checkpoint.read_meta(path) == {k: v for k, v in saved.items()
                                          if k not in (*checkpoint.GROUPS, "best")}
    (it, acc), = saved["validation"]
    assert cli.main(args) == 0
    assert capsys.readouterr().out.strip().splitlines() == [
        f"table-a/synthetic/maml-L2-s0{' ' * 17}pending (at iteration 2 of 4, best "
        f"validation {100 * acc:.1f} % at {it})", "1 run: 1 begun; 1 left to run"]
    path.write_bytes(b"PK\x03\x04 cut short")
    assert cli.main(args) == 0
    assert f"pending (checkpoint unreadable: {path} is not a theory.engine checkpoint" in \
        capsys.readouterr().out


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
    monkeypatch.setitem(budgets.BUDGETS, "tiny", dict(budgets.BUDGETS["tiny"],
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
    plan = records.assign_lrs(
        [r for r in sweep.make_plan("tiny", tables=("checkpoints",), datasets=("omniglot",),
                                    layers=(2,), checkpoints=True)],
        tmp_path / "results", "tiny")
    plan[0] = dataclasses.replace(plan[0], config=dict(plan[0].config, inner_lr=0.1))
    with pytest.raises(ValueError, match="delete it"):
        records.status(tmp_path / "results", tmp_path / "runs", "tiny", plan[0])


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
    plan = records.assign_lrs(plan, tmp_path / "results", "tiny")
    with execute.executor(execute.SERIAL) as submit:
        execute.execute_all(plan, tmp_path / "results", tmp_path / "runs", "tiny", submit,
                            progress=False)
    copied = records.copy_checkpoints(tmp_path / "results", tmp_path / "runs", "tiny", plan)
    assert copied == {"omniglot-5w5s-2layer.npz": "table-a/omniglot/maml-L2-s1"}
    copy = checkpoint.load(tmp_path / "results/checkpoints/omniglot-5w5s-2layer.npz")
    assert copy["model"]["w"].tolist() == [1.0] and copy["adam"] == {}
    assert copy["extra"]["optimizer_state"] == "dropped" and copy["config"]["seed"] == 1


@pytest.mark.parametrize("argv", [
    ["run", "--budget", "huge"], ["plan", "--only", "table-z"],
    ["plan", "--methods", "maml,adam"], ["run", "--seeds", "0"],
    ["plan", "--layers", "5"], ["status", "--layers", "two"],
    ["run", "--jobs", "0"], ["summary", "--budget", "x"], ["summary", "--datasets", "x"],
    ["plan", "--lr-inner", "x"], ["plan", "--lr-meta", "0,0.1"],
    ["plan", "--datasets", "cifarfs"], ["plan", "--data", "cifarfs"],
    ["plan", "--data", "imagenet=/x"], ["status", "--results", "README.md"],
])
def test_bad_input_is_one_line_exit_2(argv, capsys):
    from theory import _cli
    with pytest.raises(SystemExit) as exc:
        _cli.run(cli.main, argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


def test_results_of_another_budget_are_not_mixed(tmp_path):
    run = sweep.make_plan("tiny", tables=("table-a",), datasets=("synthetic",),
                          methods=("maml",), layers=(2,), seeds=1)[0]
    path = Path(records.record_path(tmp_path, run))
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "kind": "engine-run", "seed": 0,
        "config": {"dataset": "synthetic", "iterations": 999, "inner_lr": 0.1, "meta_lr": 0.1},
        "test": {"accuracy": 0.5}, "validation": [],
        "sweep": {"budget": "cpu", "table": "table-a", "method": "maml", "run": run.name}}))
    with pytest.raises(ValueError, match="another budget"):
        records.status(tmp_path, tmp_path / "runs", "tiny", run)


@pytest.mark.skipif(not (omniglot.default_root() / "images_background_small1.zip").is_file(),
                    reason="real Omniglot zips not found (set THEORY_OMNIGLOT)")
def test_checkpoints_on_real_omniglot_load_for_adapt(tmp_path):
    outcome = _tiny(tmp_path, tables=("table-a", "checkpoints"), datasets=("omniglot",),
                    methods=("maml",), layers=(2,), checkpoints=True)
    assert set(outcome.values()) == {"done"} and len(outcome) == 2
    index = json.loads((tmp_path / "results/checkpoints/index.json").read_text())
    assert sorted(index) == ["omniglot-20w1s-2layer.npz", "omniglot-5w5s-2layer.npz"]
    for name, ways in (("omniglot-5w5s-2layer.npz", 5), ("omniglot-20w1s-2layer.npz", 20)):
        config, meta_params, _, _ = checkpoint.restore(tmp_path / "results/checkpoints" / name)
        assert config["ways"] == ways and meta_params["model"]["head/w"].shape[0] == ways


def test_a_fresh_clone_counts_the_committed_search_as_done(tmp_path, capsys):
    """Search points live in the git-ignored runs/; the committed lr-search JSON is enough."""
    _tiny(tmp_path, tables=("lr-search",), methods=("maml",))
    args = ["--budget", "tiny", "--only", "lr-search", "--methods", "maml", "--datasets",
            "synthetic", "--layers", "2", "--results", str(tmp_path / "results")]
    fresh = ["--runs", str(tmp_path / "fresh-runs")]
    assert cli.main(["status", *args, *fresh]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.split()[-1] == "done" for line in lines[:-1])
    assert lines[-1] == "2 runs: 2 done; complete: nothing left to run"
    assert cli.main(["plan", *args, *fresh]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == lines[-1]
    before = (tmp_path / "results/lr-search/synthetic.json").read_text()
    # a re-run from the fresh clone trains nothing and keeps the recorded points
    outcome = execute.run_sweep("tiny", results_dir=tmp_path / "results",
                                runs_dir=tmp_path / "fresh-runs", scheduler=execute.SERIAL,
                                progress=False, echo=lambda text: None, tables=("lr-search",),
                                methods=("maml",), datasets=("synthetic",), layers=(2,))
    assert set(outcome.values()) == {"skipped"}
    assert (tmp_path / "results/lr-search/synthetic.json").read_text() == before
    # another lr grid is not the committed search
    assert cli.main(["status", *args, *fresh, "--lr-inner", "0.2"]) == 0
    assert capsys.readouterr().out.splitlines()[-2].split()[-1] == "pending"


class _FakeDask:
    """A Dask client and ``wait`` stand-in: futures finish first in, first out, one per
    ``wait``; a ``wait`` with nothing finishing times out and adds a worker thread."""

    def __init__(self, threads, stall=()):
        self.threads, self.stall, self.calls = threads, list(stall), 0
        self.submitted, self.running, self.peak, self.cancelled = [], [], 0, []

    def nthreads(self):
        return {f"w{i}": 1 for i in range(self.threads)}

    def submit(self, fn, run, out_dir, *, pure, key):
        future = _FakeFuture(run)
        self.submitted.append(run.name)
        self.running.append(future)
        self.peak = max(self.peak, len(self.running))
        return future

    def cancel(self, futures):
        self.cancelled += [f.run.name for f in futures]

    def wait(self, futures, *, timeout, return_when):
        assert return_when == "FIRST_COMPLETED" and timeout == execute.WAIT_S
        self.calls += 1
        if self.calls in self.stall:
            self.threads += 1       # a worker joins while nothing finishes
            raise TimeoutError
        self.running.pop(0).finished = True


class _FakeFuture:
    def __init__(self, run):
        self.run, self.finished = run, False

    def done(self):
        return self.finished

    def result(self):
        if self.run.name == "bad":
            raise RuntimeError("worker lost")
        return {"status": "done", "name": self.run.name}


def test_dask_runs_go_out_in_plan_order_one_per_free_worker_thread():
    todo = [sweep.Run("train", "table-a", "synthetic", "maml", 2, 0, n, {}, "maml")
            for n in ("a", "b", "bad", "c", "d")]
    dirs = {sweep.run_id(r): "unused" for r in todo}
    dask = _FakeDask(threads=1, stall=(2,))
    got = list(execute.in_order(dask, dask.wait, todo, dirs))
    assert dask.submitted == ["a", "b", "bad", "c", "d"]      # never out of the plan's order
    assert dask.peak == 2 == dask.threads                    # one thread, then a second joined
    assert [run.name for run, _ in got] == ["a", "b", "bad", "c", "d"]
    outcome = dict((run.name, out) for run, out in got)
    assert outcome["a"] == {"status": "done", "name": "a"}
    assert outcome["bad"]["status"] == "error" and "RuntimeError: worker lost" in \
        outcome["bad"]["record"]["error"]
    # leaving early (Ctrl-C on the client) cancels what is still out, and submits no more
    dask = _FakeDask(threads=2)
    runs = execute.in_order(dask, dask.wait, todo, dirs)
    next(runs)
    runs.close()
    assert dask.submitted == ["a", "b"] and dask.cancelled == ["b"]


class _InterruptedDask(_FakeDask):
    """A client whose ``wait`` is hit by a Ctrl-C halfway, while a run finishes."""

    def wait(self, futures, *, timeout, return_when):
        os.kill(os.getpid(), signal.SIGINT)
        self.running.pop(0).finished = True     # the call still returns normally
        self.returned = True


def test_a_ctrl_c_inside_a_dask_call_waits_for_it_and_keeps_what_finished():
    todo = [sweep.Run("train", "table-a", "synthetic", "maml", 2, 0, n, {}, "maml")
            for n in ("a", "b", "c")]
    dirs = {sweep.run_id(r): "unused" for r in todo}
    dask = _InterruptedDask(threads=2)
    got = []
    with pytest.raises(KeyboardInterrupt):
        for run, outcome in execute.in_order(dask, dask.wait, todo, dirs):
            got.append((run.name, outcome["status"]))
    assert dask.returned                                # not raised inside the call
    assert got == [("a", "done")]                       # the run that finished is handed out
    assert dask.submitted == ["a", "b"] and dask.cancelled == ["b"]   # nothing more goes out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_one_search_path_serves_grid_and_study_budgets():
    """A grid is a study without pruning: the grid budget's search runs are its points, the
    study budget's one study per key; in both, asking for Table 2 plans its MAML row."""
    grid = budgets.search_spec(budgets.budget("cpu"), "maml", 2)
    assert grid["reduction"] is None and grid["rung"] == grid["iterations"]
    for name, kind in (("cpu", "point"), ("converged", "study")):
        plan = sweep.make_plan(name, tables=("lr-search", "table-b"), datasets=("omniglot",),
                               methods=("maml", "kfo"), layers=(2,), seeds=1)
        searches = [r for r in plan if r.table == "lr-search"]
        assert {r.kind for r in searches} == {kind}
        assert {r.search_key for r in searches} == {r.search_key for r in plan
                                                    if r.kind == "train"}
        assert [sweep.run_id(r) for r in plan if r.kind == "train"] == [
            "table-a/omniglot/maml-L2-s0", "table-b/omniglot/kfo-L2-s0"]


def test_points_of_the_budget_grid_outside_a_finished_search_are_not_pending(tmp_path, capsys,
                                                                            monkeypatch):
    """A search recorded over part of today's grid (its winners taken by the table runs) is
    finished: the grid's other points are "outside the recorded search", not run by ``run``."""
    _tiny(tmp_path, tables=("lr-search",), methods=("maml",))
    path = tmp_path / "results/lr-search/synthetic.json"
    record = json.loads(path.read_text())
    kept = [p for p in record["points"] if p["inner_lr"] == 0.1]     # the grid was (0.1, 0.4)
    path.write_text(json.dumps(dict(record, points=kept, winners={"maml": {
        k: kept[0][k] for k in ("inner_lr", "meta_lr", "val_accuracy")}})))
    args = ["--budget", "tiny", "--only", "lr-search", "--methods", "maml", "--datasets",
            "synthetic", "--layers", "2", "--results", str(tmp_path / "results"),
            "--runs", str(tmp_path / "fresh-runs")]
    assert cli.main(["status", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["lr-search/synthetic/maml-L2-a0.1-b0.003",
                                                       "lr-search/synthetic/maml-L2-a0.4-b0.003"]
    assert lines[0].endswith(" done") and lines[1].endswith("outside the recorded search")
    assert lines[-1] == ("2 runs: 1 done, 1 outside the recorded search (not run); complete: "
                         "nothing left to run")
    assert cli.main(["plan", *args]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == lines[-1]
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("ran a point"))
    outcome = execute.run_sweep("tiny", results_dir=tmp_path / "results",
                                runs_dir=tmp_path / "fresh-runs", scheduler=execute.SERIAL,
                                progress=False, echo=lambda text: None, tables=("lr-search",),
                                methods=("maml",), datasets=("synthetic",), layers=(2,))
    assert set(outcome.values()) == {"skipped"}
    assert json.loads(path.read_text())["points"] == kept


def test_a_fresh_clone_plan_and_status_say_the_committed_budgets_are_complete(capsys):
    """The budgets whose every table cell the README fills are complete on a fresh clone."""
    root = Path(__file__).resolve().parents[1]
    for budget in ("cpu", "converged"):
        args = ["--budget", budget, "--checkpoints", "--results", str(root / "results"),
                "--runs", str(root / "no-such-runs")]
        assert cli.main(["status", *args]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert not [line for line in lines if line.endswith("pending")], budget
        assert lines[-1].endswith("complete: nothing left to run"), lines[-1]
        assert cli.main(["plan", *args]) == 0
        assert capsys.readouterr().out.splitlines()[-1] == lines[-1]
        for command in ("plan", "status"):
            assert cli.main([command, *args, "--json"]) == 0
            doc = json.loads(capsys.readouterr().out)
            assert doc["tally"] == lines[-1] and len(doc["runs"]) == len(lines) - 1
            assert {r["state"] for r in doc["runs"]} <= {"done", "failed",
                                                         "outside the recorded search"}


def test_a_scratch_budget_without_results_keeps_out_of_the_committed_records(tmp_path, capsys,
                                                                          monkeypatch):
    """``plan --budget smoke`` reads (and ``run`` would write) ``RUNS/results-smoke``, not the
    checkout's results/ with its ``cpu`` records."""
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert cli.main(["plan", "--budget", "smoke", "--runs", str(tmp_path / "runs")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("9 runs (0 done)")
    assert budgets.default_results("smoke", "w") == "w/results-smoke"
    assert budgets.default_results("converged") == "results"


def test_run_checks_data_paths_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("started a run"))
    argv = ["run", "--budget", "smoke", "--results", tmp_path / "r", "--runs", tmp_path / "w",
            "--datasets", "cifarfs", "--data", f"cifarfs={tmp_path / 'no-such-dir'}",
            "--scheduler", "serial", "--no-progress"]
    with pytest.raises(SystemExit) as stop:
        _cli.run(cli.main, [str(a) for a in argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert f"--data cifarfs={tmp_path / 'no-such-dir'}" in err and "CIFAR-FS" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "w").exists()


def test_run_exits_1_and_prints_each_failure_with_its_reason(tmp_path, capsys, monkeypatch):
    def fail(config, **kwargs):
        if config.get("metaopt") == "kfo":
            raise RuntimeError("out of memory in the KFO factors")
        raise training.DivergedError("meta-loss nan is not finite at iteration 3")

    monkeypatch.setattr(training, "train", fail)
    argv = ["run", "--budget", "tiny", "--only", "table-b", "--methods", "maml,kfo",
            "--datasets", "synthetic", "--layers", "2", "--results", tmp_path / "r",
            "--runs", tmp_path / "w", "--scheduler", "serial", "--no-progress"]
    assert cli.main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["table-a/synthetic/maml-L2-s0: diverged: DivergedError: meta-loss nan is "
                   "not finite at iteration 3",
                   "table-b/synthetic/kfo-L2-s0: error: RuntimeError: out of memory in the "
                   "KFO factors",
                   "2 of 2 runs failed (recorded; `run` again retries the errors, a "
                   "divergence is final)"]
    monkeypatch.undo()
    # the retried error now succeeds; the divergence is final: nothing failed this time
    assert cli.main([str(a) for a in argv]) == 0


@pytest.mark.skipif(execute.fcntl is None, reason="run locks need fcntl (POSIX)")
def test_a_run_another_process_is_training_is_left_to_it(tmp_path, capsys):
    import fcntl
    run = sweep.make_plan("tiny", tables=("table-a",), datasets=("synthetic",),
                          methods=("maml",), layers=(2,), seeds=1)[0]
    out = Path(records.run_dir(tmp_path / "runs", "tiny", run))
    out.mkdir(parents=True)
    name = sweep.run_id(run)
    argv = ["run", "--budget", "tiny", "--only", "table-a", "--datasets", "synthetic",
            "--methods", "maml", "--layers", "2", "--seeds", "1", "--scheduler", "serial",
            "--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs"),
            "--no-progress"]
    with open(out / execute.LOCK, "a") as other:     # the lock another sweep would hold
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert execute.train_run(run, str(out))["status"] == records.BUSY
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert f"{name}: busy: another process is training it" in err
        assert "1 of 1 runs were being trained by another process" in err
        assert not Path(records.record_path(tmp_path / "results", run)).exists()
        assert not (out / training.CHECKPOINT).exists()
    # released: the next invocation trains it
    assert cli.main(argv) == 0
    assert json.loads(Path(records.record_path(tmp_path / "results", run)).read_text())[
        "kind"] == "engine-run"
