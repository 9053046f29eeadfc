"""The converged budget: Optuna studies per (method, depth), early-stopped runs tested on
their best round, adaptation curves, budget folders, checkpoints from best parameters, and
records committed to git as they arrive."""

import collections
import dataclasses
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from theory.engine import checkpoint, stopping
from theory.engine import train as training
from theory.paper import budgets, cost, execute, records, search, vocabulary
from theory.paper import plan as planning

SMOKE = "smoke-converged"


def _sweep(tmp_path, **kw):
    return execute.run_sweep(SMOKE, results_dir=tmp_path / "results",
                             runs_dir=tmp_path / "runs", scheduler=execute.SERIAL,
                             progress=False, echo=lambda text: None, **kw)


@pytest.fixture
def batches(monkeypatch):
    """The run ids of each batch the sweep submits to its (serial) executor, in order."""
    seen, serial = [], execute._serial

    def recorded(todo, dirs, callback=None):
        seen.append([planning.run_id(r) for r in todo])
        yield from serial(todo, dirs, callback)

    monkeypatch.setattr(execute, "_serial", recorded)
    return seen


def test_converged_plan_studies_every_method_and_depth_before_its_runs():
    plan = planning.make_plan("converged", checkpoints=True)
    studies = [r for r in plan if r.table == "lr-search"]
    runs = [r for r in plan if r.table != "lr-search"]
    assert all(r.kind == "study" for r in studies)
    assert {r.name for r in studies} == {r.search_key for r in runs}
    assert len(studies) == len({r.name for r in studies})
    for run in runs:    # its study comes first, in the same or an earlier stage
        study = next(s for s in studies if s.name == run.search_key)
        assert plan.index(study) < plan.index(run) and study.stage <= run.stage
        assert run.config["patience"] >= 1 and run.config["val_episodes"] >= 300
    assert [r.stage for r in plan] == sorted(r.stage for r in plan)
    # the priority order: Table 2 at 2 layers, then LinNet at 2, then deeper, then 20-way
    assert {(r.method, r.layers) for r in runs if r.stage == 0} == {
        (m, 2) for m in vocabulary.TABLE_B_METHODS}
    assert {r.name for r in runs if r.stage == 3} == {
        f"maml-L{n}-20w1s{s}-s0" for n in (2, 4) for s in ("", "-alphabet")}
    alphabet = [r for r in runs if r.name.endswith("alphabet-s0")]
    assert all(r.config["split_by"] == "alphabet" for r in alphabet)
    # one width for every table cell
    assert {r.config["hidden"] for r in runs if r.table != "checkpoints"} == {16}
    # studies use the validation split only: they score on validation rounds, test once
    assert all(s.config["test_episodes"] == 1 and s.config["patience"] == 0
               for s in studies)
    text, seconds = cost.describe(plan, {}, jobs=2)
    assert "counted at their cap" in text.splitlines()[-1] and seconds > 0


def test_smoke_converged_sweep_end_to_end(tmp_path, batches):
    outcome = _sweep(tmp_path)
    assert set(outcome.values()) == {"done"} and len(outcome) == 4
    # the next stage's study is queued behind a stage's runs, to fill a core they leave idle
    assert [b for b in batches if b] == [
        ["lr-search/synthetic/maml-L2"],
        ["table-a/synthetic/maml-L2-s0", "lr-search/synthetic/linnet-L2"],
        ["table-a/synthetic/linnet-L2-s0"]]
    folder = tmp_path / "results" / SMOKE
    study = json.loads((folder / "lr-search/synthetic/maml-L2.json").read_text())
    assert study["kind"] == search.STUDY and study["complete"]
    complete = [p for p in study["points"] if p["state"] == "complete"]
    best = max(complete, key=lambda p: p["val_accuracy"])
    assert study["winner"] == {k: best[k] for k in ("inner_lr", "meta_lr", "val_accuracy")}
    for p in study["points"]:     # a point's score is its best validation round
        assert p["val_accuracy"] == max(acc for _, acc in p["validation"])
    rec = json.loads((folder / "table-a/synthetic/maml-L2-s0.json").read_text())
    assert (rec["config"]["inner_lr"], rec["config"]["meta_lr"]) == (
        study["winner"]["inner_lr"], study["winner"]["meta_lr"])
    assert rec["sweep"]["lr_source"] == "lr-search" and rec["sweep"]["budget"] == SMOKE
    assert rec["stopped"]["reason"] in ("plateau", "cap") and rec["best"]["val_accuracy"] \
        == max(acc for _, acc in rec["validation"])
    curve = rec["adaptation"]
    assert curve["steps"] == [0, 1, 2] and curve["split"] == "test" and curve["episodes"] == 4
    assert all(0 <= a <= 1 for a in curve["accuracy"])
    assert "adaptation" not in json.loads(
        (folder / "table-a/synthetic/linnet-L2-s0.json").read_text())
    # nothing of this budget lands beside the cpu records, and a second run skips everything
    assert not (tmp_path / "results/table-a").exists()
    assert set(_sweep(tmp_path).values()) == {"skipped"}


def test_an_interrupted_study_resumes_without_redoing_finished_points(tmp_path):
    calls = []

    def stop_at_the_second_point(iteration, info):
        calls.append(iteration)
        if len(calls) == 5:     # the first point trains 4 iterations
            raise KeyboardInterrupt

    plan = [r for r in planning.make_plan(SMOKE, methods=("maml",)) if r.kind == "study"]
    with pytest.raises(KeyboardInterrupt):
        _sweep(tmp_path, methods=("maml",), tables=("lr-search",),
               callback=stop_at_the_second_point)
    where = Path(records.run_dir(tmp_path / "runs", SMOKE, plan[0]))
    first = search.point_dir(where, search.points(plan[0].study["grid"])[0])
    kept = os.path.getmtime(Path(first, training.RESULTS))
    assert records.status(records.budget_dir(tmp_path / "results", SMOKE), tmp_path / "runs",
                          SMOKE, plan[0]) == "new"
    assert records.progress(tmp_path / "runs", SMOKE, plan[0]) == "2 of 2 points begun"
    assert _sweep(tmp_path, methods=("maml",), tables=("lr-search",)) == {
        "lr-search/synthetic/maml-L2": "done"}
    assert os.path.getmtime(Path(first, training.RESULTS)) == kept   # not trained again
    study = json.loads((tmp_path / "results" / SMOKE / "lr-search/synthetic/maml-L2.json")
                       .read_text())
    assert study["complete"] and len(study["points"]) == 2


def test_a_study_whose_grid_changed_continues_without_training_its_kept_points_again(
        tmp_path, monkeypatch):
    _sweep(tmp_path, methods=("maml",), tables=("lr-search",))
    study_path = tmp_path / "results" / SMOKE / "lr-search/synthetic/maml-L2.json"
    before = json.loads(study_path.read_text())
    assert before["grid"]["inner_lr"] == [0.1, 0.4]
    spec = dict(budgets.BUDGETS[SMOKE]["study"], inner_lr=(0.1, 0.8))
    monkeypatch.setitem(budgets.BUDGETS, SMOKE, dict(budgets.BUDGETS[SMOKE], study=spec))
    plan = [r for r in planning.make_plan(SMOKE, methods=("maml",)) if r.kind == "study"]
    where = Path(records.run_dir(tmp_path / "runs", SMOKE, plan[0]))
    kept = Path(search.point_dir(where, {"inner_lr": 0.1, "meta_lr": 0.003}),
                training.CHECKPOINT)
    stamp = os.path.getmtime(kept)
    # the old grid's record is neither done nor a winner under the new grid
    assert records.status(records.budget_dir(tmp_path / "results", SMOKE), tmp_path / "runs",
                          SMOKE, plan[0]) == "partial"
    assert "maml-L2" not in records.winners(records.budget_dir(tmp_path / "results", SMOKE),
                                            SMOKE, "synthetic")
    assert _sweep(tmp_path, methods=("maml",), tables=("lr-search",)) == {
        "lr-search/synthetic/maml-L2": "done"}
    after = json.loads(study_path.read_text())
    assert after["complete"] and after["grid"]["inner_lr"] == [0.1, 0.8]
    assert [p["inner_lr"] for p in after["points"]] == [0.1, 0.8]
    # the kept point (trained the whole way) was not trained again, and its rounds were
    # reported to the new study
    old = next(p for p in before["points"] if p["inner_lr"] == 0.1)
    assert old["state"] == "complete" and os.path.getmtime(kept) == stamp
    assert after["points"][0]["validation"] == old["validation"]
    assert (where / f"{search.JOURNAL}.superseded-1").is_file()
    assert "maml-L2" in records.winners(records.budget_dir(tmp_path / "results", SMOKE),
                                        SMOKE, "synthetic")


def _fake_checkpoint(path, config, w):
    checkpoint.save(path, model={"w": np.array([w])}, metaopt={}, adam={"m": np.zeros(3)},
                    config=config, iteration=1, rng_state={})


def test_checkpoints_are_the_best_round_and_index_says_what_the_test_holds(tmp_path,
                                                                          monkeypatch):
    def fake(config, *, out_dir, **kwargs):
        os.makedirs(out_dir, exist_ok=True)
        _fake_checkpoint(Path(out_dir, training.CHECKPOINT), config, -1.0)   # last params
        best = 10.0 + config["seed"] + (config["split_by"] == "alphabet")
        checkpoint.save(Path(out_dir, stopping.BEST), model={"w": np.array([best])},
                        metaopt={}, adam={}, config=config, iteration=1, rng_state={},
                        extra={"optimizer_state": "dropped"})
        return {"kind": "engine-run", "config": config, "seed": config["seed"],
                "validation": [[1, 0.9], [2, 0.4]], "best": {"iteration": 1,
                                                              "val_accuracy": 0.9},
                "test": {"accuracy": 0.5, "ci95": 0.1, "episodes": 10}}

    monkeypatch.setattr(training, "train", fake)
    plan = [r for r in planning.make_plan(SMOKE, tables=("checkpoints",),
                                          datasets=("omniglot",), checkpoints=True)]
    assert {r.config.get("split_by", "character") for r in plan} == {"character", "alphabet"}
    folder = records.budget_dir(tmp_path / "results", SMOKE)
    plan = [dataclasses.replace(r, config={"split_by": "character", **r.config})
            for r in records.assign_lrs(plan, folder, SMOKE)]
    with execute.executor(execute.SERIAL) as submit:
        execute.execute_all(plan, folder, tmp_path / "runs", SMOKE, submit, progress=False)
    shipped = tmp_path / "results/checkpoints"
    copied = records.copy_checkpoints(folder, tmp_path / "runs", SMOKE, plan,
                                      shipped_dir=shipped)
    assert sorted(copied) == ["omniglot-20w1s-2layer-alphabet.npz", "omniglot-20w1s-2layer.npz"]
    assert checkpoint.load(shipped / "omniglot-20w1s-2layer.npz")["model"]["w"].tolist() \
        == [10.0]
    assert checkpoint.load(shipped / "omniglot-20w1s-2layer-alphabet.npz")["model"]["w"] \
        .tolist() == [11.0]
    index = json.loads((shipped / "index.json").read_text())
    assert index["omniglot-20w1s-2layer-alphabet.npz"]["test_split"] == "alphabet"
    assert "alphabets never seen" in index["omniglot-20w1s-2layer-alphabet.npz"]["test_holds"]
    assert index["omniglot-20w1s-2layer.npz"]["val_accuracy"] == 0.9   # best, not last


def test_records_are_committed_as_they_arrive(tmp_path):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "work.txt").write_text("uncommitted work stays out of the commits\n")
    subprocess.run(["git", "add", "work.txt"], cwd=tmp_path, check=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    old = dict(os.environ)
    os.environ.update(env)
    try:
        _sweep(tmp_path, methods=("maml",), commit=True)
    finally:
        os.environ.clear()
        os.environ.update(old)
    log = subprocess.run(git + ["log", "--format=%s", "--name-only"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert "results: lr-search/synthetic/maml-L2" in log
    assert f"results/{SMOKE}/table-a/synthetic/maml-L2-s0.json" in log
    assert "work.txt" not in log            # staged work of the user is not swept in
    status = subprocess.run(git + ["status", "--porcelain"], cwd=tmp_path, capture_output=True,
                            text=True, check=True).stdout
    assert "results/" not in status and "A  work.txt" in status


def test_without_optuna_a_study_budget_says_how_to_install_it(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "optuna", None)     # ``import optuna`` fails
    with pytest.raises(ValueError, match=r"need Optuna: pip install -e '\.\[cluster\]'"):
        _sweep(tmp_path)
    assert not (tmp_path / "results").exists()           # refused before any run
    text, _ = cost.describe(planning.make_plan(SMOKE), {})   # planning needs no Optuna
    assert "study of 2x1" in text


def test_a_failed_commit_is_one_line_of_text(tmp_path):
    record = tmp_path / "record.json"           # not inside any git repository
    record.write_text("{}")
    error = execute.commit_files([record], "results: x")
    assert isinstance(error, str) and error and "\n" not in error
    assert execute.commit_files([tmp_path / "absent.json"], "results: x") is None


def test_stages_that_search_nothing_share_one_queue_in_priority_order(tmp_path, batches):
    # the authors' protocol fixes every lr: its stages only order the runs, so a stage's last
    # run must not leave a core idle until it ends (one submission, in stage order)
    plan = [r for r in planning.make_plan("smoke-authors") if r.kind == "train"]
    assert len({r.stage for r in plan}) > 1
    outcome = execute.run_sweep("smoke-authors", results_dir=tmp_path / "results",
                                runs_dir=tmp_path / "runs", scheduler=execute.SERIAL,
                                progress=False, echo=lambda text: None)
    assert set(outcome.values()) == {"done"}
    assert [b for b in batches if b] == [[planning.run_id(r) for r in plan]]


def test_a_budget_gives_single_cells_their_own_seed_count():
    # the authors' budget: 5 seeds of the core claim's 2-layer cells and 3 of both models at
    # 4 layers, the budget's 3 at 2 layers and 1 at 3 and 6 elsewhere; --seeds caps them all
    b = budgets.budget("authors")
    seeds = collections.Counter((r.method, r.layers) for r in planning.make_plan(
        "authors", tables=("table-a", "table-b")))
    for key in [(m, n) for m in ("maml", "linnet") for n in (2, 3, 4, 6)] + [("kfo", 2)]:
        assert seeds[key] == b["cell_seeds"].get(key, b["seeds"] if key[1] == 2 else
                                                   b["deep_seeds"]), key
    assert seeds[("maml", 2)] == 5 and seeds[("kfo", 2)] == 3 and seeds[("maml", 6)] == 1
    capped = collections.Counter((r.method, r.layers) for r in planning.make_plan(
        "authors", tables=("table-a", "table-b"), seeds=2))
    assert capped[("maml", 2)] == capped[("kfo", 2)] == capped[("linnet", 4)] == 2
    assert capped[("maml", 6)] == 1
