"""Training to convergence: early stopping on a fixed validation set, the best-round checkpoint,
the cosine meta learning-rate schedule, and their resumption and command-line options."""

import json
import math
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from conftest import Stop, comparable, run_main, save_without, stop_after

from theory.engine import checkpoint, optim, stopping
from theory.engine import config as run_config
from theory.engine import evaluate as evaluation
from theory.engine import train as training

# A few seconds per run, validated at every iteration. With patience 3 this seed's validation
# accuracy peaks at iteration 10 and the run stops at 13, well before its cap.
TINY = {"layers": 2, "hidden": 8, "ways": 3, "shots": 1, "query": 4, "steps": 1,
        "inner_lr": 0.4, "meta_lr": 0.01, "meta_batch": 4, "iterations": 30, "val_every": 1,
        "val_episodes": 10, "test_episodes": 6, "checkpoint_every": 4, "seed": 1}


def _same_params(a, b):
    assert list(a) == list(b)
    for key in a:
        assert np.asarray(a[key]).tobytes() == np.asarray(b[key]).tobytes(), key


# --- the stopping rule ------------------------------------------------------------------

def test_stopping_rule_on_a_written_out_curve():
    curve = [[1, 0.5], [2, 0.6], [3, 0.6], [4, 0.55], [5, 0.7]]
    assert stopping.best_round(curve) == 4 and stopping.best_round(curve[:4]) == 1
    assert stopping.improved(curve[:2]) and not stopping.improved(curve[:3])  # a tie is no gain
    assert stopping.plateaued(curve[:3], 1) and not stopping.plateaued(curve[:3], 2)
    assert stopping.plateaued(curve[:4], 2) and not stopping.plateaued(curve, 1)
    assert not stopping.plateaued(curve[:4], 0) and not stopping.plateaued([], 1)
    assert stopping.stop_record(curve[:4], 2, 4) == {"iteration": 4, "reason": "plateau"}
    assert stopping.stop_record(curve, 2, 5) == {"iteration": 5, "reason": "cap"}
    assert stopping.best_summary(curve[:4]) == {"iteration": 2, "val_accuracy": 0.6}
    assert stopping.summary(curve[:4], 2, 4) == {
        "best": {"iteration": 2, "val_accuracy": 0.6},
        "stopped": {"iteration": 4, "reason": "plateau"}}
    assert stopping.summary(curve, 0, 5) == {}           # patience 0: the record is as before
    assert stopping.after_round(curve[:2], 1, "new", "old") == ("new", False)
    assert stopping.after_round(curve[:3], 1, "new", "old") == ("old", True)
    assert stopping.after_round(curve[:2], 0, "new", None) == (None, False)


@given(st.lists(st.integers(0, 5), min_size=1, max_size=30), st.integers(1, 5))
def test_a_plateau_is_patience_rounds_without_a_strictly_better_one(accs, patience):
    """The rule restated as a count: rounds since the first maximum >= patience."""
    curve = [[i + 1, a / 5] for i, a in enumerate(accs)]
    since = len(accs) - 1 - accs.index(max(accs))
    assert stopping.plateaued(curve, patience) == (since >= patience)
    # the best round is never worse than a later one, and strictly better than earlier ones
    k = stopping.best_round(curve)
    assert all(a <= accs[k] for a in accs) and all(a < accs[k] for a in accs[:k])


# --- the schedule -----------------------------------------------------------------------

@given(st.floats(1e-5, 1.0), st.integers(1, 10_000), st.data())
def test_cosine_schedule_starts_at_the_step_size_and_is_symmetric(step, total, draw):
    lr = optim.schedule("cosine", step, total)
    assert lr(0) == step
    i = draw.draw(st.integers(1, total - 1)) if total > 1 else 0
    if total > 1:   # cos(pi (T - i) / T) = -cos(pi i / T): the two values sum to the step size
        assert lr(i) + lr(total - i) == pytest.approx(step, rel=1e-12)
        assert 0 < lr(i) <= lr(i - 1) <= step
    assert lr(total + 5) == lr(total - 1) > 0       # past the cap: its last value, no rise
    assert optim.schedule("constant", step, total)(i) == step


@pytest.mark.parametrize("name, step, total, match", [
    ("linear", 0.1, 10, "schedule must be 'constant' or 'cosine', got 'linear'"),
    ("cosine", 0.0, 10, "step_size must be a finite number > 0, got 0.0"),
    ("cosine", 0.1, 0, "total must be an integer >= 1, got 0"),
])
def test_bad_schedule_arguments_are_named(name, step, total, match):
    with pytest.raises(ValueError, match=match):
        optim.schedule(name, step, total)


def test_cosine_schedule_changes_training_and_resumes_bit_for_bit(tmp_path):
    config = dict(TINY, layers=1, hidden=4, query=2, meta_batch=2, val_episodes=4,
                  iterations=6, val_every=3, checkpoint_every=2, meta_lr_schedule="cosine")
    whole = training.train(config, out_dir=tmp_path / "whole", progress=False)
    constant = training.train(dict(config, meta_lr_schedule="constant"),
                              out_dir=tmp_path / "constant", progress=False)
    cos_params = checkpoint.load(tmp_path / "whole" / training.CHECKPOINT)["model"]
    const_params = checkpoint.load(tmp_path / "constant" / training.CHECKPOINT)["model"]
    assert any(not np.array_equal(cos_params[k], const_params[k]) for k in cos_params)
    assert constant["config"]["meta_lr_schedule"] == "constant"
    with pytest.raises(Stop):
        training.train(config, out_dir=tmp_path / "part", progress=False,
                       callback=stop_after(5))
    resumed = training.train(config, out_dir=tmp_path / "part", resume=True, progress=False)
    assert comparable(resumed) == comparable(whole)
    _same_params(checkpoint.load(tmp_path / "part" / training.CHECKPOINT)["model"], cos_params)
    with pytest.raises(ValueError, match="cosine meta_lr_schedule spans the iterations=6"):
        training.train(dict(config, iterations=8), out_dir=tmp_path / "part", resume=True,
                       progress=False)


# --- early stopping in a run ------------------------------------------------------------

@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stopped")
    config = dict(TINY, patience=3)
    return config, out, training.train(config, out_dir=out, progress=False)


def test_a_run_stops_on_a_plateau_and_is_tested_on_its_best_round(stopped_run, tmp_path):
    config, out, result = stopped_run
    curve, stop = result["validation"], result["stopped"]
    assert stop["reason"] == "plateau" and stop["iteration"] < config["iterations"]
    assert result["iterations_done"] == stop["iteration"] == curve[-1][0]
    assert [it for it, _ in curve] == list(range(1, stop["iteration"] + 1))   # whole curve
    assert stopping.plateaued(curve, 3) and not stopping.plateaued(curve[:-1], 3)
    best = result["best"]
    assert best == stopping.best_summary(curve) and best["iteration"] < stop["iteration"]
    assert result["checkpoint"] == os.path.abspath(out / stopping.BEST)
    # best.npz holds the params a run without early stopping has after that many iterations
    plain = training.train(dict(config, patience=0, iterations=best["iteration"]),
                           out_dir=tmp_path, progress=False)
    kept = checkpoint.load(out / stopping.BEST)
    assert kept["iteration"] == best["iteration"] and kept["extra"]["optimizer_state"] == \
        "dropped"
    _same_params(kept["model"], checkpoint.load(tmp_path / training.CHECKPOINT)["model"])
    assert "stopped" not in plain and "best" not in plain and not os.path.exists(
        tmp_path / stopping.BEST)
    # the recorded test accuracy is that of best.npz, reproduced from the file
    cfg, meta_params, opt_obj, _ = checkpoint.restore(out / stopping.BEST)
    test_set = run_config.load_splits(cfg)[2]
    again = evaluation.evaluate(meta_params, test_set, run_config.episode_rng(cfg["seed"], "test"),
                                config=cfg, episodes=cfg["test_episodes"], metaopt=opt_obj)
    assert again["accuracy"] == result["test"]["accuracy"]


def test_an_interrupted_early_stopping_run_resumes_to_the_same_record(stopped_run, tmp_path):
    config, out, whole = stopped_run
    part = tmp_path / "part"
    stop = whole["best"]["iteration"] + 1
    assert stop % config["checkpoint_every"] and stop < whole["stopped"]["iteration"]
    with pytest.raises(Stop):   # after the best round, before the checkpoint holding it
        training.train(config, out_dir=part, progress=False, callback=stop_after(stop))
    saved = checkpoint.load(part / training.CHECKPOINT)
    assert saved["best"] is not None and saved["iteration"] < whole["best"]["iteration"]
    resumed = training.train(config, out_dir=part, resume=True, progress=False)
    assert comparable(resumed) == comparable(whole)
    _same_params(checkpoint.load(part / stopping.BEST)["model"],
                 checkpoint.load(out / stopping.BEST)["model"])
    # resuming a run that has stopped changes nothing; more patience trains on
    again = training.train(config, out_dir=part, resume=True, progress=False)
    assert comparable(again) == comparable(whole)
    longer = training.train(dict(config, patience=50, iterations=16), out_dir=part,
                            resume=True, progress=False)
    assert longer["stopped"] == {"iteration": 16, "reason": "cap"}
    assert longer["validation"][:len(whole["validation"])] == whole["validation"]


def test_old_checkpoints_load_and_resume_without_the_new_options(tmp_path):
    """A checkpoint written before these options existed: no best group, no new config keys."""
    config = dict(TINY, iterations=2, val_every=2)
    training.train(config, out_dir=tmp_path, progress=False)
    path = tmp_path / training.CHECKPOINT
    ck = checkpoint.load(path)
    assert ck["best"] is None
    save_without(path, "patience", "meta_lr_schedule", "split_by")
    restored = checkpoint.restore(path)[0]
    assert (restored["patience"], restored["meta_lr_schedule"], restored["split_by"]) == \
        (0, "constant", "character")
    with pytest.raises(ValueError, match="patience=3: it was run with patience=0"):
        training.train(dict(config, iterations=4, patience=3), out_dir=tmp_path, resume=True,
                       progress=False)
    assert training.train(dict(config, iterations=4), out_dir=tmp_path, resume=True,
                          progress=False)["iterations_done"] == 4


# --- command line -------------------------------------------------------------------------

def test_train_help_lists_the_convergence_options(capsys):
    code, out, _ = run_main(["train", "--help"], capsys)
    assert code == 0
    for option in ("--patience", "--meta-lr-schedule", "{constant,cosine}", "--split-by",
                   "{character,alphabet}"):
        assert option in out


@pytest.mark.parametrize("argv, fragments", [
    (["--patience", "-1"], ["--patience", "'-1' is not an integer >= 0"]),
    (["--patience", "two"], ["--patience", "'two' is not an integer >= 0"]),
    (["--meta-lr-schedule", "step"], ["--meta-lr-schedule", "invalid choice: 'step'"]),
    (["--split-by", "font"], ["--split-by", "invalid choice: 'font'"]),
    (["--split-by", "alphabet"], ["split_by='alphabet' applies to omniglot only",
                                  "not 'synthetic'"]),
])
def test_bad_convergence_options_are_one_line_and_exit_2(argv, fragments, tmp_path, capsys):
    code, _, err = run_main(["train", "--layers", "1", "--hidden", "4", "--ways", "3",
                         "--iterations", "2", "--no-progress", *argv, "--out", tmp_path], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err
    assert not os.listdir(tmp_path)


def test_train_cli_records_early_stopping(tmp_path, capsys):
    code, out, _ = run_main(["train", "--layers", "1", "--hidden", "4", "--ways", "3", "--query",
                         "2", "--meta-batch", "2", "--iterations", "12", "--val-every", "1",
                         "--val-episodes", "4", "--test-episodes", "6", "--seed", "5",
                         "--inner-lr", "0.1", "--patience", "2", "--meta-lr-schedule", "cosine",
                         "--no-progress", "--json", "--out", tmp_path], capsys)
    assert code == 0
    record = json.loads(out)
    assert record["config"]["patience"] == 2 and record["config"]["meta_lr_schedule"] == "cosine"
    assert record["stopped"]["reason"] in ("plateau", "cap")
    assert record["stopped"]["iteration"] == record["validation"][-1][0]
    assert math.isfinite(record["test"]["accuracy"]) and os.path.exists(tmp_path / "best.npz")
