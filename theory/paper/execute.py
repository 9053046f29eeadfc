"""Running the sweep planned by ``theory.paper.plan``: on Dask, or one run at a time here.

``train_run`` is the one task: it trains a run on whatever machine executes it and returns
its record (and the checkpoint's bytes when the plan keeps the checkpoint), so workers need no
shared filesystem; only the client writes into ``results/`` (``records.write_outcome``). A
worker trains in the client's run directory when it can create it (the same machine, or a
shared filesystem): a run rescheduled there resumes from its last checkpoint. Elsewhere it
trains in a temporary directory and a rescheduled run starts again from the beginning.

Executors (``executor``): a ``dask.distributed.LocalCluster`` of this machine (default: one
single-threaded worker process per core; Dask's nanny sets one BLAS thread per worker), an
existing cluster given by its scheduler address, or ``serial`` (this process, in order; the
fallback when ``dask.distributed`` is not installed). On Dask the runs start in the plan's
order, one per free worker thread (``WAIT_S``: how often a joining worker is noticed). A
worker that dies mid-run loses its run to Dask, which reschedules it; a run that fails on every
try is recorded as an error and retried by the next invocation. Ctrl-C on the client keeps
every record already written."""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import fcntl
except ImportError:         # not POSIX: runs are not locked
    fcntl = None

from tqdm.auto import tqdm

from theory import _check
from theory.engine import checkpoint, data, heap, parallel, provenance, stopping
from theory.engine import config as run_config
from theory.engine import evaluate as evaluation
from theory.engine import train as training
from theory.paper import budgets, connect, cost, records, search
from theory.paper import plan as planning

SERIAL = "serial"
WAIT_S = 5.0   # how often the Dask executor looks for a worker that joined the cluster
LOCK = ".lock"  # held in a run directory while a process trains there (``claim``)
BUSY_REASON = ("another process is training it (it holds the run directory's .lock); this "
               "invocation left it alone and wrote nothing for it")


@contextlib.contextmanager
def claim(out_dir):
    """Hold the advisory lock ``<out_dir>/.lock`` (``fcntl.flock``) while a run trains there;
    yields ``False`` without waiting if another process (another sweep whose filters include
    the same run) holds it. The lock goes with the process that holds it, so a worker that dies
    leaves none behind. Without ``fcntl`` (not POSIX) every claim succeeds."""
    if fcntl is None:
        yield True
        return
    with open(os.path.join(out_dir, LOCK), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True          # closing the file releases the lock


def train_run(run, out_dir, *, callback=None):
    """Train ``run`` (resuming a checkpoint in ``out_dir`` if there is one) and return
    ``{"status": "done" | "diverged" | "error", "record", "checkpoint": bytes | None,
    "best": bytes | None}`` (the checkpoint and, with early stopping, ``best.npz`` when the
    plan keeps them); a study run (kind ``"study"``) runs its Optuna study instead
    (``search.run_study``) and a run with a ``curve`` adds its ``adaptation`` curve
    (``adaptation``) to the record. ``out_dir`` falls back to a temporary directory where it
    cannot be created. Any exception but ``KeyboardInterrupt`` is returned as a failure record
    (kind ``records.FAILED``). A run whose directory another process has claimed (``claim``)
    is not trained: its status is ``records.BUSY`` and it has no record."""
    # a worker trains for long, maybe on several threads (theory.engine.heap, parallel)
    heap.keep_freed_memory()
    parallel.thread_safe_autograd()
    scratch = None
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError:
        out_dir = scratch = tempfile.mkdtemp(prefix="theory-run-")
    try:
        with claim(out_dir) as mine:
            if not mine:
                return {"status": records.BUSY, "checkpoint": None, "best": None,
                        "record": None}
            return _train_here(run, out_dir, callback)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _train_here(run, out_dir, callback):
    """``train_run`` in ``out_dir``, which this process has claimed."""
    ckpt = os.path.join(out_dir, training.CHECKPOINT)
    try:
        if run.kind == "study":
            return {"status": "done", "checkpoint": None, "best": None,
                    "record": search.run_study(run, out_dir, callback=callback)}
        record = training.train(run.config, out_dir=out_dir, resume=os.path.exists(ckpt),
                                progress=False, callback=callback)
        if run.curve:
            record["adaptation"] = adaptation(run, out_dir)
    except Exception as err:  # noqa: BLE001 -- any failure is recorded, the sweep goes on
        return _failure(run, err)
    kept = {}
    for key, name in (("checkpoint", training.CHECKPOINT), ("best", stopping.BEST)):
        path = os.path.join(out_dir, name)
        kept[key] = None
        if run.keep_checkpoint and os.path.exists(path):
            with open(path, "rb") as handle:
                kept[key] = handle.read()
    return {"status": "done", "record": record, **kept}


def adaptation(run, out_dir):
    """The run's adaptation curve: mean test accuracy (fractions) and 95 % half-widths after
    k = 0..``run.curve["steps"]`` inner steps, over ``run.curve["episodes"]`` test
    episodes (the first ones of the run's own test episodes), from its best-validation
    parameters (its last ones without early stopping)."""
    best = os.path.join(out_dir, stopping.BEST)
    config, meta_params, opt_obj, _ = checkpoint.restore(
        best if os.path.exists(best) else os.path.join(out_dir, training.CHECKPOINT))
    test = data.load(config["dataset"], config["data"], split="test",
                     split_by=config["split_by"])
    curve = evaluation.adaptation_curve(meta_params, test,
                                        run_config.episode_rng(config["seed"], "test"),
                                        config=config, metaopt=opt_obj,
                                        steps=range(run.curve["steps"] + 1),
                                        episodes=run.curve["episodes"])
    return {"split": "test", **{k: curve[k] for k in ("steps", "accuracy", "ci95", "episodes")}}


def _serial(todo, dirs, callback):
    for run in todo:
        yield run, train_run(run, dirs[planning.run_id(run)], callback=callback)


def _failure(run, err):
    """The outcome of a run that raised ``err``, in training or on a worker Dask reports
    (e.g. ``KilledWorker``: the run's workers kept dying): a divergence is final, any other
    error is retried by the next invocation."""
    kind = "diverged" if isinstance(err, training.DivergedError) else "error"
    return {"status": kind, "checkpoint": None,
            "record": {"kind": records.FAILED, "status": kind,
                       "error": f"{type(err).__name__}: {err}", "config": run.config,
                       "seed": run.seed, "commit": provenance.source_commit()}}


@contextlib.contextmanager
def executor(scheduler=None, jobs=None, echo=print):
    """A function ``submit(todo, dirs, callback) -> iterator of (run, outcome)`` in completion
    order: ``scheduler`` ``None`` starts a ``LocalCluster`` of ``jobs`` (default: the cores)
    single-threaded worker processes, ``SERIAL`` runs here, an address (``tcp://HOST:PORT``)
    connects to that cluster (``connect``: refused in one line within seconds when no
    scheduler answers there). ``callback`` (``train``'s) is used by the serial executor only."""
    if scheduler == SERIAL:
        yield _serial
        return
    try:
        from dask import distributed
    except ImportError:
        if scheduler is not None:
            raise ValueError(f"--scheduler {scheduler} needs dask.distributed: "
                             "pip install -e '.[cluster]'") from None
        echo("dask.distributed is not installed (pip install -e '.[cluster]'): "
             "running one run at a time in this process")
        yield _serial
        return
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                # the scheduler's HTTP server (health, and the dashboard where bokeh is
                # installed) on a free port: the default 8787 may belong to another cluster
                host="127.0.0.1", dashboard_address="127.0.0.1:0"))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            connect.probe(scheduler)        # one line, within 10 s, if no scheduler answers
            try:
                client = stack.enter_context(distributed.Client(
                    scheduler, timeout=f"{connect.CLIENT_TIMEOUT_S:g}s"))
            except Exception as err:  # noqa: BLE001 -- any failure to connect is one line
                raise ValueError(f"--scheduler {scheduler}: cannot connect "
                                 f"({type(err).__name__}: {err})") from None

        def submit(todo, dirs, callback=None):
            return in_order(client, distributed.wait, todo, dirs)

        yield submit


def in_order(client, wait, todo, dirs):
    """Run ``todo`` on the Dask ``client`` in its order: ``(run, outcome)`` as runs finish.

    Dask assigns a task to a worker when it is submitted, so a batch submitted at once would
    run in each worker's own order, not ``todo``'s: runs go out one per free worker thread
    instead, the next when one finishes (``wait``: ``distributed.wait``) or a worker joins
    (looked for every ``WAIT_S``). A run whose task fails (e.g. ``KilledWorker``) yields its
    failure record. A Ctrl-C inside Dask's blocking calls would break its event loop (the
    client could not even close), so it is held until they return (within ``WAIT_S``) and
    raised after the runs finished by then. On exit nothing more runs for this client."""
    queue, futures = list(todo), {}
    try:
        while queue or futures:
            finished = []
            try:
                with parallel.deferred_interrupt():
                    _advance(client, wait, queue, futures, dirs, finished)
            finally:
                yield from finished
    finally:
        with parallel.deferred_interrupt():
            client.cancel(list(futures))


def _advance(client, wait, queue, futures, dirs, finished):
    """One round of ``in_order``: submit, wait up to ``WAIT_S``, move finished runs along."""
    slots = max(1, sum(client.nthreads().values()))
    while queue and len(futures) < slots:
        run = queue.pop(0)
        futures[client.submit(train_run, run, dirs[planning.run_id(run)], pure=False,
                              key=f"theory-paper-{planning.run_id(run)}-"
                                  f"{os.urandom(4).hex()}")] = run
    try:
        wait(list(futures), timeout=WAIT_S, return_when="FIRST_COMPLETED")
    except TimeoutError:      # none finished: look again for new workers
        pass
    for future in [f for f in futures if f.done()]:
        run = futures.pop(future)
        try:
            finished.append((run, future.result()))
        except Exception as err:  # noqa: BLE001 -- e.g. KilledWorker: recorded
            finished.append((run, _failure(run, err)))


def commit_files(paths, message):
    """Commit ``paths`` (those that exist, and nothing else that is staged) to the git
    repository that holds them; returns the error text, or ``None`` when it worked."""
    paths = [os.path.abspath(p) for p in paths if os.path.exists(p)]
    if not paths:
        return None
    cwd = os.path.dirname(paths[0])
    for cmd in (["git", "add", "--", *paths],
                ["git", "commit", "-q", "--no-verify", "-m", message, "--", *paths]):
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
        if done.returncode:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return lines[-1] if lines else f"{cmd[1]} failed (exit status {done.returncode})"
    return None


def execute_all(runs, results_dir, runs_dir, budget_name, submit, *, progress=True,
                callback=None, echo=print, commit=False):
    """Run every unfinished run of ``runs`` through ``submit`` (``executor``) and record each
    as it finishes (with ``commit``, each record is committed to git as it arrives); returns
    ``{run_id: status}`` (``"skipped"`` if done, diverged or outside the recorded search). A
    damaged record (one that fails its schema) is renamed ``<file>.damaged`` and its run
    trained again."""
    states = {planning.run_id(r): records.status(results_dir, runs_dir, budget_name, r)
              for r in runs}
    outcome = {name: "skipped" for name, state in states.items() if state in records.FINAL}
    todo = [r for r in runs if planning.run_id(r) not in outcome]
    for run in (r for r in todo if states[planning.run_id(r)] == "damaged"):
        why = records.damage(results_dir, runs_dir, budget_name, run)
        moved = records.set_aside(results_dir, runs_dir, budget_name, run)
        echo(f"{planning.run_id(run)}: {why}; kept as {', '.join(moved)}, running it again")
    dirs = {planning.run_id(r): records.run_dir(runs_dir, budget_name, r) for r in todo}
    with tqdm(total=len(todo), desc="runs", disable=not progress, dynamic_ncols=True) as bar:
        for run, result in submit(todo, dirs, callback):
            name = planning.run_id(run)
            outcome[name] = records.write_outcome(results_dir, runs_dir, budget_name, run,
                                                  result)
            if progress:        # beside the bar, on stderr
                bar.write(f"{name}: {outcome[name]}", file=sys.stderr)
            else:
                echo(f"{name}: {outcome[name]}")
            if commit and outcome[name] != records.BUSY:
                _commit(echo, [records.record_path(results_dir, run)],
                        f"results: {name} ({budget_name} budget): {outcome[name]}")
            bar.update(1)
    return outcome


def _commit(echo, paths, message):
    error = commit_files(paths, message)
    if error:
        echo(f"warning: could not commit {', '.join(paths)}: {error}")


def prepare(budget_name, results_dir, runs_dir, **restrict):
    """The plan (table runs with their lrs as the committed search gives them) and each run's
    state ``{run_id: status}``; ``results_dir`` is the top results folder (the budget's
    records are in ``records.budget_dir`` of it); ``restrict``: ``make_plan``'s options."""
    results_dir = records.budget_dir(results_dir, budget_name)
    plan = planning.make_plan(budget_name, **restrict)
    plan = records.assign_lrs([r for r in plan if r.kind != "train"]
                              + [r for r in plan if r.kind == "train"], results_dir, budget_name)
    return plan, {planning.run_id(r): records.status(results_dir, runs_dir, budget_name, r)
                  for r in plan}


def check_data(runs):
    """``ValueError`` in one line, before any work starts, if a dataset of ``runs`` is not
    where its ``data`` path (or the default location) says (``data.locate``)."""
    for dataset, path in dict.fromkeys((r.dataset, r.config.get("data")) for r in runs):
        try:
            data.locate(dataset, path)
        except (FileNotFoundError, ValueError) as err:
            where = f"--data {dataset}={path}" if path is not None else f"dataset {dataset}"
            raise ValueError(f"{where}: {err}") from None


def failures(outcome, plan, results_dir, runs_dir, budget_name):
    """``[(run_id, status, reason)]`` of the runs of ``outcome`` (``run_sweep``'s) that failed,
    in plan order, the reason read from each one's failure record. A search point that
    diverged is a result of its search (that learning rate is too large), not a failure."""
    results_dir = records.budget_dir(results_dir, budget_name)
    out = []
    for run in plan:
        name = planning.run_id(run)
        state = outcome.get(name)
        if state in (None, "done", "skipped") or (run.kind == "point" and state == "diverged"):
            continue
        out.append((name, state, BUSY_REASON if state == records.BUSY else
                    records.failure_reason(results_dir, runs_dir, budget_name, run)))
    return out


def run_sweep(budget_name, *, results_dir="results", runs_dir="runs", scheduler=None,
              jobs=None, progress=True, callback=None, echo=print, commit=False, **restrict):
    """Plan, print the estimate, then per dataset and stage (``plan.STAGES``, one stage for a
    grid-search budget) run the lr search, record its winners, run the tables and
    (``checkpoints=True``) the 20-way runs, and copy the checkpoints to
    ``<results_dir>/checkpoints``. A stage's runs are submitted with the next stage's studies
    queued behind them, so a core that the stage's last runs leave idle starts those studies
    (no run waits for them). ``commit``: commit every record to git as it is written.
    ``scheduler``/``jobs``: ``executor``'s; ``restrict``: ``make_plan``'s options. Returns
    ``{run_id: status}``."""
    jobs = _check.integer("jobs", jobs, 1, none="one per core")
    plan, states = prepare(budget_name, results_dir, runs_dir, **restrict)
    todo = [r for r in plan if states[planning.run_id(r)] not in records.FINAL]
    check_data(todo)
    if any(r.kind == "study" for r in todo):
        search.require()
    echo(cost.describe(plan, states, jobs or os.cpu_count() or 1)[0].splitlines()[-1])
    # a budget that does not ship keeps its best checkpoints in its own folder
    shipped = os.path.join(os.fspath(results_dir), "checkpoints")
    results_dir = records.budget_dir(results_dir, budget_name)
    if not budgets.budget(budget_name).get("ships", True):
        shipped = os.path.join(results_dir, "checkpoints")
    outcome = {}
    with executor(scheduler, jobs, echo) as submit:
        kw = {"progress": progress, "callback": callback, "echo": echo, "commit": commit}
        for dataset in dict.fromkeys(r.dataset for r in plan):
            mine = [r for r in plan if r.dataset == dataset]
            stages = sorted({r.stage for r in mine})
            searches = {k: [r for r in mine if r.stage == k and r.kind != "train"]
                        for k in stages}
            ahead = []      # the next stage's studies, started when a core would idle
            joined = set()  # stages submitted with an earlier one
            for i, stage in enumerate(stages):
                if stage in joined:
                    continue
                started = {planning.run_id(r) for r in ahead}
                part = [r for r in searches[stage] if planning.run_id(r) not in started]
                outcome.update(execute_all(part, results_dir, runs_dir, budget_name, submit,
                                           **kw))
                if any(r.kind == "point" for r in part):
                    records.lr_winners(results_dir, runs_dir, budget_name, part)
                    if commit:
                        _commit(echo, [records.lr_search_path(results_dir, dataset)],
                                f"results: {dataset} learning-rate search ({budget_name})")
                # the stages after this one that search nothing need nothing from it: their
                # runs queue behind this stage's, in stage order, so that no core idles
                # while a stage's last run finishes
                together = [stage]
                for nxt in stages[i + 1:]:
                    if searches[nxt]:
                        break
                    together.append(nxt)
                joined.update(together)
                part = records.assign_lrs([r for k in together for r in mine if r.stage == k
                                           and r.kind == "train"], results_dir, budget_name)
                later = next((k for k in stages[i + 1:] if k not in joined), None)
                ahead = [r for r in searches.get(later, ()) if r.kind == "study"]
                outcome.update(execute_all(part + ahead, results_dir, runs_dir, budget_name,
                                           submit, **kw))
            copied = records.copy_checkpoints(
                results_dir, runs_dir, budget_name,
                [r for r in mine if r.kind == "train"], shipped_dir=shipped) \
                if restrict.get("checkpoints") else {}
            for name, source in copied.items():
                echo(f"checkpoint {name} <- {source}")
            if copied and commit:
                _commit(echo, [os.path.join(shipped, n) for n in [*copied, "index.json"]],
                        f"results: {budget_name} checkpoints {', '.join(copied)}")
    return outcome
