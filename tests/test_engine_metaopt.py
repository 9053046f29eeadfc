"""Meta-optimizers as pure gradient transforms: identity at init, Kronecker algebra, PSD,
derivatives against finite differences, parameter counts, bad input."""

import autograd
import numpy as np
import pytest
from autograd import numpy as anp
from autograd.test_util import check_grads
from hypothesis import given
from hypothesis import strategies as st

from theory.engine import maml, metaopt

CONFIGS = [
    ("none", {}), ("metasgd", {}), ("mc", {}), ("mc", {"max_dim": 4}), ("tnet", {}),
    ("kfo", {}), ("kfo", {"psd": True}), ("kfo", {"bias": True, "max_dim": 4}),
    ("kfo", {"conv": "out", "bias": True}), ("kfo-mlp", {}),
    ("kfo-mlp", {"psd": True, "hidden": 1, "max_dim": 4, "conv": "out"}),
]


def tiny_params(rng, dtype=np.float64, linnet=False):
    """Shapes of a 2-layer CNN (3 then 2 channels), 2x2 features, 2 ways."""
    p = {"conv1/w": (3, 1, 3, 3), "conv1/b": (3,), "bn1/gamma": (3,), "bn1/beta": (3,),
         "conv2/w": (2, 3, 3, 3), "conv2/b": (2,), "bn2/gamma": (2,), "bn2/beta": (2,)}
    if linnet:
        p.update({"lin1/w": (5, 8), "lin2/w": (5, 5)})
    p.update({"head/w": (2, 5 if linnet else 8), "head/b": (2,)})
    return {k: rng.standard_normal(s).astype(dtype) for k, s in p.items()}


def perturb(phi, rng, scale=0.3):
    """A generic (non-identity) phi: the identity plus noise."""
    return {k: v + scale * rng.standard_normal(v.shape) for k, v in phi.items()}


@pytest.mark.parametrize("name,options", CONFIGS)
@pytest.mark.parametrize("tasks", [(), (2,)])
def test_identity_at_init(name, options, tasks):
    rng = np.random.default_rng(0)
    params = tiny_params(rng)
    mo = metaopt.get(name, **options)
    phi = mo.init(rng, params)
    grads = {k: rng.standard_normal(tasks + p.shape) for k, p in params.items()}
    direction = mo.update(phi, grads, params, 0)
    assert direction.keys() == grads.keys()
    for k, g in grads.items():
        np.testing.assert_array_equal(direction[k], g)


def vec(G):
    """Column-major vec, the convention of (R^T kron L) vec(G) = vec(L G R)."""
    return G.reshape(G.shape[0], -1).flatten(order="F")


@pytest.mark.parametrize("key", ["conv2/w", "head/w"])
def test_kfo_is_kronecker_product(key):
    """conv="out" (and any dense weight): the whole gradient as one n x m matrix G."""
    rng = np.random.default_rng(1)
    params = tiny_params(rng)
    mo = metaopt.get("kfo", conv="out")
    phi = perturb(mo.init(rng, params, keys=[key]), rng)
    G = rng.standard_normal(params[key].shape)
    got = mo.update(phi, {key: G}, params, 0)[key]
    L, R = phi[f"{key}/L"], phi[f"{key}/R"]
    expected = np.kron(R.T, L) @ vec(G)
    np.testing.assert_allclose(vec(got), expected, rtol=1e-12, atol=1e-12)


def test_kfo_conv_in_layout_is_block_diagonal_kronecker():
    """conv="in" (the default): each output channel's I x k^2 slice G_o maps to L G_o R."""
    rng = np.random.default_rng(12)
    params = tiny_params(rng)
    mo = metaopt.get("kfo")
    assert mo.options["conv"] == "in"
    phi = perturb(mo.init(rng, params, keys=["conv2/w"]), rng)
    L, R = phi["conv2/w/L"], phi["conv2/w/R"]
    assert L.shape == (3, 3) and R.shape == (9, 9)
    G = rng.standard_normal((2,) + params["conv2/w"].shape)  # with a task axis
    got = mo.update(phi, {"conv2/w": G}, params, 0)["conv2/w"]
    P = np.kron(np.eye(2), np.kron(R.T, L))  # I_O kron (R^T kron L)
    for t in range(2):
        slices = [vec(G[t, o].reshape(3, 9)) for o in range(2)]
        expected = P @ np.concatenate(slices)
        np.testing.assert_allclose(np.concatenate([vec(got[t, o].reshape(3, 9))
                                                   for o in range(2)]), expected, rtol=1e-12)


def explicit_matrix(mo, phi, key, shape):
    """The matrix P of the linear map vec(G) -> vec(U(G)), column by column."""
    n = int(np.prod(shape))
    cols = []
    for j in range(n):
        E = np.zeros(n)
        E[j] = 1.0
        cols.append(mo.update(phi, {key: E.reshape(shape)}, None, 0)[key].ravel())
    return np.array(cols).T


@given(seed=st.integers(0, 2**31 - 1), key=st.sampled_from(["conv1/w", "head/w", "conv1/b"]),
       max_dim=st.sampled_from([2, 1024]), conv=st.sampled_from(["in", "out"]))
def test_kfo_psd_preconditioner_is_psd(seed, key, max_dim, conv):
    rng = np.random.default_rng(seed)
    params = tiny_params(rng)
    mo = metaopt.get("kfo", psd=True, max_dim=max_dim, conv=conv)
    phi = perturb(mo.init(rng, params, keys=[key]), rng, scale=1.0)
    P = explicit_matrix(mo, phi, key, params[key].shape)
    np.testing.assert_allclose(P, P.T, atol=1e-12)
    assert np.linalg.eigvalsh((P + P.T) / 2).min() >= -1e-12


def test_kfo_without_psd_can_be_indefinite():
    rng = np.random.default_rng(2)
    params = tiny_params(rng)
    mo = metaopt.get("kfo")
    phi = mo.init(rng, params, keys=["head/w"])
    phi["head/w/L"] = np.diag([1.0, -1.0])
    P = explicit_matrix(mo, phi, "head/w", params["head/w"].shape)
    assert np.linalg.eigvalsh((P + P.T) / 2).min() < 0


def test_mc_is_mode_products():
    rng = np.random.default_rng(3)
    params = tiny_params(rng)
    mo = metaopt.get("mc")
    phi = perturb(mo.init(rng, params), rng)
    G = {k: rng.standard_normal(p.shape) for k, p in params.items()}
    got = mo.update(phi, G, params, 0)
    Mo, Mi, Mf = (phi[f"conv2/w/{m}"] for m in ("M_o", "M_i", "M_f"))
    X = G["conv2/w"].reshape(2, 3, 9)
    np.testing.assert_allclose(got["conv2/w"].reshape(2, 3, 9),
                               np.einsum("ai,bj,ck,ijk->abc", Mo, Mi, Mf, X), rtol=1e-12)
    # the same map as the Kronecker preconditioner M_f kron M_i kron M_o on column-major vec
    np.testing.assert_allclose(got["conv2/w"].reshape(2, 3, 9).flatten(order="F"),
                               np.kron(Mf, np.kron(Mi, Mo)) @ X.flatten(order="F"), rtol=1e-12)
    np.testing.assert_allclose(got["head/w"],
                               phi["head/w/M_o"] @ G["head/w"] @ phi["head/w/M_i"].T, rtol=1e-12)
    np.testing.assert_allclose(got["bn1/gamma"], phi["bn1/gamma/M"] * G["bn1/gamma"])


def test_metasgd_is_elementwise():
    rng = np.random.default_rng(4)
    params = tiny_params(rng)
    mo = metaopt.get("metasgd")
    phi = perturb(mo.init(rng, params), rng)
    G = {k: rng.standard_normal((2,) + p.shape) for k, p in params.items()}
    got = mo.update(phi, G, params, 0)
    for k in G:
        np.testing.assert_allclose(got[k], phi[k][None] * G[k], rtol=1e-15)


@pytest.mark.parametrize("name,options", [c for c in CONFIGS if c[0] not in ("none", "tnet")])
def test_update_derivatives_match_finite_differences(name, options):
    rng = np.random.default_rng(5)
    params = tiny_params(rng)
    keys = ["conv1/w", "conv1/b", "head/w"]
    mo = metaopt.get(name, **options)
    phi = perturb(mo.init(rng, params, keys=keys), rng)
    if name == "kfo-mlp":  # move L_o off zero so every hidden factor matters
        phi = {k: v + 0.3 * rng.standard_normal(v.shape) if k.endswith("/Lo") else v
               for k, v in phi.items()}
    G = {k: rng.standard_normal((2,) + params[k].shape) for k in keys}
    W = {k: rng.standard_normal(g.shape) for k, g in G.items()}

    def f(phi, G):
        d = mo.update(phi, G, params, 0)
        return sum(anp.sum(d[k] * W[k]) for k in keys)

    check_grads(lambda p: f(p, G), modes=["rev"], order=2)(phi)
    check_grads(lambda g: f(phi, g), modes=["rev"], order=2)(G)


def test_kfo_mlp_is_nonlinear_and_homogeneous():
    rng = np.random.default_rng(6)
    params = tiny_params(rng)
    mo = metaopt.get("kfo-mlp")
    phi = perturb(mo.init(rng, params, keys=["head/w"]), rng)
    phi["head/w/Lo"] = rng.standard_normal((2, 2))
    G = rng.standard_normal((2, 8))
    U = lambda g: mo.update(phi, {"head/w": g}, params, 0)["head/w"]  # noqa: E731
    np.testing.assert_allclose(U(2.5 * G), 2.5 * U(G), rtol=1e-12)
    assert not np.allclose(U(-G), -U(G))


def test_anil_keys_and_phi_only_for_them():
    rng = np.random.default_rng(7)
    params = tiny_params(rng, linnet=True)
    params["conv1/T"] = np.eye(3)
    assert maml.adapt_keys(params, "anil") == ("lin1/w", "lin2/w", "head/w", "head/b")
    assert "conv1/T" not in maml.adapt_keys(params, "maml")
    mo = metaopt.get("kfo")
    phi = mo.init(rng, params, keys=maml.adapt_keys(params, "anil"))
    assert {k.rsplit("/", 1)[0] for k in phi} == {"lin1/w", "lin2/w", "head/w", "head/b"}
    with pytest.raises(ValueError, match="conv1/w"):
        mo.update(phi, {"conv1/w": np.zeros((3, 1, 3, 3))}, params, 0)


def test_count_parameters_by_hand():
    rng = np.random.default_rng(8)
    params = tiny_params(rng, linnet=True)
    base = (27 + 3 + 3 + 3) + (54 + 2 + 2 + 2)  # convs and batch norm
    n_model = base + 5 * 8 + 5 * 5 + 2 * 5 + 2
    collapsed = base + 2 * 8 + 2  # LinNet collapses into a (2, 8) head
    assert metaopt.count_parameters({"model": params, "metaopt": {}}) == {
        "meta": n_model, "deployed": collapsed}
    tnet = metaopt.get("tnet")
    with_t = {**params, **metaopt.extra_model_params(tnet, rng, params)}
    n_t = 9 + 4 + 25 + 25 + 4  # conv1/T, conv2/T, lin1/T, lin2/T, head/T
    assert metaopt.count_parameters({"model": with_t, "metaopt": {}}) == {
        "meta": n_model + n_t, "deployed": collapsed}
    plain = tiny_params(rng)
    kfo = metaopt.get("kfo", conv="out")
    phi = kfo.init(rng, plain)
    # conv="out", L, R per weight: conv1 (3, 9), conv2 (2, 27), head (2, 8); vectors: a diagonal L
    n_phi = (9 + 81) + (4 + 729) + (4 + 64) + (3 * 3 + 3 * 2 + 2)
    assert sum(v.size for v in phi.values()) == n_phi
    assert metaopt.count_parameters({"model": plain, "metaopt": phi}) == {
        "meta": base + 18 + n_phi, "deployed": base + 18}
    # default conv="in": conv1 slices 1 x 9 (I = 1), conv2 slices 3 x 9 (I = 3)
    n_in = (1 + 81) + (9 + 81) + (4 + 64) + (3 * 3 + 3 * 2 + 2)
    assert sum(v.size for v in metaopt.get("kfo").init(rng, plain).values()) == n_in
    # kfo-mlp: the linear factors plus hidden + 1 more sets of the same shapes
    assert sum(v.size for v in metaopt.get("kfo-mlp").init(rng, plain).values()) == 4 * n_in
    mc_phi = metaopt.get("mc").init(rng, plain)
    n_mc = (9 + 1 + 81) + (4 + 9 + 81) + (4 + 64) + (3 * 3 + 3 * 2 + 2)
    assert sum(v.size for v in mc_phi.values()) == n_mc


def test_bad_names_and_options():
    with pytest.raises(ValueError, match="'adam'.*valid names"):
        metaopt.get("adam")
    with pytest.raises(ValueError, match="'psd'.*valid options"):
        metaopt.get("mc", psd=True)
    with pytest.raises(ValueError, match="hidden"):
        metaopt.get("kfo", hidden=2)
    with pytest.raises(ValueError, match="max_dim=0"):
        metaopt.get("kfo", max_dim=0)
    with pytest.raises(ValueError, match="psd='yes'"):
        metaopt.get("kfo", psd="yes")
    with pytest.raises(ValueError, match="conv='mid'"):
        metaopt.get("kfo-mlp", conv="mid")
    with pytest.raises(ValueError, match="hidden=-1"):
        metaopt.get("kfo-mlp", hidden=-1)
    with pytest.raises(ValueError, match="algo must be 'maml', 'fomaml' or 'anil', got 'reptile'"):
        maml.adapt_keys({}, "reptile")
    rng = np.random.default_rng(9)
    params = tiny_params(rng)
    with pytest.raises(ValueError, match="'conv9/w'"):
        metaopt.get("metasgd").init(rng, params, keys=["conv9/w"])
    with pytest.raises(ValueError, match="'conv1/T' is a T-Nets transform"):
        metaopt.get("tnet").init(rng, {**params, "conv1/T": np.eye(3)}, keys=["conv1/T"])


def test_tnet_step_is_preconditioned_by_t_t_transpose():
    """y = T W x: the step on W moves T W by -alpha T T^T dL/d(TW)."""
    rng = np.random.default_rng(10)
    T, W = rng.standard_normal((3, 3)), rng.standard_normal((3, 4))
    x, target = rng.standard_normal((4, 6)), rng.standard_normal((3, 6))
    alpha = 0.1
    loss = lambda W, T: 0.5 * anp.sum((T @ W @ x - target) ** 2)  # noqa: E731
    g_w = autograd.grad(loss)(W, T)
    step = metaopt.get("tnet").update({}, {"lin1/w": g_w}, None, 0)["lin1/w"]
    W1 = W - alpha * step
    g_v = autograd.grad(lambda V: 0.5 * anp.sum((V @ x - target) ** 2))(T @ W)
    np.testing.assert_allclose(T @ W1 - T @ W, -alpha * T @ T.T @ g_v, rtol=1e-12)


def test_adapt_phi_is_a_gradient_step_on_the_support_loss():
    """phi_1 = phi - alpha dL_t(theta_0 - alpha U_phi(g_0))/dphi per task t, by central FD."""
    rng = np.random.default_rng(11)
    A = rng.standard_normal((2, 4, 2, 3))  # a quadratic loss per task on a (2, 3) weight
    loss = lambda th: 0.5 * anp.sum(anp.einsum("tiab,tab->ti", A, th) ** 2)  # noqa: E731
    mo = metaopt.get("kfo", adapt_transform=True)
    theta = rng.standard_normal((2, 3))
    phi = perturb(mo.init(rng, {"head/w": theta}), rng)
    alpha, eps = 0.3, 1e-6
    theta_t = theta + np.zeros((2, 1, 1))
    g0 = {"head/w": autograd.grad(loss)(theta_t)}
    theta1 = theta_t - alpha * mo.update(phi, g0, None, 0)["head/w"]
    g1 = {"head/w": autograd.grad(loss)(theta1)}
    new = mo.adapt_phi(phi, g0, g1, alpha)

    def task_loss(t, name, delta):
        th = theta_t - alpha * mo.update({**phi, name: phi[name] + delta}, g0, None, 0)["head/w"]
        return 0.5 * np.sum(np.einsum("iab,ab->i", A[t], th[t]) ** 2)

    for name in ("head/w/L", "head/w/R"):
        assert new[name].shape == (2,) + phi[name].shape
        num = np.zeros(new[name].shape)
        for t in range(2):
            for idx in np.ndindex(phi[name].shape):
                d = np.zeros(phi[name].shape)
                d[idx] = eps
                num[(t,) + idx] = (task_loss(t, name, d) - task_loss(t, name, -d)) / (2 * eps)
        np.testing.assert_allclose(new[name], phi[name] - alpha * num, rtol=1e-6, atol=1e-8)
    assert metaopt.get("kfo").adapt_phi is None


def test_kfo_default_layout_is_light_on_the_paper_cnn():
    """2-layer hidden-32 Omniglot CNN (5-way): KFO's size by hand, per layout."""
    from theory.engine import cnn
    params = cnn.init(np.random.default_rng(13), layers=2, hidden=32, ways=5)
    model = (32 * 9 + 32 + 64) + (32 * 32 * 9 + 32 + 64) + (5 * 32 * 7 * 7 + 5)
    assert cnn.count(params) == model == 17541
    # vectors (conv b, BN gamma/beta: 6 x 32; head b: 5) get a diagonal L; the head's
    # 1568-wide side is above max_dim, so its R is diagonal
    vectors, head = 6 * 32 + 5, 5 * 5 + 32 * 7 * 7
    conv_in = (1 + 9 * 9) + (32 * 32 + 9 * 9)          # n = I, m = k^2, one L and R per layer
    conv_out = (32 * 32 + 9 * 9) + (32 * 32 + 288 * 288)  # n = O, m = I k^2
    size = lambda name, **o: sum(v.size for v in metaopt.get(name, **o).init(  # noqa: E731
        None, params).values())
    assert size("kfo") == conv_in + vectors + head == 2977
    assert size("kfo-mlp") == 4 * (conv_in + vectors + head) == 11908
    assert size("kfo", conv="out") == conv_out + vectors + head
    assert size("kfo-mlp", conv="out") == 4 * (conv_out + vectors + head)
    assert size("kfo") < model / 5 < size("kfo", conv="out") / 4
