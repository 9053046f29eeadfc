"""Task chunks in several processes: the same meta-gradient; autograd safe across threads."""

import os
import subprocess
import sys
import threading

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from theory.engine import bench, chunks, parallel, timing

SMALL = dict(layers=2, hidden=4, ways=2, shots=1, query=2, steps=2, meta_batch=6,
             in_shape=(1, 6, 6))


def _problem(**overrides):
    meta_params, batch, kwargs = bench.make_problem(bench.config(**{**SMALL, **overrides}))
    kwargs.pop("chunk")
    return meta_params, batch, kwargs


def _leaves(result):
    loss, grads, aux = result
    return [loss] + [grads["model"][k] for k in sorted(grads["model"])] \
        + [aux[k] for k in sorted(aux)]


@pytest.mark.parametrize("chunk", [1, 2, 4])
def test_workers_do_not_change_the_result(chunk):
    """For a given chunk size, helper processes give the serial meta-gradient bit for bit."""
    meta_params, batch, kwargs = _problem()
    serial = chunks.meta_grad(meta_params, batch, chunk=chunk, workers=1, **kwargs)
    parallel_ = chunks.meta_grad(meta_params, batch, chunk=chunk, workers=3, **kwargs)
    for a, b in zip(_leaves(serial), _leaves(parallel_), strict=True):
        assert np.array_equal(a, b)


def test_automatic_chunks_in_processes_match_one_chunk_to_rounding():
    """Automatic chunks for 2 workers: the one-chunk meta-gradient to float64 rounding."""
    meta_params, batch, kwargs = _problem(first_order=False)
    meta_params = {"model": {k: v.astype(np.float64) for k, v in meta_params["model"].items()},
                   "metaopt": meta_params["metaopt"]}
    batch = (batch[0].astype(np.float64), batch[1], batch[2].astype(np.float64), batch[3])
    assert chunks.task_chunk(None, 6, meta_params, batch, 2, "maml", workers=2) == 3
    whole = chunks.meta_grad(meta_params, batch, chunk=6, workers=1, **kwargs)
    split = chunks.meta_grad(meta_params, batch, workers=2, **kwargs)
    for a, b in zip(_leaves(whole), _leaves(split), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_automatic_chunks_share_the_memory_budget(monkeypatch):
    """Workers hold a chunk each: the budget is shared, and every worker gets a chunk."""
    meta_params, batch, _ = _problem(meta_batch=16)
    per_task = chunks.graph_bytes_per_task(meta_params["model"], batch, 2, "maml")
    monkeypatch.setattr(chunks, "CHUNK_BUDGET_BYTES", 4 * per_task)  # 4 tasks fit in all
    sizes = {w: chunks.task_chunk(None, 16, meta_params, batch, 2, "maml", workers=w)
             for w in (1, 2, 3)}
    # 1 worker: 4 chunks of 4 tasks; 2 workers: 8 of 2; 3 workers: 12 chunks wanted -> size 2
    assert sizes == {1: 4, 2: 2, 3: 2}
    assert chunks.task_chunk(None, 2, meta_params, batch, 2, "maml", workers=4) == 1


def _second_derivative_while_another_trace_exits(results):
    """Thread A takes d/dx of (d/dy y**2 x at y = x) = 4x while B's earlier trace exits.

    With autograd's single trace counter, A's inner trace gets the number of A's own live
    outer trace once B has exited, and the two traces' boxes mix.
    """
    parallel.thread_safe_autograd()
    b_in, a_in, b_done = threading.Event(), threading.Event(), threading.Event()

    def thread_b():
        def f(x):
            b_in.set()
            a_in.wait(5)
            return 2.0 * x
        grad(f)(1.0)
        b_done.set()

    def thread_a():
        def first_derivative(x):
            a_in.set()
            b_done.wait(5)
            return grad(lambda y: y ** 2 * x)(x)
        b_in.wait(5)
        results.append(grad(first_derivative)(1.5))

    threads = [threading.Thread(target=thread_b), threading.Thread(target=thread_a)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)


def test_autograd_traces_are_numbered_per_thread():
    """Nested traces in one thread stay apart while another thread's traces come and go."""
    results = []
    _second_derivative_while_another_trace_exits(results)
    assert results == [pytest.approx(4 * 1.5, rel=1e-12)]


def test_thread_safe_autograd_keeps_a_live_trace_number():
    """Installing the per-thread counter inside a trace keeps that trace's number."""
    def f(x):
        parallel.thread_safe_autograd()
        return anp.sin(x) * grad(anp.cos)(x)
    assert grad(f)(0.3) == pytest.approx(np.cos(0.3) * -np.sin(0.3) - np.sin(0.3) * np.cos(0.3))


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_workers(workers):
    with pytest.raises(ValueError, match=f"workers must be None .*got {workers!r}"):
        parallel.check_workers(workers)


def _log(x):
    return np.log(np.full(3, x))


def _fail(x):
    if x == 1:
        raise KeyError(f"chunk {x}")
    return x


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_keep_the_callers_errstate(workers):
    """``np.errstate`` of the caller holds in the helpers (train.py relies on it)."""
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        parallel.map_chunks(_log, [(1.0,), (-1.0,)], workers)
    with np.errstate(all="ignore"):
        out = parallel.map_chunks(_log, [(1.0,), (-1.0,)], workers)
    assert np.isnan(out[1]).all()


def test_a_helpers_exception_reaches_the_caller_and_the_pool_survives():
    with pytest.raises(KeyError, match="chunk 1"):
        parallel.map_chunks(_fail, [(0,), (1,)], 2)  # chunk 1 runs in the helper
    assert parallel.map_chunks(_log, [(1.0,), (np.e,), (1.0,)], 2) == [pytest.approx(_log(v)) for v in (1.0, np.e, 1.0)]


def test_meta_optimizers_travel_to_the_helpers():
    """Every meta-optimizer pickles as its name and options (its functions are closures)."""
    import pickle

    from theory.engine import metaopt
    for name in metaopt.NAMES:
        made = metaopt.get(name, **({"psd": True, "conv": "out"} if name.startswith("kfo") else {}))
        back = pickle.loads(pickle.dumps(made))
        assert (back.name, dict(back.options)) == (made.name, dict(made.options))
    meta_params, batch, kwargs = _problem(metaopt="kfo", first_order=False)
    serial = chunks.meta_grad(meta_params, batch, chunk=2, workers=1, **kwargs)
    helped = chunks.meta_grad(meta_params, batch, chunk=2, workers=2, **kwargs)
    for a, b in zip(_leaves(serial), _leaves(helped), strict=True):
        assert np.array_equal(a, b)


def _in_daemon(queue):
    try:
        parallel.check_workers(2)
    except ValueError as err:
        queue.put((parallel.default_workers(), str(err)))


def test_a_daemonic_process_defaults_to_one_worker_and_refuses_more():
    import multiprocessing
    ctx = multiprocessing.get_context(parallel.START_METHOD)  # as the helpers start
    queue = ctx.Queue()
    proc = ctx.Process(target=_in_daemon, args=(queue,), daemon=True)
    proc.start()
    default, message = queue.get(timeout=60)
    proc.join(60)
    assert default == 1 and "daemonic process" in message and "got 2" in message


def test_helpers_report_their_cpu_and_traced_memory():
    """A meta-step with a helper: the helper's CPU time and (while the caller traces memory)
    its traced peak come back with its chunks, for the benchmark's columns."""
    meta_params, batch, kwargs = _problem()
    step = lambda: chunks.meta_grad(meta_params, batch, chunk=3, workers=2, **kwargs)  # noqa: E731
    step()
    parallel.helper_usage(reset=True)
    step()
    cpu, peak = parallel.helper_usage(reset=True)
    assert cpu > 0 and peak == 0  # not traced: the caller does not trace
    total = timing.traced_peak(step)
    cpu, peak = parallel.helper_usage()
    assert cpu > 0 and 0 < peak < total
    assert parallel.helper_usage(reset=True) == (cpu, peak) and parallel.helper_usage() == (0.0, 0)


def _call_it(f):
    return f()


def test_arguments_that_cannot_travel_run_in_the_caller_with_a_warning():
    """Closures cannot be pickled: the chunks run in this process, with the same results."""
    with pytest.warns(UserWarning, match="cannot be sent to helper processes"):
        out = parallel.map_chunks(_call_it, [(lambda: 1,), (lambda: 2,), (lambda: 3,)], 2)
    assert out == [1, 2, 3]


def _sigint_handler():
    import signal
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_helpers_ignore_ctrl_c_so_that_it_reaches_the_caller_alone():
    """Ctrl-C goes to the whole process group; helpers ignore it, the caller stops them
    (``parallel.stop_now``)."""
    import signal
    assert signal.getsignal(signal.SIGINT) != signal.SIG_IGN
    assert parallel.map_chunks(_sigint_handler, [(), ()], 2) == [False, True]


def _wait_then_interrupt(started):
    """The caller's chunk: a Ctrl-C once the helper has begun its chunk."""
    import os
    import time
    for _ in range(1200):                   # a hang guard of 120 s, not a timing
        if os.path.exists(started):
            raise KeyboardInterrupt
        time.sleep(0.1)
    raise AssertionError(f"the helper never began its chunk ({started})")


def _begin_then_sleep(started):
    """A helper's chunk that would run for a day, saying when it began."""
    import os
    import time
    with open(started, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(86400)


def _dispatch(kind, started):
    return {"caller": _wait_then_interrupt, "helper": _begin_then_sleep}[kind](started)


def test_ctrl_c_in_the_caller_stops_the_helpers_and_their_chunks(tmp_path):
    """A ``KeyboardInterrupt`` while a helper runs a chunk kills the helper (its chunk is
    abandoned, not awaited) and propagates; the next call starts new helpers."""
    started = str(tmp_path / "started")
    with pytest.raises(KeyboardInterrupt):
        parallel.map_chunks(_dispatch, [("caller", started), ("helper", started)], 2)
    helper = int(open(started).read())
    assert parallel._pool == {}             # the pool is gone with its processes
    with pytest.raises(ProcessLookupError):  # killed and reaped: no such process
        os.kill(helper, 0)
    assert parallel.map_chunks(_pid, [(), ()], 2)[1] != helper


def test_off_the_main_thread_the_default_is_one_worker():
    import threading
    seen = []
    thread = threading.Thread(target=lambda: seen.append(parallel.default_workers()))
    thread.start()
    thread.join(30)
    assert seen == [1] and parallel.check_workers(None) == parallel.default_workers()


def _pid():
    import os
    return os.getpid()


def _helper_of_a_killed_caller(queue):
    queue.put(parallel.map_chunks(_pid, [(), ()], 2)[1])  # the helper's pid
    import time
    time.sleep(60)  # killed here


def test_a_helper_exits_when_its_caller_is_killed():
    import multiprocessing
    import os
    import signal
    import time
    ctx = multiprocessing.get_context(parallel.START_METHOD)  # as the helpers start
    queue = ctx.Queue()
    caller = ctx.Process(target=_helper_of_a_killed_caller, args=(queue,))
    caller.start()
    helper = queue.get(timeout=60)
    os.kill(caller.pid, signal.SIGKILL)
    caller.join(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(helper, 0)  # still there (or a zombie not yet reaped by init)
        except ProcessLookupError:
            break
        with open(f"/proc/{helper}/stat") as stat:
            if stat.read().split(")")[-1].split()[0] == "Z":
                break
        time.sleep(0.2)
    else:
        os.kill(helper, signal.SIGKILL)
        raise AssertionError("the helper outlived its killed caller")


def test_spawned_helpers_give_the_same_meta_gradient(monkeypatch):
    """The start method of other platforms (spawn): the same result, bit for bit."""
    meta_params, batch, kwargs = _problem(metaopt="metasgd")
    serial = chunks.meta_grad(meta_params, batch, chunk=3, workers=1, **kwargs)
    parallel.shutdown()
    monkeypatch.setattr(parallel, "START_METHOD", "spawn")
    try:
        spawned = chunks.meta_grad(meta_params, batch, chunk=3, workers=2, **kwargs)
    finally:
        parallel.shutdown()  # the next test forks afresh
    for a, b in zip(_leaves(serial), _leaves(spawned), strict=True):
        assert np.array_equal(a, b)


def test_importing_the_engine_changes_nothing_process_wide():
    """autograd's trace counter stays autograd's until a caller switches it per thread."""
    code = ("import autograd.tracer, theory.engine.train, theory.engine.parallel, "
            "theory.paper.execute; "
            "assert type(autograd.tracer.trace_stack) is autograd.tracer.TraceStack")
    subprocess.run([sys.executable, "-c", code], check=True)



def test_helpers_are_stopped_at_exit(monkeypatch):
    """Starting the helper processes registers ``shutdown`` to run at exit."""
    registered = []
    monkeypatch.setattr(parallel.atexit, "register", registered.append)
    parallel.shutdown()
    try:
        assert parallel.map_chunks(np.add, [(1, 2), (3, 4)], 2) == [3, 7]
    finally:
        parallel.shutdown()
    assert registered == [parallel.shutdown]
