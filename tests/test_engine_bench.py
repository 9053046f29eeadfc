"""The speed benchmark runs on tiny configs, times the training code path and reports its fields."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.engine import bench, chunks, cli, parallel, timing

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

ROW_KEYS = {"engine_s", "engine_loss", "flops", "gflops", "gemm_peak_gflops", "engine_peak_mb",
            "engine_cpu_s_1", "engine_s_1", "engine_s_all", "threads_all", "layers", "shots", "steps", "first_order", "meta_batch"}


@pytest.fixture
def scripts(monkeypatch):
    """The scripts of ``benchmarks/`` importable as modules (as when run from there)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))


@pytest.fixture(scope="module")
def rows():
    return bench.run_benchmark(bench.tiny_grid(), repeats=2, warmup=1, progress=False)


def test_rows_have_the_measurements(rows):
    assert len(rows) == len(bench.tiny_grid())
    for row, cfg in zip(rows, bench.tiny_grid(), strict=True):
        assert ROW_KEYS <= set(row)
        assert not any(k.startswith(("torch_s", "ratio")) for k in row)
        assert row["first_order"] == cfg["first_order"]
        assert row["engine_s"] > 0 and row["gemm_peak_gflops"] > 0 and row["engine_peak_mb"] > 0
        assert row["gflops"] == pytest.approx(row["flops"] / row["engine_s_1"] / 1e9)
        assert row["engine_s"] == row["engine_s_default"] and row["threads_all"] >= 1
    # second order adds the backward pass through each inner step
    assert rows[0]["flops"] > rows[1]["flops"]


@pytest.mark.parametrize("index", [0, 1])
def test_timed_step_is_maml_meta_grad(rows, index):
    """The benchmarked call is the training call: same loss and meta-gradient, bit for bit."""
    cfg = bench.tiny_grid()[index]
    step, meta_params, batch, kwargs = bench.engine_step(cfg)
    loss, grads, _ = step()
    ref_loss, ref_grads, _ = chunks.meta_grad(meta_params, batch, alpha=bench.ALPHA,
                                              steps=cfg["steps"], algo=bench.algo_of(cfg))
    assert float(loss) == float(ref_loss) == rows[index]["engine_loss"]
    for key, value in ref_grads["model"].items():
        assert grads["model"][key].dtype == np.float32
        np.testing.assert_array_equal(grads["model"][key], value)


def test_flop_count_by_hand():
    """One conv layer (2 channels, 4x4 -> pooled 2x2), 2-way head: count every GEMM by hand."""
    cfg = bench.config(layers=1, hidden=2, ways=2, shots=1, query=3, steps=2, meta_batch=5,
                       in_shape=(1, 4, 4), first_order=True)

    def forward_macs(n):
        return n * 2 * 1 * 9 * 16 + n * 8 * 2, n * 2 * 1 * 9 * 16

    (Fs, m1s), (Fq, m1q) = forward_macs(2), forward_macs(6)
    first = 2 * (Fs + (2 * Fs - m1s)) + Fq + (2 * Fq - m1q)
    assert bench.meta_step_flops(cfg) == 2 * 5 * first
    second = first + 2 * (6 * Fs - 4 * m1s)
    assert bench.meta_step_flops({**cfg, "first_order": False}) == 2 * 5 * second
    assert bench.meta_step_flops({**cfg, "algo": "anil"}) is None


def test_traced_peak_sees_numpy_arrays():
    assert timing.traced_peak(lambda: np.ones(10 ** 6)) >= 8 * 10 ** 6


def test_table_and_json_output(rows, capsys, scripts):
    import engine_speed

    table = bench.format_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    assert all(line.count("|") == table[0].count("|") for line in table)
    # tests never import PyTorch, even on a machine that has it
    assert engine_speed.main(["--tiny", "--json", "--repeats", "1", "--warmup", "0",
                              "--no-torch"]) == 0
    lines = capsys.readouterr().out.splitlines()
    objs = [json.loads(line) for line in lines]
    assert [o["first_order"] for o in objs] == [False, True]
    assert all(o["engine_s"] > 0 for o in objs)


def test_rounds_follow_the_call_order_and_drop_the_warmup():
    order = []
    calls = {name: (lambda name=name: order.append(name)) for name in "abcd"}
    times = timing.rounds(calls, repeats=3, warmup=1)
    assert order == list("abdc" "bcad" "cdba" "dacb")
    assert {name: len(t) for name, t in times.items()} == dict.fromkeys("abcd", 3)
    assert all(wall >= 0 and cpu >= 0 for t in times.values() for wall, cpu in t)


@given(st.integers(1, 9), st.integers(0, 30))
def test_every_call_follows_every_other_equally_often(n, start):
    """``call_order`` is a Williams design: over any n consecutive rounds (2n for odd n) each
    round is a permutation and each ordered pair of distinct calls is adjacent equally often."""
    rounds = [timing.call_order(n, r) for r in range(start, start + (n if n % 2 == 0 else 2 * n))]
    assert all(sorted(order) == list(range(n)) for order in rounds)
    pairs = Counter((a, b) for order in rounds for a, b in zip(order, order[1:]))
    assert set(pairs) == {(a, b) for a in range(n) for b in range(n) if a != b}
    assert len(set(pairs.values())) <= 1


def test_a_paired_ratio_cancels_drift_between_rounds():
    """The machine slows down 5x over five rounds, in which a takes 0.8 of b's time, except
    once when a pause hits a. The median of the per-round ratios is 0.8; the ratio of the two
    medians is 3.2 / 3 (the pause moved a's median to another round)."""
    drift = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    a = 0.8 * drift * np.array([1, 1, 2, 1, 1])
    assert np.median(a) / np.median(drift) == pytest.approx(3.2 / 3)
    assert timing.paired_ratio(a, drift) == pytest.approx((0.8, 0.8, 0.8))
    assert timing.paired_ratio([1.0, 2.0, 3.0, 4.0, 5.0], [1.0] * 5) == (2.0, 3.0, 4.0)


def test_the_ratio_to_a_reference_is_paired_with_quartiles(scripts):
    """The engine against itself (``engine_speed.py --reference engine``), through the code
    path of the comparison with PyTorch."""
    from engine_speed import EngineAsReference

    cfg = bench.tiny_grid()[1]
    row = bench.bench_config(cfg, repeats=3, warmup=0, ref=EngineAsReference,
                             torch_modes=("loop",))
    for setting in bench.SETTINGS:
        for kind in ("ratio", "cpu_ratio"):
            q25, q75 = row[f"{kind}_q_{setting}"]
            assert 0 < q25 <= row[f"{kind}_{setting}"] <= q75
    assert row["grad_rel_diff"] == 0 and row["torch_loss"] == row["engine_loss"]
    line = bench.format_table([row]).splitlines()[2]
    assert f"{row['ratio_1']:.2f} ({row['ratio_q_1'][0]:.2f}-{row['ratio_q_1'][1]:.2f})" in line


def test_cli_bench_runs_one_config(capsys):
    status = cli.main(["bench", "--layers", "1", "--hidden", "2", "--ways", "2", "--query", "1",
                       "--meta-batch", "2", "--repeats", "1", "--algo", "fomaml", "--json"])
    assert status == 0
    out = capsys.readouterr().out
    (obj,) = [json.loads(line) for line in out.splitlines()]
    assert obj["layers"] == 1 and obj["first_order"] is True and obj["engine_s"] > 0


def test_bad_options(scripts):
    import engine_speed

    with pytest.raises(ValueError, match="'nothing'"):
        engine_speed.main(["--only", "nothing"])
    with pytest.raises(ValueError, match="repeats"):
        bench.run_benchmark(bench.tiny_grid(), repeats=0, warmup=0, progress=False)
    with pytest.raises(ValueError, match="first_order"):
        bench.config(algo="anil", first_order=True)


def test_keep_freed_memory_takes_on_glibc():
    import platform

    from theory.engine import heap

    on_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert heap.keep_freed_memory() is on_glibc


def test_task_chunk_reaches_the_timed_step(rows):
    """A config's ``task_chunk`` is ``meta_grad``'s ``chunk``; the row names the size used."""
    # tiny: one chunk per worker thread
    workers = parallel.default_workers()
    assert all(row["task_chunk"] == -(-row["meta_batch"] // min(workers, row["meta_batch"]))
               for row in rows)
    cfg = {**bench.tiny_grid()[0], "task_chunk": 1}
    step, meta_params, batch, kwargs = bench.engine_step(cfg)
    assert kwargs["chunk"] == 1
    loss, grads, _ = step()
    ref_loss, ref_grads, _ = chunks.meta_grad(meta_params, batch, alpha=bench.ALPHA, chunk=1,
                                            steps=cfg["steps"], algo=bench.algo_of(cfg))
    assert float(loss) == float(ref_loss)
    for key, value in ref_grads["model"].items():
        np.testing.assert_array_equal(grads["model"][key], value)
    row = bench.bench_config(cfg, repeats=1, warmup=0)
    assert row["task_chunk"] == 1


def test_profile_groups_split_the_step_without_overlap(scripts):
    """The operation groups of ``benchmarks/engine_profile.py`` are disjoint parts of the step."""
    import engine_profile as profile

    cfg = bench.config(layers=2, hidden=8, ways=2, shots=1, query=4, steps=1, meta_batch=2,
                       in_shape=(1, 16, 16))
    total, groups = profile.profile_groups(cfg)
    assert total > 0 and all(s >= 0 for s in groups.values())
    assert sum(groups.values()) == pytest.approx(total)
    assert groups["GEMMs (conv, conv_input_grad, conv_weight_grad)"] > 0
    assert "| operations | s | share |" in profile.format_profile(cfg, total, groups)
    # the authors' network: the stride-2 split form's copies are counted as copies
    cfg = bench.config(layers=3, hidden=8, ways=2, shots=1, query=4, steps=1, meta_batch=2,
                       in_shape=(1, 16, 16), downsample="stride", readout="mean")
    total, groups = profile.profile_groups(cfg)
    assert sum(groups.values()) == pytest.approx(total)
    copies = next(v for k, v in groups.items() if k.startswith("im2col / col2im copies"))
    assert copies > 0


def test_the_layer_benchmark_refuses_bad_options(scripts):
    import engine_layers

    with pytest.raises(SystemExit) as exit_:
        engine_layers.build_parser().parse_args(["--hidden", "0"])
    assert exit_.value.code == 2


def test_the_batch_norm_row_benchmark_runs_and_restores_the_block(scripts, capsys):
    import engine_rows

    from theory.engine import batchnorm

    shipped = batchnorm._BLOCK
    assert engine_rows.main(["--hidden", "2", "--tasks", "1", "--repeats", "1"]) == 0
    assert batchnorm._BLOCK == shipped
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| ")]
    assert len(lines) == 1 + 2 * len(engine_rows.SIDES)          # header, two ops per map
    assert all(float(ln.split("|")[-2]) > 0 for ln in lines[1:])


def test_the_batch_norm_benchmark_compares_equal_maps_and_restores_the_shipped_one(scripts):
    import engine_batchnorm

    from theory.engine import batchnorm
    from theory.engine import primitives as P

    rng = np.random.default_rng(0)
    z, gamma, beta = rng.standard_normal((2, 3, 10)), rng.uniform(0.5, 1, (1, 3, 1)), \
        rng.standard_normal((1, 3, 1))
    shipped = batchnorm.batch_norm(z, gamma, beta, 1e-5)
    for fn, _ in engine_batchnorm.VARIANTS.values():   # the variants compute one map
        np.testing.assert_allclose(fn(z, gamma, beta, 1e-5), shipped, rtol=1e-12, atol=1e-12)
    seen, before = [], (P.batch_norm, batchnorm._BLOCK)
    times = engine_batchnorm.paired_times(lambda: seen.append((P.batch_norm, batchnorm._BLOCK)), 2)
    assert {name: len(t) for name, t in times.items()} == dict.fromkeys(engine_batchnorm.VARIANTS, 2)
    assert set(seen) == set(engine_batchnorm.VARIANTS.values())
    assert (P.batch_norm, batchnorm._BLOCK) == before == (batchnorm.batch_norm, batchnorm._BLOCK)
    with pytest.raises(SystemExit) as exit_:
        engine_batchnorm.build_parser().parse_args(["--repeats", "0"])
    assert exit_.value.code == 2
