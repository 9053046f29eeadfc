"""MAML / FO-MAML / ANIL against their definitions and finite differences; Adam; errors."""

from collections import namedtuple

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from theory import _tree
from theory.engine import chunks, cnn, maml, optim

ALPHA = 0.3


def problem(seed=0, dtype=np.float64, T=2, **kw):
    rng = np.random.default_rng(seed)
    opts = dict(layers=2, hidden=2, ways=2, in_shape=(1, 5, 5), linnet=1)
    opts.update(kw)
    params = cnn.init(rng, dtype=dtype, **opts)
    for k in params:
        if k.endswith(("/beta", "/gamma", "head/b")):
            params[k] = (params[k] + 0.5 * rng.standard_normal(params[k].shape)).astype(dtype)
    x_s = rng.random((T, 4, 1, 5, 5)).astype(dtype)
    x_q = rng.random((T, 6, 1, 5, 5)).astype(dtype)
    y_s = np.array([rng.permutation([0, 0, 1, 1]) for _ in range(T)])
    y_q = np.array([rng.permutation([0, 0, 0, 1, 1, 1]) for _ in range(T)])
    return rng, params, (x_s, y_s, x_q, y_q)


def task(batch, t):
    return tuple(b[t:t + 1] for b in batch)


def loss_on(params, x, y):
    return anp.sum(maml.cross_entropy(cnn.apply(params, x), y))


def directional_fd(f, params, v, eps=1e-5):
    plus = {k: params[k] + eps * v[k] for k in params}
    minus = {k: params[k] - eps * v[k] for k in params}
    return (f(plus) - f(minus)) / (2 * eps)


def test_cross_entropy_and_accuracy_match_definitions():
    rng = np.random.default_rng(0)
    logits = 30 * rng.standard_normal((2, 5, 3))
    y = rng.integers(0, 3, (2, 5))
    logp = logits - logsumexp(logits, axis=-1, keepdims=True)
    expected = -np.take_along_axis(logp, y[..., None], axis=-1)[..., 0].mean(axis=1)
    np.testing.assert_allclose(maml.cross_entropy(logits, y), expected, rtol=1e-12)
    np.testing.assert_array_equal(maml.accuracy(logits, y), (logits.argmax(-1) == y).mean(axis=1))
    _, params, (x_s, y_s, x_q, y_q) = problem()
    meta = {"model": params, "metaopt": {}}
    with pytest.raises(ValueError, match=r"query labels must lie in 0..1, got range 2..3"):
        maml.meta_loss(meta, (x_s, y_s, x_q, y_q + 2), alpha=ALPHA, steps=1)
    with pytest.raises(ValueError, match=r"support labels must lie in 0..1, got range -1..0"):
        maml.adapt(params, x_s, y_s - 1, alpha=ALPHA, steps=1)


@pytest.mark.parametrize("steps", [1, 2])
def test_per_task_inner_steps_equal_task_by_task_loop(steps):
    _, params, batch = problem()
    x_s, y_s = batch[:2]
    adapted = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=steps)
    for t in range(2):
        theta = dict(params)
        for _ in range(steps):
            g = grad(loss_on)(theta, x_s[t:t + 1], y_s[t:t + 1])
            theta = {k: theta[k] - ALPHA * g[k] for k in theta}
        for k in params:
            assert adapted[k].shape == (2,) + params[k].shape
            np.testing.assert_allclose(adapted[k][t], theta[k], rtol=1e-10, atol=1e-12)


def test_steps_zero_is_the_plain_loss():
    _, params, batch = problem()
    assert maml.adapt(params, *batch[:2], alpha=ALPHA, steps=0) is params
    for algo in maml.ALGOS:
        loss, aux = maml.meta_loss({"model": params, "metaopt": {}}, batch, alpha=ALPHA, steps=0, algo=algo)
        plain = maml.cross_entropy(cnn.apply(params, batch[2]), batch[3])
        np.testing.assert_allclose(loss, plain.mean(), rtol=1e-13)
        np.testing.assert_array_equal(aux["accuracy"], maml.accuracy(cnn.apply(params, batch[2]), batch[3]))


@settings(max_examples=6)
@given(st.sampled_from(["maml", "anil"]), st.integers(1, 2), st.integers(0, 2), st.integers(0, 10**6))
def test_second_order_meta_gradient_equals_finite_differences(algo, steps, linnet, seed):
    rng, params, batch = problem(seed=seed, linnet=linnet)
    meta = {"model": params, "metaopt": {}}
    loss, g, _ = maml.meta_grad(meta, batch, alpha=ALPHA, steps=steps, algo=algo)
    f = lambda p: maml.meta_loss({"model": p, "metaopt": {}}, batch, alpha=ALPHA, steps=steps, algo=algo)[0]  # noqa: E731
    for _ in range(3):
        v = {k: rng.standard_normal(p.shape) for k, p in params.items()}
        exact = sum(np.sum(g["model"][k] * v[k]) for k in params)
        np.testing.assert_allclose(exact, directional_fd(f, params, v), rtol=1e-6, atol=1e-9)


def test_fomaml_equals_its_definition():
    """Mean over tasks of the query gradient at the (first-order) adapted params."""
    _, params, batch = problem(seed=2)
    _, g, _ = maml.meta_grad({"model": params, "metaopt": {}}, batch, alpha=ALPHA, steps=2, algo="fomaml")
    expected = {k: np.zeros_like(v) for k, v in params.items()}
    for t in range(2):
        x_s, y_s, x_q, y_q = task(batch, t)
        theta = dict(params)
        for _ in range(2):
            gs = grad(loss_on)(theta, x_s, y_s)
            theta = {k: theta[k] - ALPHA * gs[k] for k in theta}
        gq = grad(loss_on)(theta, x_q, y_q)
        for k in expected:
            expected[k] += gq[k] / 2
    for k in params:
        np.testing.assert_allclose(g["model"][k], expected[k], rtol=1e-10, atol=1e-12)
    # and it differs from the second-order gradient (the dropped Hessian terms are not zero)
    _, g2, _ = maml.meta_grad({"model": params, "metaopt": {}}, batch, alpha=ALPHA, steps=2, algo="maml")
    assert max(np.max(np.abs(g2["model"][k] - g["model"][k])) for k in params) > 1e-6


def test_anil_adapts_only_the_head_and_equals_its_definition():
    _, params, batch = problem(seed=3)
    x_s, y_s, x_q, y_q = batch
    head_keys = ["lin1/w", "head/w", "head/b"]
    adapted = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=2, adapt_keys=head_keys)
    for k in params:
        if k in head_keys:
            assert adapted[k].shape == (2,) + params[k].shape
        else:
            assert adapted[k] is params[k]
    loss, _ = maml.meta_loss({"model": params, "metaopt": {}}, batch, alpha=ALPHA, steps=2, algo="anil")
    # definition, task by task through the full network: only the head keys take inner steps
    total = 0.0
    for t in range(2):
        theta = dict(params)
        for _ in range(2):
            gh = grad(lambda h: loss_on({**theta, **h}, x_s[t:t + 1], y_s[t:t + 1]))(
                {k: theta[k] for k in head_keys})
            theta = {**theta, **{k: theta[k] - ALPHA * gh[k] for k in head_keys}}
        total += loss_on(theta, x_q[t:t + 1], y_q[t:t + 1]) / 2
    np.testing.assert_allclose(loss, total, rtol=1e-12)


ScaledSGD = namedtuple("ScaledSGD", "name init update")


def scaled_sgd():
    """A minimal meta-optimizer: per-step learned log step multipliers, for testing the hook."""
    return ScaledSGD("scaled", None, lambda phi, g, params, step: {
        k: anp.exp(phi["log_scale"][step]) * v for k, v in g.items()})


def test_metaopt_hook_direction_and_meta_gradient():
    rng, params, batch = problem(seed=4)
    mo = scaled_sgd()
    phi = {"log_scale": np.array([0.0, 0.4])}
    x_s, y_s = batch[:2]
    # identity at phi = 0: the same as plain MAML
    a0 = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=1, metaopt=mo, phi=phi)
    a1 = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=1)
    for k in params:
        np.testing.assert_allclose(a0[k], a1[k], rtol=1e-13)
    # scaling the direction is the same as scaling alpha
    a2 = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=1, metaopt=mo, phi={"log_scale": np.array([np.log(2.0)])})
    a3 = maml.adapt(params, x_s, y_s, alpha=2 * ALPHA, steps=1)
    for k in params:
        np.testing.assert_allclose(a2[k], a3[k], rtol=1e-12, atol=1e-14)
    meta = {"model": params, "metaopt": phi}
    _, g, _ = chunks.meta_grad(meta, batch, alpha=ALPHA, steps=2, metaopt=mo, workers=1)

    def f(flat):
        return maml.meta_loss({"model": {k: flat[k] for k in params}, "metaopt": {"log_scale": flat["phi"]}},
                              batch, alpha=ALPHA, steps=2, metaopt=mo)[0]

    flat = {**params, "phi": phi["log_scale"]}
    gflat = {**g["model"], "phi": g["metaopt"]["log_scale"]}
    for _ in range(2):
        v = {k: rng.standard_normal(np.shape(p)) for k, p in flat.items()}
        exact = sum(np.sum(gflat[k] * v[k]) for k in flat)
        np.testing.assert_allclose(exact, directional_fd(f, flat, v), rtol=1e-6, atol=1e-9)


def test_tnets_keys_never_adapt():
    rng, params, batch = problem(seed=5)
    params["head/T"] = np.eye(2) + 0.1 * rng.standard_normal((2, 2))
    adapted = maml.adapt(params, *batch[:2], alpha=ALPHA, steps=1)
    assert adapted["head/T"] is params["head/T"] and adapted["head/w"].ndim == 3
    with pytest.raises(ValueError, match="'head/T' is a T-Nets transform and never adapts"):
        maml.adapt(params, *batch[:2], alpha=ALPHA, steps=1, adapt_keys=["head/w", "head/T"])


@pytest.mark.parametrize("algo", maml.ALGOS)
def test_float32_stays_float32_through_the_meta_gradient(algo):
    _, params, batch = problem(dtype=np.float32)
    loss, g, aux = maml.meta_grad({"model": params, "metaopt": {}}, batch, alpha=ALPHA, steps=2, algo=algo)
    assert loss.dtype == np.float32 and aux["loss"].dtype == np.float32
    assert all(v.dtype == np.float32 for v in g["model"].values())
    # second order through the inner loop down to the support images: no float64 intermediates
    x_s, y_s, x_q, y_q = batch
    # (FO-MAML's meta-loss does not depend on the support images: differentiate the query ones)
    if algo == "fomaml":
        gx = grad(lambda x: maml.meta_loss({"model": params, "metaopt": {}}, (x_s, y_s, x, y_q),
                                           alpha=ALPHA, steps=2, algo=algo)[0])(x_q)
    else:
        gx = grad(lambda x: maml.meta_loss({"model": params, "metaopt": {}}, (x, y_s, x_q, y_q),
                                           alpha=ALPHA, steps=2, algo=algo)[0])(x_s)
    assert gx.dtype == np.float32
    acc = maml.evaluate_batch(params, batch, alpha=ALPHA, steps=2, algo=algo)
    assert acc.shape == (2,) and np.all((acc >= 0) & (acc <= 1))


def test_evaluate_batch_matches_meta_loss_accuracy():
    _, params, batch = problem(seed=6)
    for algo in maml.ALGOS:
        _, aux = maml.meta_loss({"model": params, "metaopt": {}}, batch, alpha=ALPHA, steps=1, algo=algo)
        np.testing.assert_array_equal(maml.evaluate_batch(params, batch, alpha=ALPHA, steps=1, algo=algo),
                                      aux["accuracy"])


@pytest.mark.parametrize("kw,match", [(dict(alpha=0.0), "alpha"), (dict(alpha=-1.0), "alpha"),
                                      (dict(alpha=None), "alpha"), (dict(alpha=float("inf")), "alpha"),
                                      (dict(steps=-1), "steps"), (dict(steps=1.5), "steps"),
                                      (dict(algo="reptile"), "algo")])
def test_meta_loss_rejects_bad_arguments(kw, match):
    _, params, batch = problem()
    opts = dict(alpha=ALPHA, steps=1, algo="maml")
    opts.update(kw)
    with pytest.raises(ValueError, match=match):
        maml.meta_loss({"model": params, "metaopt": {}}, batch, **opts)


def test_mismatched_shapes_are_rejected():
    _, params, (x_s, y_s, x_q, y_q) = problem()
    meta = {"model": params, "metaopt": {}}
    with pytest.raises(ValueError, match="support"):
        maml.meta_loss(meta, (x_s, y_s[:, :3], x_q, y_q), alpha=ALPHA, steps=1)
    with pytest.raises(ValueError, match="share"):
        maml.meta_loss(meta, (x_s, y_s, x_q[:1], y_q[:1]), alpha=ALPHA, steps=1)
    with pytest.raises(ValueError, match="adapt key"):
        maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=1, adapt_keys=["nope/w"])


def test_adam_two_steps_by_hand_and_no_mutation():
    init, update, get_params = optim.adam(0.1)
    x0 = {"a": {"w": np.array([1.0, -2.0], dtype=np.float32)}, "b": np.array(3.0, dtype=np.float32)}
    g1 = {"a": {"w": np.array([0.5, 0.0], dtype=np.float32)}, "b": np.array(-2.0, dtype=np.float32)}
    g2 = {"a": {"w": np.array([-1.0, 1.0], dtype=np.float32)}, "b": np.array(1.0, dtype=np.float32)}
    state = init(x0)
    s1 = update(0, g1, state)
    s2 = update(1, g2, s1)
    assert np.all(get_params(state)["a"]["w"] == x0["a"]["w"]) and np.all(state["m"]["b"] == 0)

    def by_hand(x, ga, gb):
        m1, v1 = 0.1 * ga, 0.001 * ga ** 2
        x1 = x - 0.1 * (m1 / 0.1) / (np.sqrt(v1 / 0.001) + 1e-8)
        m2, v2 = 0.9 * m1 + 0.1 * gb, 0.999 * v1 + 0.001 * gb ** 2
        return x1 - 0.1 * (m2 / (1 - 0.9 ** 2)) / (np.sqrt(v2 / (1 - 0.999 ** 2)) + 1e-8)

    x2 = get_params(s2)
    np.testing.assert_allclose(x2["a"]["w"], by_hand(np.array([1.0, -2.0]), np.array([0.5, 0.0]),
                                                     np.array([-1.0, 1.0])), rtol=1e-6)
    np.testing.assert_allclose(x2["b"], by_hand(3.0, -2.0, 1.0), rtol=1e-6)
    assert x2["a"]["w"].dtype == np.float32 and x2["b"].dtype == np.float32


def test_adam_state_roundtrips_through_npz(tmp_path):
    init, update, get_params = optim.adam(1e-3)
    _, params, _ = problem()
    meta = {"model": params, "metaopt": {}}
    state = update(0, meta, init(meta))
    np.savez(tmp_path / "s.npz", **optim.state_to_arrays(state))
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        back = optim.state_from_arrays(f)
    assert list(back) == ["x", "m", "v"] and back["x"]["metaopt"] == {}
    for part in ("x", "m", "v"):
        assert list(back[part]["model"]) == list(params)
        for k in params:
            np.testing.assert_array_equal(back[part]["model"][k], state[part]["model"][k])


@pytest.mark.parametrize("kw", [dict(step_size=0.0), dict(step_size=1e-3, b1=1.0), dict(step_size=1e-3, eps=0)])
def test_adam_rejects_bad_arguments(kw):
    with pytest.raises(ValueError):
        optim.adam(**kw)


def test_adam_rejects_mismatched_trees():
    init, update, _ = optim.adam(1e-3)
    state = init({"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ValueError, match="keys"):
        update(0, {"a": np.zeros(2)}, state)
    with pytest.raises(ValueError, match="structure"):
        optim.state_from_arrays({"x::a": np.zeros(2)})


def test_adam_is_differentiable_through_its_updates():
    from autograd.test_util import check_grads

    np.random.seed(0)
    init, update, get_params = optim.adam(0.1)
    x0 = np.array([1.0, -2.0, 0.5])

    def two_steps(g):
        state = update(1, {"w": 0.5 * g}, update(0, {"w": g}, init({"w": x0})))
        return get_params(state)["w"]

    check_grads(two_steps, modes=["rev"], order=2)(np.array([0.3, -0.7, 1.1]))


def _float64(tree):
    return _tree.map(lambda v: np.asarray(v, np.float64), tree)


def _chunk_problem(metaopt_name, algo, T=5):
    from theory.engine import config as run_config

    rng, params, batch = problem(seed=7, T=T)
    config = dict(layers=2, hidden=2, ways=2, linnet=1, metaopt=metaopt_name, algo=algo)
    meta = _float64(run_config.init_meta_params(config, (1, 5, 5), rng))
    meta["model"].update({k: v for k, v in params.items() if k in meta["model"]})
    return meta, batch, run_config.make_metaopt(metaopt_name)


@pytest.mark.parametrize("algo,metaopt_name", [("maml", "none"), ("fomaml", "none"),
                                               ("anil", "none"), ("maml", "kfo")])
@pytest.mark.parametrize("chunk", [1, 2, 3, 4])
def test_chunked_meta_gradient_equals_the_whole_batch(algo, metaopt_name, chunk):
    """Chunk c adds (T_c / T) * its mean: the same loss, gradient and aux (5 tasks, float64)."""
    meta, batch, mo = _chunk_problem(metaopt_name, algo)
    kw = dict(alpha=ALPHA, steps=2, algo=algo, metaopt=mo)
    loss, g, aux = chunks.meta_grad(meta, batch, chunk=5, **kw)
    c_loss, c_g, c_aux = chunks.meta_grad(meta, batch, chunk=chunk, **kw)
    np.testing.assert_allclose(c_loss, loss, rtol=1e-12)
    assert set(c_g) == set(g) and all(set(c_g[p]) == set(g[p]) for p in g)
    for part in g:
        for k in g[part]:
            assert c_g[part][k].dtype == np.float64
            np.testing.assert_allclose(c_g[part][k], g[part][k], rtol=1e-12, atol=1e-14)
    assert np.any(g["model"]["conv1/w"] != 0)
    if metaopt_name != "none":
        assert any(np.any(v != 0) for v in g["metaopt"].values())
    for k in aux:
        assert c_aux[k].shape == (5,)
        np.testing.assert_allclose(c_aux[k], aux[k], rtol=1e-12)


def test_chunked_meta_gradient_stays_float32():
    meta, batch, _ = _chunk_problem("none", "maml")
    meta32 = {"model": {k: v.astype(np.float32) for k, v in meta["model"].items()}, "metaopt": {}}
    batch32 = (batch[0].astype(np.float32), batch[1], batch[2].astype(np.float32), batch[3])
    loss, g, _ = chunks.meta_grad(meta32, batch32, chunk=2, alpha=ALPHA, steps=1)
    assert np.asarray(loss).dtype == np.float32
    assert all(v.dtype == np.float32 for v in g["model"].values())


def test_automatic_chunk_follows_the_memory_budget(monkeypatch):
    meta, batch, _ = _chunk_problem("none", "maml", T=6)
    per_task = chunks.graph_bytes_per_task(meta["model"], batch, 2, "maml")
    assert per_task > 0
    # second order keeps one support pass per inner step; first order only one
    assert per_task > chunks.graph_bytes_per_task(meta["model"], batch, 2, "fomaml")
    for budget_tasks, expected in [(6, 6), (100, 6), (5, 3), (3, 3), (2, 2), (1, 1), (0.5, 1)]:
        monkeypatch.setattr(chunks, "CHUNK_BUDGET_BYTES", budget_tasks * per_task)
        assert chunks.task_chunk(None, 6, meta, batch, 2, "maml") == expected
    monkeypatch.setattr(chunks, "CHUNK_BUDGET_BYTES", 2 * per_task)
    kw = dict(alpha=ALPHA, steps=2)
    loss, g, _ = chunks.meta_grad(meta, batch, chunk=None, **kw)
    ref_loss, ref_g, _ = chunks.meta_grad(meta, batch, chunk=6, **kw)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    for k in g["model"]:
        np.testing.assert_allclose(g["model"][k], ref_g["model"][k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("chunk", [0, -1, 6, 2.0, True, "2"])
def test_bad_chunk_names_the_valid_range(chunk):
    meta, batch, _ = _chunk_problem("none", "maml")
    with pytest.raises(ValueError, match=r"chunk must be an integer in \[1, 5\], got"):
        chunks.meta_grad(meta, batch, chunk=chunk, alpha=ALPHA, steps=1)
