"""The few-shot CNN: naive reference forward, task axis, LinNet collapse, T-Nets hooks, errors."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given
from hypothesis import strategies as st

from theory.engine import cnn, maml


def reference_logits(params, x):
    """Textbook forward, one task and one op at a time (conv + bias, T-Nets, BN, ReLU, pool)."""
    out = []
    for t in range(x.shape[0]):
        p = {k: (v[t] if cnn.is_per_task(k, v) else v) for k, v in params.items()}
        a = x[t].astype(np.float64)  # (n, C, H, W)
        i = 1
        while f"conv{i}/w" in p:
            w, b = p[f"conv{i}/w"], p[f"conv{i}/b"]
            n, C, H, W = a.shape
            pad = np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1)))
            z = np.zeros((n, w.shape[0], H, W))
            for r in range(H):
                for c in range(W):
                    z[:, :, r, c] = np.einsum("ocij,ncij->no", w, pad[:, :, r:r + 3, c:c + 3]) + b
            if f"conv{i}/T" in p:
                z = np.einsum("po,nohw->nphw", p[f"conv{i}/T"], z)
            mu = z.mean(axis=(0, 2, 3), keepdims=True)
            var = ((z - mu) ** 2).mean(axis=(0, 2, 3), keepdims=True)
            z = (z - mu) / np.sqrt(var + cnn.BN_EPS)
            z = z * p[f"bn{i}/gamma"][None, :, None, None] + p[f"bn{i}/beta"][None, :, None, None]
            z = np.maximum(z, 0)
            if H >= 2 and W >= 2:
                z = np.array([[[[z[m, o, 2 * r:2 * r + 2, 2 * c:2 * c + 2].max() for c in range(W // 2)]
                                for r in range(H // 2)] for o in range(z.shape[1])] for m in range(n)])
            a = z
            i += 1
        h = a.reshape(a.shape[0], -1)
        j = 1
        while f"lin{j}/w" in p:
            h = h @ p[f"lin{j}/w"].T
            if f"lin{j}/T" in p:
                h = h @ p[f"lin{j}/T"].T
            j += 1
        h = h @ p["head/w"].T + p["head/b"]
        if "head/T" in p:
            h = h @ p["head/T"].T
        out.append(h)
    return np.stack(out)


def setup(seed=0, dtype=np.float64, **kw):
    rng = np.random.default_rng(seed)
    opts = dict(layers=2, hidden=3, ways=2, in_shape=(2, 6, 6), linnet=1)
    opts.update(kw)
    params = cnn.init(rng, dtype=dtype, **opts)
    # non-trivial BN affine params and biases so that every term is exercised
    for k in params:
        if k.endswith(("/b", "/beta", "/gamma")):
            params[k] = (params[k] + rng.standard_normal(params[k].shape)).astype(dtype)
    x = rng.random((2, 4) + opts["in_shape"]).astype(dtype)
    return rng, params, x


def broadcast(params, T):
    return {k: np.broadcast_to(v, (T,) + v.shape).copy() for k, v in params.items()}


def test_init_keys_shapes_and_dtype():
    _, params, _ = setup(layers=3, in_shape=(1, 7, 7), linnet=2, linnet_width=5)
    assert list(params) == ["conv1/w", "conv1/b", "bn1/gamma", "bn1/beta", "conv2/w", "conv2/b",
                            "bn2/gamma", "bn2/beta", "conv3/w", "conv3/b", "bn3/gamma", "bn3/beta",
                            "lin1/w", "lin2/w", "head/w", "head/b"]
    # 7 -> 3 -> 1 -> 1, so the features are the 3 channels
    assert params["lin1/w"].shape == (5, 3) and params["head/w"].shape == (2, 5)
    assert all(v.dtype == np.float64 for v in params.values())
    arch = cnn.architecture(params)
    assert (arch["layers"], arch["hidden"], arch["ways"], arch["linnet"]) == (3, 3, 2, 2)
    assert arch["widths"] == [3, 3, 3, 5, 5]
    assert cnn.count(params) == sum(v.size for v in params.values())


@given(st.integers(1, 64), st.integers(1, 6))
def test_pooled_sizes_halve_while_at_least_2x2(H, layers):
    sizes = cnn.pooled_sizes(H, H, layers)
    prev = H
    for h, w in sizes:
        assert h == w == (prev // 2 if prev >= 2 else prev)
        prev = h


@pytest.mark.parametrize("kw", [dict(), dict(layers=3, in_shape=(1, 5, 5), linnet=0),
                                dict(layers=1, in_shape=(1, 5, 4), linnet=2)])
def test_forward_equals_naive_reference(kw):
    _, params, x = setup(**kw)
    np.testing.assert_allclose(cnn.apply(params, x), reference_logits(params, x), rtol=1e-10, atol=1e-10)


def test_tnets_hooks_match_reference():
    rng, params, x = setup(linnet=1)
    params["conv1/T"] = rng.standard_normal((3, 3))
    params["lin1/T"] = rng.standard_normal((params["lin1/w"].shape[0],) * 2)
    params["head/T"] = rng.standard_normal((2, 2))
    np.testing.assert_allclose(cnn.apply(params, x), reference_logits(params, x), rtol=1e-10, atol=1e-10)


def test_shared_and_broadcast_params_agree_and_per_task_params_act_per_task():
    rng, params, x = setup()
    np.testing.assert_allclose(cnn.apply(params, x), cnn.apply(broadcast(params, 2), x), rtol=1e-13, atol=1e-13)
    mixed = broadcast(params, 2)
    mixed["conv1/w"][1] += rng.standard_normal(params["conv1/w"].shape)
    out, ref = cnn.apply(mixed, x), reference_logits(mixed, x)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out[0], cnn.apply(params, x)[0], rtol=1e-13)


def test_batch_norm_statistics_are_per_task():
    rng, params, x = setup()
    x2 = x.copy()
    x2[1] = rng.random(x[1].shape)
    np.testing.assert_array_equal(cnn.apply(params, x)[0], cnn.apply(params, x2)[0])


def test_features_and_head_compose_to_apply():
    _, params, x = setup()
    feats = cnn.features(params, x)
    assert feats.shape == (2, 4, cnn.architecture(params)["feature_dim"])
    np.testing.assert_array_equal(cnn.head(params, feats), cnn.apply(params, x))


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_collapse_preserves_outputs_before_adaptation(dtype, tol):
    _, params, x = setup(dtype=dtype, linnet=3)
    flat = cnn.collapse(params)
    assert not any(k.startswith("lin") for k in flat) and flat["head/w"].shape == (2, cnn.architecture(params)["feature_dim"])
    assert flat["head/w"].dtype == dtype and list(flat) == [k for k in params if not k.startswith("lin")]
    np.testing.assert_allclose(cnn.apply(flat, x), cnn.apply(params, x), rtol=tol, atol=tol)
    assert cnn.count(flat) < cnn.count(params)


def test_collapse_changes_outputs_after_one_inner_step():
    """Same function, different adaptation: the LinNet factors precondition the head's update."""
    _, params, x = setup(linnet=2)
    y = np.array([[0, 1, 0, 1], [1, 1, 0, 0]])
    flat = cnn.collapse(params)
    out_deep = cnn.apply(maml.adapt(params, x, y, alpha=0.5, steps=1), x)
    out_flat = cnn.apply(maml.adapt(flat, x, y, alpha=0.5, steps=1), x)
    assert np.max(np.abs(out_deep - out_flat)) > 1e-3


def test_float32_forward_and_gradient_stay_float32():
    _, params, x = setup(dtype=np.float32)
    y = np.array([[0, 1, 0, 1], [1, 1, 0, 0]])
    assert cnn.apply(params, x).dtype == np.float32
    assert cnn.apply(params, x.astype(np.float64)).dtype == np.float32
    np.testing.assert_array_equal(cnn.apply(params, x.astype(np.float64)), cnn.apply(params, x))
    g = grad(lambda p: anp.sum(maml.cross_entropy(cnn.apply(p, x), y)))(params)
    assert all(v.dtype == np.float32 for v in g.values())
    # the input gradient passes no cast-back (param gradients are cast by autograd's indexing
    # VJPs), so it shows whether any intermediate of the backward pass became float64
    gx = grad(lambda x: anp.sum(maml.cross_entropy(cnn.apply(params, x), y)))(x)
    assert gx.dtype == np.float32


def test_conv_bias_has_zero_gradient_under_batch_norm():
    _, params, x = setup()
    y = np.array([[0, 1, 0, 1], [1, 1, 0, 0]])
    g = grad(lambda p: anp.sum(maml.cross_entropy(cnn.apply(p, x), y)))(params)
    assert np.all(g["conv1/b"] == 0) and np.any(g["conv1/w"] != 0)


@pytest.mark.parametrize("kw", [dict(layers=0), dict(hidden=0), dict(ways=-1), dict(linnet=-1),
                                dict(in_shape=(1, 28)), dict(linnet_width=0), dict(dtype=np.int32)])
def test_init_rejects_bad_arguments(kw):
    with pytest.raises(ValueError):
        cnn.init(np.random.default_rng(0), **kw)


def test_apply_rejects_mismatched_shapes():
    _, params, x = setup()
    with pytest.raises(ValueError, match="T, n, C, H, W"):
        cnn.apply(params, x[0])
    with pytest.raises(ValueError, match="input channels"):
        cnn.apply(params, x[:, :, :1])
    with pytest.raises(ValueError, match="tasks"):
        cnn.apply(broadcast(params, 3), x)
