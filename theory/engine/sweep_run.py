"""Running the benchmark-table sweep planned by ``theory.engine.sweep``: status, resume, jobs.

``run_sweep`` plans, prints the estimate, then per dataset runs the learning-rate search,
records its winners, runs the tables and copies the checkpoints. ``execute`` trains one run
(resuming its checkpoint) and records it or its failure; ``execute_all`` runs many, in this
process or in ``jobs`` children with single-threaded BLAS (``worker``).
"""

import os
import signal
import subprocess
import sys
import time

from tqdm.auto import tqdm

from theory import _io
from theory.engine import sweep
from theory.engine import train as training


def _record_file(results_dir, runs_dir, budget_name, run):
    """Where ``execute`` records ``run``: its record in ``results/``, or for a search point
    (whose engine record stays in its run directory) only a failure, as ``failed.json``."""
    if run["table"] == "lr-search":
        return os.path.join(sweep.run_dir(runs_dir, budget_name, run), "failed.json")
    return sweep.record_path(results_dir, run)


def status(results_dir, runs_dir, budget_name, run):
    """``"done"``, ``"failed"`` (final), ``"retry"``, ``"partial"`` (checkpoint) or ``"new"``."""
    out = sweep.run_dir(runs_dir, budget_name, run)
    if run["table"] == "lr-search" and os.path.exists(os.path.join(out, training.RESULTS)):
        return "done"
    path = _record_file(results_dir, runs_dir, budget_name, run)
    rec = sweep.read_json_or_none(path)
    if rec is None:
        return "partial" if os.path.exists(os.path.join(out, training.CHECKPOINT)) else "new"
    if rec.get("kind") == sweep.FAILED:
        return "failed" if rec["status"] == "diverged" else "retry"
    if rec.get("sweep", {}).get("budget") not in (None, budget_name) \
            or rec["config"]["iterations"] != run["config"]["iterations"]:
        raise ValueError(f"{path} holds a run of another budget "
                         f"({rec.get('sweep', {}).get('budget')!r}); choose another "
                         "--results directory")
    lrs = [(rec["config"][k], run["config"].get(k)) for k in ("inner_lr", "meta_lr")]
    if any(want is not None and have != want for have, want in lrs):
        raise ValueError(f"{path} was trained with (inner, meta) lrs "
                         f"{tuple(h for h, _ in lrs)}, but the search now gives "
                         f"{tuple(w for _, w in lrs)}; delete it and {out} to re-run it")
    return "done"


def execute(run, results_dir, runs_dir, budget_name, *, callback=None, progress=False):
    """Train one run (resuming its checkpoint), copy its record; return ``"done"``, or
    ``"diverged"``/``"error"`` (recorded). ``KeyboardInterrupt`` propagates (whole checkpoint)."""
    out = sweep.run_dir(runs_dir, budget_name, run)
    ckpt = os.path.join(out, training.CHECKPOINT)
    sweep_info = {"budget": budget_name, "table": run["table"], "method": run["method"],
                  "run": run["name"], "lr_source": run.get("lr_source", "grid")}
    dest = _record_file(results_dir, runs_dir, budget_name, run)
    try:
        record = training.train(run["config"], out_dir=out, resume=os.path.exists(ckpt),
                                progress=progress, callback=callback)
    except Exception as err:  # noqa: BLE001 -- any failure is recorded, the sweep goes on
        kind = "diverged" if isinstance(err, training.DivergedError) else "error"
        _io.write_json(dest, {"kind": sweep.FAILED, "status": kind,
                              "error": f"{type(err).__name__}: {err}", "config": run["config"],
                              "seed": run["seed"], "commit": training.git_commit(),
                              "sweep": sweep_info})
        return kind
    if run["table"] != "lr-search":
        _io.write_json(dest, dict(record, sweep=sweep_info))
    return "done"


def worker(spec_path):
    """Subprocess entry point: run the ``execute`` arguments stored as JSON in ``spec_path``."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as cleanly as Ctrl-C
    spec = _io.read_json(spec_path)
    try:
        print(execute(spec["run"], spec["results"], spec["runs"], spec["budget"]), flush=True)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _spawn(run, results_dir, runs_dir, budget_name):
    """Start ``worker`` in a child with single-threaded BLAS (set before numpy loads)."""
    spec = sweep.run_dir(runs_dir, budget_name, run) + ".spec.json"
    _io.write_json(spec, {"run": run, "results": os.fspath(results_dir),
                          "runs": os.fspath(runs_dir), "budget": budget_name})
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    code = "import sys; from theory.engine import sweep_run; sweep_run.worker(sys.argv[1])"
    return subprocess.Popen([sys.executable, "-c", code, spec], env=env,
                            stdout=subprocess.PIPE, text=True)


def execute_all(runs, results_dir, runs_dir, budget_name, *, jobs=1, progress=True,
                callback=None):
    """Run every unfinished run of ``runs`` (``jobs=1``: in this process, else that many
    children at once); returns ``{run_id: status}`` (``"skipped"`` if done or diverged)."""
    outcome = {sweep.run_id(r): "skipped" for r in runs
               if status(results_dir, runs_dir, budget_name, r) in ("done", "failed")}
    todo = [r for r in runs if sweep.run_id(r) not in outcome]
    with tqdm(total=len(todo), desc="runs", disable=not progress, dynamic_ncols=True) as bar:
        if jobs == 1:
            for run in todo:
                bar.set_postfix_str(f"{run['dataset']}/{run['name']}")
                outcome[sweep.run_id(run)] = execute(run, results_dir, runs_dir, budget_name,
                                               callback=callback)
                bar.write(f"{sweep.run_id(run)}: {outcome[sweep.run_id(run)]}")
                bar.update(1)
            return outcome
        active = []
        try:
            while todo or active:
                while todo and len(active) < jobs:
                    run = todo.pop(0)
                    active.append((run, _spawn(run, results_dir, runs_dir, budget_name)))
                time.sleep(0.2)
                for run, proc in [a for a in active if a[1].poll() is not None]:
                    active = [a for a in active if a[1] is not proc]
                    words = proc.stdout.read().split()
                    outcome[sweep.run_id(run)] = words[-1] if proc.returncode == 0 and words \
                        else "error"
                    bar.write(f"{sweep.run_id(run)}: {outcome[sweep.run_id(run)]}")
                    bar.update(1)
        finally:   # interrupted: stop the children cleanly (their checkpoints stay whole)
            for _, proc in active:
                proc.terminate()
                proc.wait()
    return outcome


def run_sweep(budget_name, *, results_dir="results", runs_dir="runs", jobs=1, dry_run=False,
              progress=True, callback=None, echo=print, **restrict):
    """Plan, print the estimate, then per dataset (Omniglot first) run the lr search, the
    tables and (``checkpoints=True``) the 20-way runs and copy the checkpoints. ``restrict``:
    ``make_plan``'s options. Returns ``{run_id: status}`` (``{}`` for a dry run)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs={jobs!r} must be an integer >= 1")
    plan = sweep.make_plan(budget_name, **restrict)
    search = [r for r in plan if r["table"] == "lr-search"]
    tables = sweep.assign_lrs([r for r in plan if r["table"] != "lr-search"], results_dir,
                        budget_name)
    text, total = sweep.describe(search + tables, jobs)
    echo(text if dry_run else text.splitlines()[-1])
    if dry_run:
        return {}
    outcome, kw = {}, {"jobs": jobs, "progress": progress, "callback": callback}
    for dataset in dict.fromkeys(r["dataset"] for r in plan):
        part = [r for r in search if r["dataset"] == dataset]
        outcome.update(execute_all(part, results_dir, runs_dir, budget_name, **kw))
        sweep.lr_winners(results_dir, runs_dir, budget_name, part)
        part = sweep.assign_lrs([r for r in tables if r["dataset"] == dataset], results_dir,
                          budget_name)
        outcome.update(execute_all(part, results_dir, runs_dir, budget_name, **kw))
        copied = sweep.copy_checkpoints(results_dir, runs_dir, budget_name, part) \
            if restrict.get("checkpoints") else {}
        for name, source in copied.items():
            echo(f"checkpoint {name} <- {source}")
    return outcome
