"""Short meta-training runs of every meta-optimizer on the synthetic glyph benchmark."""

import functools

import numpy as np
import pytest

from theory.engine import cnn, data, maml, metaopt, optim

WAYS, SHOTS, QUERY, ALPHA = 2, 1, 5, 0.4


@functools.cache
def split(name):
    return data.load("synthetic", split=name, seed=0)


def episodes(dataset, rng, tasks):
    """Episodes with 28x28 images averaged down to 14x14 to keep the runs short."""
    x_s, y_s, x_q, y_q = data.sample_tasks(dataset, rng, tasks=tasks, ways=WAYS, shots=SHOTS,
                                           query=QUERY)
    small = lambda x: x.reshape(x.shape[:3] + (14, 2, 14, 2)).mean(axis=(-1, -3))  # noqa: E731
    return small(x_s), y_s, small(x_q), y_q


def test_accuracy(mo, meta_params, steps):
    batch = episodes(split("test"), np.random.default_rng(123), tasks=100)
    accs = maml.evaluate_batch(meta_params["model"], batch, alpha=ALPHA, steps=steps,
                               algo="maml", metaopt=mo, phi=meta_params["metaopt"])
    return float(np.mean(accs))


test_accuracy.__test__ = False  # a helper, not a test


@pytest.mark.parametrize("name,options,steps", [
    ("metasgd", {}, 1), ("mc", {}, 1), ("tnet", {}, 1), ("kfo", {}, 1),
    ("kfo-mlp", {}, 1), ("kfo", {"psd": True, "adapt_transform": True}, 2),
])
def test_short_meta_training_beats_chance(name, options, steps):
    rng = np.random.default_rng(0)
    mo = metaopt.get(name, **options)
    params = cnn.init(rng, layers=2, hidden=8, ways=WAYS, in_shape=(1, 14, 14))
    params = {**params, **metaopt.extra_model_params(mo, rng, params)}
    meta_params = {"model": params, "metaopt": mo.init(rng, params)}
    assert all(v.dtype == np.float32 for v in meta_params["metaopt"].values())
    before = test_accuracy(mo, meta_params, steps)
    init, update, get_params = optim.adam(0.01)
    state = init(meta_params)
    for i in range(40):
        batch = episodes(split("train"), rng, tasks=4)
        loss, grads, _ = maml.meta_grad(get_params(state), batch, alpha=ALPHA, steps=steps,
                                        algo="maml", metaopt=mo)
        assert np.isfinite(loss)
        state = update(i, grads, state)
    trained = get_params(state)
    assert all(v.dtype == np.float32 for v in trained["metaopt"].values())
    after = test_accuracy(mo, trained, steps)
    # 1000 query predictions: chance is 0.5 with a standard error of about 0.016
    assert after > 0.6, (name, before, after)
    assert after > before + 0.03, (name, before, after)
    if meta_params["metaopt"]:
        moved = max(float(np.max(np.abs(trained["metaopt"][k] - meta_params["metaopt"][k])))
                    for k in meta_params["metaopt"])
        assert moved > 1e-3, "the transform itself must be meta-learned"


@pytest.mark.parametrize("algo, expected", [
    ("maml", ["conv1/T", "conv2/T", "head/T", "lin1/T"]), ("anil", ["head/T", "lin1/T"])])
def test_tnets_put_T_only_on_layers_that_adapt(algo, expected):
    from theory.engine import config as run_config
    config = run_config.make_config(metaopt="tnet", algo=algo, layers=2, hidden=4, linnet=1)
    meta = run_config.init_meta_params(config, (1, 28, 28), np.random.default_rng(0))
    assert sorted(k for k in meta["model"] if k.endswith("/T")) == expected
