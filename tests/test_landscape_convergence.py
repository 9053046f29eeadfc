"""``landscape precondition`` and ``landscape train`` stop on a gradient tolerance, the
iteration count being the cap, and say per restart whether they converged."""

import json

import numpy as np
import pytest

from theory import _optim
from theory.landscape import cli, optim, precondition


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr().out
    return code, out


def test_a_small_alpha_kfo_run_converges_to_its_target_within_the_cap(capsys):
    """At alpha 0.1, kappa 10 the KFO run needs ~9,000 Adam steps: it reaches (alpha Sigma)^-1
    and stops there on its own, each restart flagged converged with its gradient norm."""
    argv = ["precondition", "--alpha", "0.1", "--cond", "10", "--method", "kfo", "--restarts",
            "3", "--json"]
    code, out = _run(argv, capsys)
    doc = json.loads(out)
    assert code == 0 and doc["converged"] == [True] * 3
    assert all(0 < i < doc["iterations"] for i in doc["stopped_at"])
    assert doc["relative_error"] < 0.01 and max(doc["final_loss"]) < 1e-6
    code, out = _run(argv[:-1] + ["--iterations", "2000"], capsys)
    assert code == 0 and ("3 of 3 restarts did not converge: meta-gradient norm and loss "
                          "change still above tol 1e-06 at the cap of 2000 iterations") in out
    doc = json.loads(_run(argv + ["--iterations", "2000"], capsys)[1])
    assert doc["converged"] == [False] * 3 and doc["stopped_at"] == [2000] * 3
    assert all(g > doc["tol"] for g in doc["grad_norm"])


def test_train_reports_convergence_per_restart_on_the_exact_objective(capsys):
    code, out = _run(["train", "--restarts", "4", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["converged"] == [True] * 4 and doc["tol"] == cli.TOL
    assert doc["iterations"][-1] == max(doc["stopped_at"]) < doc["config"]["iterations"]
    code, out = _run(["train", "--restarts", "4", "--iterations", "50"], capsys)
    assert out.splitlines()[-1].startswith("4 of 4 restarts did not converge")
    # a sampled meta-gradient never reaches zero: convergence is not judged there
    code, out = _run(["train", "--restarts", "2", "--iterations", "20", "--no-population",
                      "--json"], capsys)
    assert json.loads(out)["converged"] is None
    assert "not judged" in _run(["train", "--restarts", "2", "--iterations", "20",
                                 "--no-population"], capsys)[1]


def test_a_stopped_restart_is_frozen_and_a_diverged_one_never_converges():
    stop = optim.Stopping(1e-3, 3, cap=10, window=2)
    grads = (np.array([1e-4, 1.0, 0.0]), np.array([0.0, 0.0, 0.0]))
    loss = np.array([1.0, 2.0, 3.0])
    assert stop.check(0, loss, grads, finite=[True, True, False]) is False
    assert stop.converged.tolist() == [True, False, False]
    assert stop.iteration.tolist() == [0, 10, 10]
    init, update, get = _optim.adam(0.1)
    old = init((np.array([1.0, 2.0, 3.0]),))
    new = optim.freeze(stop.stopped, update(0, (np.ones(3),), old), old)
    assert get(new)[0][0] == 1.0 and get(new)[0][1] != 2.0
    assert stop.check(1, loss, (np.array([1.0, 1e-4, 0.0]), np.zeros(3)), [True, True, False])
    assert stop.iteration.tolist() == [0, 1, 10] and stop.grad_norm[0] == pytest.approx(1e-4)


def test_a_loss_gone_flat_over_the_window_is_converged_too():
    """Adam at a constant step bounces around its minimum with a gradient of about its step:
    a loss that moves by at most tol x its start over the window has stopped too."""
    stop = optim.Stopping(1e-3, 2, cap=100, window=2)
    grads = (np.array([1.0, 1.0]),)
    for i, loss in enumerate(([1.0, 1.0], [0.5, 0.5], [0.5, 0.4], [0.5005, 0.3])):
        done = stop.check(i, np.array(loss), grads, [True, True])
    assert not done and stop.converged.tolist() == [True, False]
    assert stop.iteration.tolist() == [3, 100]


def test_the_figure_keeps_its_fixed_budget():
    """``tol=0`` runs every restart to the cap (the preconditioner figure's setting)."""
    out = precondition.meta_train(np.random.default_rng(0), sigma=np.array([1.0, 0.5]),
                                  iterations=30, restarts=2, tol=0.0)
    assert out["curve"].shape == (31, 2) and out["stopped_at"].tolist() == [30, 30]
