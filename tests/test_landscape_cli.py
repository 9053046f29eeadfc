"""``python -m theory.landscape``: outputs, JSON round trip, one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from theory import _cli
from theory.landscape import closed, simulate, tasks
from theory.landscape.cli import main


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(_cli.run(main, argv))
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_train_prints_the_final_parameters_of_every_restart(capsys):
    code, out, _ = _run(["train", "--depth", "1", "--restarts", "3", "--iterations", "400",
                         "--alpha", "0.5", "--seed", "4", "--tol", "1e-12"], capsys)
    assert code == 0
    rows = [line.split() for line in out.strip().splitlines()[1:-1]]
    assert len(rows) == 3 and out.strip().splitlines()[-1].startswith("3 of 3 restarts converged")
    w = np.array([float(r[1]) for r in rows])
    np.testing.assert_allclose(w, 1.0, atol=1e-6)  # shallow MAML ends at E[a]
    floor = closed.shallow_floor(0.5, tasks.LinearTasks(), 1)
    np.testing.assert_allclose([float(r[2]) for r in rows], floor, rtol=1e-4)


def test_train_json_is_reproducible_from_the_seed(tmp_path, capsys):
    argv = ["train", "--model", "logistic", "--depth", "2", "--restarts", "2", "--iterations",
            "5", "--json", "--seed", "9", "--out", str(tmp_path / "runs")]
    code, out, _ = _run(argv, capsys)
    assert code == 0
    first = json.loads(out)
    assert first["names"] == ["w1", "w2", "b"]
    assert len(first["params"]) == 2 and len(first["final_accuracy"]) == 2
    assert json.loads((tmp_path / "runs" / "train.json").read_text()) == first
    assert json.loads(_run(argv, capsys)[1]) == first


@pytest.mark.parametrize("argv", [
    ["surface", "--grid", "9", "--mc-tasks", "50", "--mc-shots", "5", "--restarts", "2",
     "--iterations", "10"],
    ["sweep", "--alphas", "0.5", "1.0", "--iterations", "50", "--restarts", "2"],
    ["collapse", "--iterations", "50", "--restarts", "2"],
    ["collapse", "--iterations", "5", "--restarts", "2", "--logistic", "--shots", "3"],
    ["effective", "--iterations", "50", "--restarts", "2"],
    ["curves", "--iterations", "50", "--restarts", "2", "--no-logistic", "--no-population"],
])
def test_every_command_runs_and_emits_json(argv, capsys):
    code, out, _ = _run(argv + ["--json"], capsys)
    assert code == 0
    assert isinstance(json.loads(out), dict)
    code, out, _ = _run(argv, capsys)
    assert code == 0 and out.strip()


@pytest.mark.parametrize("argv, needle", [
    (["train", "--sigma2", "0"], "--sigma2"),
    (["train", "--sigma2", "-1"], "--sigma2"),
    (["train", "--alpha", "0"], "--alpha"),
    (["train", "--shots", "0"], "--shots"),
    (["train", "--depth", "0"], "--depth"),
    (["surface", "--grid", "1"], "grid must be an integer >= 2"),
    (["sweep", "--alphas"], "--alphas"),
    (["train", "--method", "reptile"], "--method"),
    (["nonsense"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(argv, needle, capsys):
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err


def test_divergence_outside_train_exits_1_naming_the_iteration(capsys):
    code, _, err = _run(["effective", "--alpha", "3", "--lr", "1", "--restarts", "3",
                         "--optimizer", "sgd", "--iterations", "50"], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "diverged at iteration" in err and "meta-loss" in err


def test_train_reports_diverged_restarts_and_finishes_the_others(capsys):
    code, out, _ = _run(["train", "--restarts", "30", "--json"], capsys)
    assert code == 0
    result = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    diverged = {d["restart"]: d for d in result["diverged"]}
    assert 0 < len(diverged) < 30
    for r in range(30):
        if r in diverged:
            assert result["params"][r] == [None, None] and result["final_loss"][r] is None
            # the reported start is where that restart's trajectory began
            assert diverged[r]["start"] == result["trajectory"][0][r]
            assert diverged[r]["iteration"] >= 0
        else:
            assert result["final_loss"][r] < 1e-3
    code, text, _ = _run(["train", "--restarts", "30"], capsys)
    assert code == 0
    r = min(diverged)
    assert f"{r:7d} diverged at iteration {diverged[r]['iteration']}" in text
    assert f"{len(diverged)} of 30 restarts diverged" in text


def test_dropping_a_diverged_restart_leaves_the_others_as_if_run_alone():
    starts = np.array([[0.3, -0.8], [4.0, 3.0], [1.1, 0.2]])  # the middle one blows up
    kw = dict(depth=2, steps=1, alpha=0.5, meta_batch=None, iterations=200, lr=0.3)
    run = simulate.meta_train(np.random.default_rng(0), init=starts, restarts=3,
                              on_divergence="drop", **kw)
    assert list(run.diverged) == [1] and np.all(np.isnan(run.params[1]))
    alone = simulate.meta_train(np.random.default_rng(0), init=starts[[0, 2]], restarts=2, **kw)
    np.testing.assert_array_equal(run.params[[0, 2]], alone.params)


def test_init_scale_sets_the_spread_of_the_starts(capsys):
    spreads = []
    for scale in ("0.01", "1"):
        code, out, _ = _run(["train", "--restarts", "50", "--iterations", "0", "--init-scale",
                             scale, "--json"], capsys)
        assert code == 0
        spreads.append(np.std(json.loads(out)["trajectory"][0]))
    assert spreads[0] < 0.02 < 0.5 < spreads[1]


def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "theory.landscape", "train", "--depth", "0"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
