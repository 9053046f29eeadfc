"""The paper authors' networks: stride-2 convolutions, the mean readout, their initialisation.

Exactness of the new blocks at first and second order (finite differences in float64), the
shapes and laws of the network, and MAML, ANIL and KFO meta-gradients against an independent
PyTorch implementation of the same network (skipped where PyTorch is not installed).
"""

import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st
from autograd.test_util import check_grads
from conftest import save_without

from theory.engine import chunks, cnn, maml, metaopt
from theory.engine import primitives as P
from theory.engine import strided as S
from theory.engine.metaopt import kfo

STRIDE_MEAN = cnn.Arch("stride", "mean")


def direct_conv(a, w, stride):
    """3x3 cross-correlation with zero padding 1, as the sum over taps that defines it."""
    T, C, n, H, W = a.shape
    Ho, Wo = (H - 1) // stride + 1, (W - 1) // stride + 1
    pad = np.pad(a, ((0, 0), (0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((T, w.shape[-4], n, Ho, Wo))
    spec = "tcnij,ocij->ton" if w.ndim == 4 else "tcnij,tocij->ton"
    for i in range(Ho):
        for j in range(Wo):
            out[..., i, j] = np.einsum(spec, pad[..., stride * i:stride * i + 3,
                                                 stride * j:stride * j + 3], w)
    return out.reshape(T, w.shape[-4], -1)


@pytest.mark.parametrize("H, W", [(28, 28), (7, 7), (4, 5), (2, 2), (1, 1), (3, 6)])
@pytest.mark.parametrize("per_task", [False, True])
def test_strided_conv_is_the_sum_over_taps(H, W, per_task):
    rng = np.random.default_rng(H * 10 + W)
    a = rng.standard_normal((2, 3, 4, H, W))
    w = rng.standard_normal((2, 5, 3, 3, 3) if per_task else (5, 3, 3, 3))
    for stride in (1, 2):
        np.testing.assert_allclose(P.conv3x3(a, w, stride=stride), direct_conv(a, w, stride),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("H", [7, 8, 1])
def test_strided_conv_derivatives_match_finite_differences_to_second_order(H):
    rng = np.random.default_rng(H)
    a = rng.standard_normal((2, 3, 2, H, H))
    w = rng.standard_normal((4, 3, 3, 3))
    wt = rng.standard_normal((2, 4, 3, 3, 3))
    # cubed so that the second derivative involves every adjoint of the conv
    check_grads(lambda a, w: P.conv3x3(a, w, stride=2) ** 3, modes=["rev"], order=2)(a, w)
    check_grads(lambda a, w: P.conv3x3(a, w, stride=2) ** 3, modes=["rev"], order=2)(a, wt)


def test_strided_im2col_and_col2im_are_adjoint():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, 2, 7, 6))
    cols = rng.standard_normal(np.shape(P.im2col(a, False, 2)))
    lhs = np.sum(P.im2col(a, False, 2) * cols)
    rhs = np.sum(a * P.col2im(cols, a.shape, False, 2))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 9),
       st.integers(1, 9), st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_the_split_form_is_im2col_by_another_route(T, C, n, H, W, in_blocks, seed):
    # the unshifted taps' columns are the phases themselves, the rest are shifted_cols; their
    # adjoints (add_shifted into the phases, then phase_merge) add up to col2im
    H, W = (2 * H, 2 * W) if in_blocks else (H, W)
    blocks = S.IN_BLOCKS if in_blocks else 0
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((T, C, n, H, W))
    Ho, Wo = S.out_size(H, 2), S.out_size(W, 2)
    cols = S.im2col(a, blocks).reshape(T, C, 9, -1)
    ph = S.phase_split(a, blocks)
    np.testing.assert_array_equal(ph.reshape(T, C, 4, -1), cols[:, :, list(S.UNSHIFTED)])
    np.testing.assert_array_equal(S.shifted_cols(ph, Ho, Wo).reshape(T, C, 5, -1),
                                  cols[:, :, list(S.SHIFTED)])
    g = rng.standard_normal(cols.shape)
    back = np.ascontiguousarray(g[:, :, list(S.UNSHIFTED)]).reshape(ph.shape)
    S.add_shifted(back, np.ascontiguousarray(g[:, :, list(S.SHIFTED)]).reshape(T, 5 * C, -1),
                  Ho, Wo)
    np.testing.assert_allclose(S.phase_merge(back, a.shape, blocks),
                               S.col2im(g.reshape(T, 9 * C, -1), a.shape, blocks),
                               rtol=1e-12, atol=1e-12)
    w = rng.standard_normal((2, 9 * C))
    np.testing.assert_array_equal(S.join_weight(*S.split_weight(w)), w)


@pytest.mark.parametrize("H, W", [(7, 7), (4, 4), (2, 2), (5, 6), (1, 3)])
def test_phase_blocks_feed_a_stride2_conv_the_same_map(H, W):
    # the phases in block order, zero-filled, are the same input to a stride-2 conv, and the
    # pair phase_blocks / phase_unblocks is adjoint, at every order of differentiation
    rng = np.random.default_rng(H * 10 + W)
    a = rng.standard_normal((2, 3, 2, H, W))
    w = rng.standard_normal((4, 3, 3, 3))
    np.testing.assert_allclose(P.conv3x3(P.phase_blocks(a), w, P.IN_BLOCKS, 2),
                               P.conv3x3(a, w, 0, 2), rtol=1e-12, atol=1e-12)
    b = P.phase_blocks(a)
    g = rng.standard_normal(b.shape)
    np.testing.assert_allclose(np.sum(b * g), np.sum(a * P.phase_unblocks(g, a.shape)),
                               rtol=1e-12)
    check_grads(lambda a, w: P.conv3x3(P.phase_blocks(a), w, P.IN_BLOCKS, 2) ** 3,
                modes=["rev"], order=2)(a, w)


def test_map_sizes_follow_the_downsampling():
    assert cnn.map_sizes(28, 28, 6, "stride") == [(14, 14), (7, 7), (4, 4), (2, 2), (1, 1), (1, 1)]
    assert cnn.map_sizes(28, 28, 3, "none") == [(28, 28)] * 3
    assert cnn.map_sizes(28, 28, 4, "maxpool") == cnn.pooled_sizes(28, 28, 4)


@pytest.mark.parametrize("layers", [2, 3, 4, 6])
def test_the_mean_readout_gives_the_head_width_features_at_every_depth(layers):
    rng = np.random.default_rng(layers)
    params = cnn.init(rng, layers=layers, hidden=6, ways=3, arch=STRIDE_MEAN, dtype=np.float64)
    assert np.shape(params["head/w"]) == (3, 6)
    x = rng.random((2, 4, 1, 28, 28))
    feats = cnn.features(params, x, STRIDE_MEAN)
    assert feats.shape == (2, 4, 6)
    # the mean of the final map, computed from the flattened readout of the same body
    flat_arch = cnn.Arch("stride", "flatten")
    Hf, Wf = cnn.map_sizes(28, 28, layers, "stride")[-1]
    flat = cnn.features(params, x, flat_arch).reshape(2, 4, 6, Hf * Wf)
    np.testing.assert_allclose(feats, flat.mean(-1), rtol=1e-12)


def test_flatten_and_mean_coincide_on_a_one_pixel_map():
    rng = np.random.default_rng(1)
    params = cnn.init(rng, layers=5, hidden=4, ways=2, arch=STRIDE_MEAN, dtype=np.float64)
    x = rng.random((1, 3, 1, 28, 28))
    np.testing.assert_array_equal(cnn.apply(params, x, STRIDE_MEAN),
                                  cnn.apply(params, x, cnn.Arch("stride", "flatten")))


def test_the_authors_initialisation():
    rng = np.random.default_rng(0)
    params = cnn.init(rng, layers=4, hidden=64, ways=5, arch=STRIDE_MEAN, scheme="authors",
                      linnet=1, dtype=np.float64)
    for i, fan_in in ((1, 9), (2, 64 * 9)):
        w = params[f"conv{i}/w"]
        bound = np.sqrt(6.0 / (fan_in + 64 * 9))          # Xavier-uniform, gain 1
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.95 * bound             # and it fills the interval
        np.testing.assert_allclose(w.var(), bound ** 2 / 3, rtol=0.2)
    gammas = np.concatenate([params[f"bn{i}/gamma"] for i in range(1, 5)])
    assert gammas.min() >= 0 and gammas.max() < 1 and 0.35 < gammas.mean() < 0.65
    for i in range(1, 5):
        assert not params[f"conv{i}/b"].any() and not params[f"bn{i}/beta"].any()
    head = params["head/w"]
    assert head.shape == (5, 64) and 0.8 < head.std() < 1.2   # standard normal
    assert not params["head/b"].any()
    again = cnn.init(np.random.default_rng(0), layers=4, hidden=64, ways=5, arch=STRIDE_MEAN,
                     scheme="authors", linnet=1, dtype=np.float64)
    assert all(np.array_equal(params[k], again[k]) for k in params)


def test_unknown_architecture_choices_are_refused():
    with pytest.raises(ValueError, match="downsample"):
        cnn.Arch("avgpool", "mean")
    with pytest.raises(ValueError, match="readout"):
        cnn.Arch("stride", "max")
    with pytest.raises(ValueError, match="scheme"):
        cnn.init(np.random.default_rng(0), scheme="xavier")


def test_linnet_on_the_mean_readout_collapses_exactly():
    rng = np.random.default_rng(2)
    params = cnn.init(rng, layers=2, hidden=8, ways=5, linnet=2, arch=STRIDE_MEAN,
                      scheme="authors", dtype=np.float64)
    assert np.shape(params["lin1/w"]) == (8, 8)           # default width: the conv width
    x = rng.random((2, 3, 1, 28, 28))
    collapsed = cnn.collapse(params)
    assert not any(k.startswith("lin") for k in collapsed)
    np.testing.assert_allclose(cnn.apply(collapsed, x, STRIDE_MEAN),
                               cnn.apply(params, x, STRIDE_MEAN), rtol=1e-12, atol=1e-12)


def _problem(rng, layers, hidden=4, ways=3, shots=1, query=2, T=2, size=12, linnet=0):
    params = cnn.init(rng, layers=layers, hidden=hidden, ways=ways, in_shape=(1, size, size),
                      arch=STRIDE_MEAN, scheme="authors", linnet=linnet, dtype=np.float64)
    params = {k: v + 0.1 * rng.standard_normal(np.shape(v)) for k, v in params.items()}
    y = lambda k: np.tile(np.repeat(np.arange(ways), k), (T, 1))  # noqa: E731
    batch = (rng.random((T, ways * shots, 1, size, size)), y(shots),
             rng.random((T, ways * query, 1, size, size)), y(query))
    return params, batch


@pytest.mark.parametrize("algo", ["maml", "anil"])
def test_second_order_meta_gradient_of_the_authors_network_matches_finite_differences(algo):
    rng = np.random.default_rng(3)
    params, batch = _problem(rng, layers=2, linnet=1)

    def loss(p):
        return maml.meta_loss({"model": p, "metaopt": {}}, batch, alpha=0.3, steps=2, algo=algo,
                              arch=STRIDE_MEAN)[0]
    check_grads(loss, modes=["rev"], order=1)(params)


def test_kfo_as_the_authors_ran_it_trains_on_the_authors_network():
    rng = np.random.default_rng(4)
    params, batch = _problem(rng, layers=2)
    opt = metaopt.get("kfo", **kfo.AUTHORS)
    phi = opt.init(rng, params)
    assert np.shape(phi["bn1/gamma/L"]) == (4, 4)         # vectors: a full left factor
    assert np.shape(phi["conv2/w/L"]) == (4, 4) and np.shape(phi["conv2/w/R"]) == (9, 9)
    phi = {k: v + 0.05 * rng.standard_normal(np.shape(v)) for k, v in phi.items()}

    def loss(mp):
        return maml.meta_loss(mp, batch, alpha=0.3, steps=2, metaopt=opt, arch=STRIDE_MEAN)[0]
    check_grads(loss, modes=["rev"], order=1)({"model": params, "metaopt": phi})


# --- an independent PyTorch implementation of the same network and algorithms --------------

def _torch_features(torch, p, x, layers):
    """Stride-2 conv (with bias), batch norm on this batch's statistics, ReLU; the mean."""
    F = torch.nn.functional
    h = x
    for i in range(1, layers + 1):
        h = F.conv2d(h, p[f"conv{i}/w"], p[f"conv{i}/b"], stride=2, padding=1)
        h = F.batch_norm(h, None, None, p[f"bn{i}/gamma"], p[f"bn{i}/beta"], training=True,
                         eps=cnn.BN_EPS)
        h = F.relu(h)
    return h.mean((2, 3))


def _torch_forward(torch, p, x, layers):
    """Logits of one task's images x (n, C, H, W)."""
    return _torch_head(_torch_features(torch, p, x, layers), p)


def _torch_head(feats, p):
    j = 1
    while f"lin{j}/w" in p:
        feats = feats @ p[f"lin{j}/w"].T
        j += 1
    return feats @ p["head/w"].T + p["head/b"]


def _torch_kfo(torch, phi, key, g):
    """The authors' KFO direction: (L^T L) G (R^T R) on the (slices x) n x m view of g."""
    shape = g.shape
    G = g.reshape(shape[0], shape[1], -1) if g.dim() == 4 else \
        g.reshape(shape[0], 1) if g.dim() == 1 else g
    L = phi[f"{key}/L"]
    out = (L.T @ L) @ G
    if f"{key}/R" in phi:
        R = phi[f"{key}/R"]
        out = out @ (R.T @ R)
    return out.reshape(shape)


def _torch_meta_loss(torch, params, phi, batch, *, layers, alpha, steps, algo, use_kfo):
    """Mean over tasks of the query loss after ``steps`` inner steps, second order throughout.

    KFO as in the authors' code: from the second inner step on, the transform's factors take
    an SGD step on the support loss, which depends on them through the previous step.
    """
    F = torch.nn.functional
    x_s, y_s, x_q, y_q = batch
    total = 0.0
    for t in range(x_s.shape[0]):
        if algo == "anil":
            keys = [k for k in params if k.startswith(("lin", "head"))]
            fs, fq = (_torch_features(torch, params, x, layers) for x in (x_s[t], x_q[t]))
            support = lambda th: F.cross_entropy(_torch_head(fs, th), y_s[t])  # noqa: E731
            query = lambda th: F.cross_entropy(_torch_head(fq, th), y_q[t])    # noqa: E731
        else:
            keys = list(params)
            support = lambda th: F.cross_entropy(_torch_forward(torch, th, x_s[t], layers), y_s[t])  # noqa: E731,B023
            query = lambda th: F.cross_entropy(_torch_forward(torch, th, x_q[t], layers), y_q[t])    # noqa: E731,B023
        theta, ph = dict(params), dict(phi)
        for s in range(steps):
            loss = support(theta)
            fkeys = [k for k in ph] if (use_kfo and s >= 1) else []
            grads = torch.autograd.grad(loss, [theta[k] for k in keys] + [ph[k] for k in fkeys],
                                        create_graph=True)
            g = dict(zip(keys, grads[:len(keys)], strict=True))
            if fkeys:
                ph = {**ph, **{k: ph[k] - alpha * gk
                               for k, gk in zip(fkeys, grads[len(keys):], strict=True)}}
            d = {k: _torch_kfo(torch, ph, k, g[k]) for k in keys} if use_kfo else g
            theta = {**theta, **{k: theta[k] - alpha * d[k] for k in keys}}
        total = total + query(theta)
    return total / x_s.shape[0]


@pytest.mark.parametrize("layers", [2, 4])
@pytest.mark.parametrize("algo, use_kfo", [("maml", False), ("anil", False), ("maml", True)])
def test_meta_gradients_equal_an_independent_pytorch_implementation(layers, algo, use_kfo):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(layers)
    params, batch = _problem(rng, layers=layers, hidden=5, ways=3, shots=2, query=2, T=2,
                             size=16, linnet=1)
    opt = metaopt.get("kfo", **kfo.AUTHORS) if use_kfo else None
    phi = {}
    if use_kfo:
        phi = opt.init(rng, params, keys=maml.adapt_keys(params, algo))
        phi = {k: v + 0.05 * rng.standard_normal(np.shape(v)) for k, v in phi.items()}
    meta = {"model": params, "metaopt": phi}
    kw = dict(alpha=0.3, steps=3, algo=algo)
    loss, grads, _ = chunks.meta_grad(meta, batch, workers=1, metaopt=opt, arch=STRIDE_MEAN, **kw)

    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tphi = {k: torch.tensor(v, requires_grad=True) for k, v in phi.items()}
    tbatch = tuple(torch.tensor(a) for a in batch)
    tloss = _torch_meta_loss(torch, tp, tphi, tbatch, layers=layers, use_kfo=use_kfo, **kw)
    leaves = list(tp.values()) + list(tphi.values())
    tgrads = torch.autograd.grad(tloss, leaves, allow_unused=True)
    want = dict(zip(list(tp) + [("phi", k) for k in tphi], tgrads, strict=True))
    np.testing.assert_allclose(loss, tloss.item(), rtol=1e-12)
    got = {**grads["model"], **{("phi", k): v for k, v in grads["metaopt"].items()}}
    assert set(got) == set(want)
    want = {k: np.zeros_like(got[k]) if w is None else w.numpy() for k, w in want.items()}
    # relative to the largest entry of the whole meta-gradient: the conv biases' gradients are
    # exactly zero (batch norm cancels them), which PyTorch gives to rounding
    scale = max(np.abs(w).max() for w in want.values())
    for k in got:
        assert np.abs(got[k] - want[k]).max() <= 1e-10 * scale, k


def _block_order(z, n, Ho, Wo):
    """A conv output ``(T, O, n*Ho*Wo)`` in C order, rearranged to block order
    ``(p, q, n, Ho/2, Wo/2)`` for the pixel ``(2i + p, 2j + q)``."""
    T, O = z.shape[:2]
    z = z.reshape(T, O, n, Ho // 2, 2, Wo // 2, 2)
    return z.transpose(0, 1, 4, 6, 2, 3, 5).reshape(T, O, -1)


@pytest.mark.parametrize("H", [28, 12, 8])
def test_stride2_convs_in_block_order_are_the_same_maps_rearranged(H):
    """Output in block order is the C-order output with its pixels rearranged; an input given
    in block order (as a previous layer emits it) gives the C-order result."""
    rng = np.random.default_rng(H)
    n, Ho = 3, H // 2
    a = rng.standard_normal((2, 2, n, H, H))
    w1, w2 = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal((5, 4, 3, 3))
    z = P.conv3x3(a, w1, 0, 2)
    zb = P.conv3x3(a, w1, P.OUT_BLOCKS, 2)
    np.testing.assert_allclose(zb, _block_order(z, n, Ho, Ho), rtol=1e-12, atol=1e-12)
    shape = (2, 4, n, Ho, Ho)
    np.testing.assert_allclose(P.conv3x3(zb.reshape(shape), w2, P.IN_BLOCKS, 2),
                               P.conv3x3(z.reshape(shape), w2, 0, 2), rtol=1e-12, atol=1e-12)
    # and the adjoint pair stays adjoint in both orders
    for flag, x in ((P.OUT_BLOCKS, a), (P.IN_BLOCKS, zb.reshape(shape))):
        cols = rng.standard_normal(np.shape(P.im2col(x, flag, 2)))
        np.testing.assert_allclose(np.sum(P.im2col(x, flag, 2) * cols),
                                   np.sum(x * P.col2im(cols, x.shape, flag, 2)), rtol=1e-12)


def test_block_order_convs_have_exact_second_derivatives():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 2, 2, 8, 8))
    w1, w2 = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal((2, 3, 3, 3))

    def two_layers(a, w1, w2):
        z = P.conv3x3(a, w1, P.OUT_BLOCKS, 2) ** 2
        return P.conv3x3(np.reshape(z, (2, 3, 2, 4, 4)), w2, P.IN_BLOCKS, 2) ** 2
    check_grads(two_layers, modes=["rev"], order=2)(a, w1, w2)


# --- the network as a run option: train, checkpoint, evaluate --------------------------------

TINY_RUN = {"layers": 2, "hidden": 4, "ways": 3, "shots": 1, "query": 2, "steps": 2,
            "inner_lr": 0.1, "meta_lr": 0.01, "meta_batch": 2, "iterations": 4, "val_every": 2,
            "val_episodes": 4, "test_episodes": 6, "checkpoint_every": 2, "seed": 3}


def test_the_authors_network_trains_and_its_checkpoint_reproduces_its_test_score(tmp_path):
    from theory.engine import checkpoint, evaluate
    from theory.engine import config as run_config
    from theory.engine import train as training

    config = dict(TINY_RUN, downsample="stride", readout="mean", init="authors",
                  metaopt="kfo", metaopt_options=dict(kfo.AUTHORS))
    result = training.train(config, out_dir=tmp_path, progress=False)
    restored, meta_params, opt, ck = checkpoint.restore(tmp_path / training.CHECKPOINT)
    assert (restored["downsample"], restored["readout"], restored["init"]) == \
        ("stride", "mean", "authors")
    assert np.shape(meta_params["model"]["head/w"]) == (3, 4)     # the mean readout
    test_set = run_config.load_splits(restored)[2]
    again = evaluate.evaluate(meta_params, test_set, run_config.episode_rng(3, "test"),
                              config=restored, episodes=6, metaopt=opt, progress=False)
    assert again["accuracy"] == result["test"]["accuracy"]


def test_a_checkpoint_from_before_the_network_options_loads_as_the_original_network(tmp_path):
    from theory.engine import checkpoint
    from theory.engine import train as training

    training.train(TINY_RUN, out_dir=tmp_path, progress=False)
    path = tmp_path / training.CHECKPOINT
    save_without(path, "downsample", "readout", "init")
    restored = checkpoint.restore(path)[0]
    assert (restored["downsample"], restored["readout"], restored["init"]) == \
        ("maxpool", "flatten", "he")
    resumed = training.train(dict(TINY_RUN, iterations=6), out_dir=tmp_path, resume=True,
                             progress=False)
    assert resumed["iterations_done"] == 6


def test_the_cli_takes_the_network_options(tmp_path):
    from theory.engine import cli

    out = tmp_path / "run"
    args = ["train", "--downsample", "stride", "--readout", "mean", "--init", "authors",
            "--layers", "2", "--hidden", "4", "--ways", "3", "--shots", "1", "--query", "2",
            "--meta-batch", "2", "--iterations", "2", "--val-every", "1", "--val-episodes",
            "2", "--test-episodes", "2", "--out", str(out), "--no-progress"]
    assert cli.main(args) == 0
    import json
    record = json.loads((out / "results.json").read_text())
    assert record["config"]["downsample"] == "stride" and record["config"]["readout"] == "mean"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--downsample", "avgpool", "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_the_authors_init_a_linnet_head_overshoots_where_the_plain_head_descends(seed):
    """Why the alpha sweep's MAML w/ LinNet diverged at alpha 1 at its first iteration (notebook
    04): before any meta-training, one inner step at alpha 1 raises LinNet's support loss
    (its linear factors multiply the step) and five steps blow it up, while the plain 2-layer
    network's loss falls. Synthetic tasks, float64, the authors' initialisation."""
    from theory.engine import data
    from theory.engine.data import episodes

    rng = np.random.default_rng(seed)
    x_s, y_s = episodes.sample_tasks(data.load("synthetic", split="train"), rng, tasks=4,
                                     ways=5, shots=5, query=1)[:2]

    def loss(params, steps):
        logits = (maml.adapted_logits(params, x_s, y_s, x_s, alpha=1.0, steps=steps,
                                      arch=STRIDE_MEAN) if steps else
                  cnn.apply(params, x_s, STRIDE_MEAN))
        return float(np.mean(maml.cross_entropy(logits, y_s)))

    for linnet in (0, 2):
        params = cnn.init(rng, layers=2, hidden=32, ways=5, in_shape=x_s.shape[2:],
                          linnet=linnet, linnet_width=64, arch=STRIDE_MEAN, scheme="authors",
                          dtype=np.float64)
        start, one, five = loss(params, 0), loss(params, 1), loss(params, 5)
        if linnet:
            assert one > start and five > 1e6 * start, (start, one, five)
        else:
            assert five < start, (start, one, five)
