"""The memory and time estimates (``footprint``): what they count, and the laws they keep."""

import pytest

from theory.engine import bench, footprint, train

SHAPE = (1, 28, 28)
BASE = dict(layers=2, hidden=8, ways=5, shots=1, query=5, steps=1, meta_batch=4)


def _step(workers=1, **overrides):
    cfg = bench.config(**{**BASE, **overrides})
    return footprint.meta_step_seconds(cfg, cfg["in_shape"], workers)


def test_linnet_gemms_are_counted_by_hand():
    """One conv (2 channels, 4x4 pooled to 2x2: 8 features), LinNet 8 -> 3 -> 3, a 2-way head."""
    cfg = {**bench.config(layers=1, hidden=2, ways=2, shots=1, query=3, steps=2, meta_batch=5,
                          in_shape=(1, 4, 4), linnet=2, first_order=True), "linnet_width": 3}

    def forward_macs(n):
        return n * (2 * 1 * 9 * 16 + 8 * 3 + 3 * 3 + 3 * 2), n * 2 * 1 * 9 * 16

    (Fs, m1s), (Fq, m1q) = forward_macs(2), forward_macs(6)
    first = 2 * (Fs + (2 * Fs - m1s)) + Fq + (2 * Fq - m1q)
    assert footprint.meta_step_flops(cfg, (1, 4, 4)) == 2 * 5 * first
    anil = {**cfg, "algo": "anil", "first_order": False}
    assert footprint.meta_step_flops(anil, (1, 4, 4)) is None
    assert footprint.meta_step_flops(anil, (1, 4, 4), exact=False) == \
        2 * 5 * (Fs + Fq + 2 * Fq - m1q)


@pytest.mark.parametrize("key, small, large", [
    ("layers", 2, 3), ("hidden", 8, 64), ("linnet", 0, 50), ("ways", 5, 20), ("shots", 1, 5),
    ("query", 5, 15), ("steps", 1, 10), ("meta_batch", 4, 64)])
def test_more_work_takes_longer(key, small, large):
    assert _step(**{key: large}) > _step(**{key: small})


def test_second_order_takes_longer_than_first_order_and_anil():
    assert _step() > _step(first_order=True)
    assert _step() > _step(algo="anil")


def test_processes_share_the_float_work_but_not_a_chunk_s_python_work():
    one, two = _step(workers=1), _step(workers=2)
    assert one / 2 < two < one
    # one task per chunk: each process makes the passes of two chunks, not one
    assert _step(workers=2, task_chunk=1) > two
    assert _step(workers=64) == _step(workers=BASE["meta_batch"])    # a process per task


def test_a_long_run_costs_its_steps_its_validation_and_its_test():
    config = train.make_config(iterations=100, val_every=10, val_episodes=7, test_episodes=11)
    step = footprint.meta_step_seconds(config, SHAPE, footprint.parallel.check_workers(None))

    def episodes(n):
        return footprint.episode_seconds(config, SHAPE, episodes=n, n_s=5, n_q=75, steps=1,
                                         cores=footprint.parallel.default_workers())

    assert footprint.train_seconds(config, SHAPE) == pytest.approx(100 * step + episodes(81))
    assert footprint.train_seconds(config, SHAPE, done=95) == pytest.approx(
        5 * step + episodes(18))
    assert footprint.train_seconds(config, SHAPE, done=100) == pytest.approx(episodes(11))


def test_with_patience_only_the_rounds_before_the_earliest_stop_count():
    capped = train.make_config(iterations=1000, val_every=10, patience=2)
    short = train.make_config(iterations=30, val_every=10)
    assert footprint.train_seconds(capped, SHAPE) == footprint.train_seconds(short, SHAPE)


def test_an_adaptation_curve_keeps_one_parameter_copy_per_step():
    config = train.make_config()
    sizes = dict(tasks=10, n_s=5, n_q=75)
    kept = [footprint.episode_bytes(config, SHAPE, kept=k, **sizes) for k in (3, 4, 5)]
    assert kept[2] - kept[1] == kept[1] - kept[0] > 0
    assert footprint.episode_bytes(config, SHAPE, **{**sizes, "tasks": 20}) == 2 * kept[0]


def test_a_refusal_names_the_work_the_estimate_and_the_flag():
    assert footprint.check_seconds(5.0, 10.0, "bench of x") == 5.0
    with pytest.raises(ValueError, match=r"^bench of x takes at least 12\.5 s by estimate, "
                                         r"more than --max-seconds 10; .*raise --max-seconds"):
        footprint.check_seconds(12.5, 10.0, "bench of x")
