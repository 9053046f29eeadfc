"""Meta-optimizers inside the engine's MAML/ANIL: identity first step, meta-gradients
against finite differences, T-Nets preconditioning on the real CNN."""

import autograd
import numpy as np
import pytest

from theory.engine import cnn, maml, metaopt

CONFIGS = [
    ("metasgd", {}), ("mc", {}), ("mc", {"max_dim": 2}), ("tnet", {}), ("kfo", {}),
    ("kfo", {"psd": True, "bias": True}), ("kfo", {"adapt_transform": True}),
    ("kfo", {"conv": "out", "bias": True, "adapt_transform": True}),
    ("kfo-mlp", {}), ("kfo-mlp", {"max_dim": 2, "adapt_transform": True}),
]
ALPHA = 0.4


def tiny_model(rng, linnet=0):
    """2 conv layers of 3 channels on 6x6 images (features 3 x 1 x 1), 2 ways, float64."""
    return cnn.init(rng, layers=2, hidden=3, ways=2, in_shape=(1, 6, 6), linnet=linnet,
                    dtype=np.float64)


def tiny_batch(rng, tasks=2, shots=2, query=3):
    """Random images, every class present in each task's support and query sets."""
    y_s = np.tile(np.repeat(np.arange(2), shots), (tasks, 1))
    y_q = np.tile(np.repeat(np.arange(2), query), (tasks, 1))
    x_s = rng.uniform(size=(tasks, 2 * shots, 1, 6, 6))
    x_q = rng.uniform(size=(tasks, 2 * query, 1, 6, 6))
    return x_s, y_s, x_q, y_q


def setup(name, options, algo="maml", linnet=0, seed=0):
    rng = np.random.default_rng(seed)
    mo = metaopt.get(name, **options)
    params = tiny_model(rng, linnet)
    params = {**params, **metaopt.extra_model_params(mo, rng, params)}
    phi = mo.init(rng, params, keys=maml.adapt_keys(params, algo))
    return rng, mo, params, phi


@pytest.mark.parametrize("algo", ["maml", "anil"])
@pytest.mark.parametrize("name,options", CONFIGS)
def test_first_inner_step_is_plain_maml(name, options, algo):
    rng, mo, params, phi = setup(name, options, algo, linnet=1)
    x_s, y_s, _, _ = tiny_batch(rng)
    keys = maml.adapt_keys(params, algo)
    base = {k: v for k, v in params.items() if not metaopt.is_transform_key(k)}
    plain = maml.adapt(base, x_s, y_s, alpha=ALPHA, steps=1,
                       adapt_keys=[k for k in keys if k in base])
    ours = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=1, adapt_keys=keys, metaopt=mo,
                      phi=phi)
    for k in base:
        np.testing.assert_array_equal(ours[k], plain[k], err_msg=k)
    moved = [k for k in base if np.shape(plain[k]) != np.shape(base[k])
             or not np.array_equal(plain[k], base[k])]
    assert moved, "the inner step must change some parameters"


def directional_check(f, grad, x, rng, directions=2, eps=1e-5):
    """<grad f(x), v> against central differences of f along random unit directions v."""
    for _ in range(directions):
        v = {k: rng.standard_normal(np.shape(a)) for k, a in x.items()}
        norm = np.sqrt(sum(np.sum(a * a) for a in v.values()))
        v = {k: a / norm for k, a in v.items()}
        plus = f({k: x[k] + eps * v[k] for k in x})
        minus = f({k: x[k] - eps * v[k] for k in x})
        numeric = (plus - minus) / (2 * eps)
        analytic = sum(np.sum(grad[k] * v[k]) for k in x)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name,options", CONFIGS)
def test_meta_gradient_wrt_transform_matches_finite_differences(name, options):
    rng, mo, params, phi = setup(name, options, seed=1)
    batch = tiny_batch(rng)
    # a generic point: transforms away from the identity
    phi = {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in phi.items()}
    tkeys = [k for k in params if metaopt.is_transform_key(k)]
    for k in tkeys:
        params[k] = params[k] + 0.2 * rng.standard_normal(params[k].shape)
    kw = {"alpha": ALPHA, "steps": 2, "algo": "maml", "metaopt": mo}
    _, grads, _ = maml.meta_grad({"model": params, "metaopt": phi}, batch, **kw)
    if phi:
        directional_check(lambda p: maml.meta_loss({"model": params, "metaopt": p}, batch,
                                                   **kw)[0], grads["metaopt"], phi, rng)
    if tkeys:
        sub = {k: params[k] for k in tkeys}
        directional_check(lambda t: maml.meta_loss({"model": {**params, **t}, "metaopt": phi},
                                                   batch, **kw)[0],
                          grads["model"], sub, rng)
    assert phi or tkeys


def test_meta_gradient_anil():
    rng, mo, params, phi = setup("kfo", {"psd": True}, "anil", linnet=1, seed=2)
    batch = tiny_batch(rng)
    phi = {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in phi.items()}
    assert {k.rsplit("/", 1)[0] for k in phi} == {"lin1/w", "head/w", "head/b"}
    kw = {"alpha": ALPHA, "steps": 2, "algo": "anil", "metaopt": mo}
    _, grads, _ = maml.meta_grad({"model": params, "metaopt": phi}, batch, **kw)
    directional_check(lambda p: maml.meta_loss({"model": params, "metaopt": p}, batch, **kw)[0],
                      grads["metaopt"], phi, rng)


@pytest.mark.parametrize("name,options", [("metasgd", {}), ("kfo-mlp", {}),
                                          ("kfo", {"adapt_transform": True})])
def test_first_order_meta_gradient_freezes_inner_gradients(name, options):
    """FO-MAML: the phi-gradient is that of L_q(theta - alpha sum_s U_phi_s(g_s)), g_s fixed
    (phi_s = phi, or with adapt_transform phi_s = adapt_phi(phi_{s-1}, g_{s-1}, g_s))."""
    rng, mo, params, phi = setup(name, options, seed=4)
    x_s, y_s, x_q, y_q = batch = tiny_batch(rng)
    phi = {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in phi.items()}
    kw = {"alpha": ALPHA, "steps": 2, "algo": "fomaml", "metaopt": mo}
    _, grads, _ = maml.meta_grad({"model": params, "metaopt": phi}, batch, **kw)
    support = lambda p: np.sum(maml.cross_entropy(cnn.apply(p, x_s), y_s))  # noqa: E731
    theta = {k: np.broadcast_to(v, (2,) + v.shape) for k, v in params.items()}
    frozen, phi_s = [], phi
    for step in range(2):
        g = autograd.grad(support)(theta)
        if mo.adapt_phi is not None and step >= 1:
            phi_s = mo.adapt_phi(phi_s, frozen[-1], g, ALPHA, True)
        frozen.append(g)
        d = mo.update(phi_s, g, theta, step)
        theta = {k: theta[k] - ALPHA * d[k] for k in theta}

    def surrogate(p):
        th = {k: np.broadcast_to(v, (2,) + v.shape) for k, v in params.items()}
        for step, g in enumerate(frozen):
            if mo.adapt_phi is not None and step >= 1:
                p = mo.adapt_phi(p, frozen[step - 1], g, ALPHA, True)
            d = mo.update(p, g, th, step)
            th = {k: th[k] - ALPHA * d[k] for k in th}
        return np.mean(maml.cross_entropy(cnn.apply(th, x_q), y_q))

    directional_check(surrogate, grads["metaopt"], phi, rng)


def test_tnet_transforms_never_adapt_and_precondition_the_step():
    rng, mo, params, phi = setup("tnet", {}, seed=3)
    for k in ("conv1/T", "head/T"):
        params[k] = params[k] + 0.5 * rng.standard_normal(params[k].shape)
    x_s, y_s, _, _ = tiny_batch(rng)
    adapted = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=1, metaopt=mo, phi=phi)
    for k in params:
        if metaopt.is_transform_key(k):
            assert adapted[k] is params[k], k

    # the same network written with the effective weights V = T W and no T
    def effective(p):
        out = {k: v for k, v in p.items() if not metaopt.is_transform_key(k)}
        w = p["conv1/w"]
        out["conv1/w"] = (params["conv1/T"] @ w.reshape(w.shape[:-3] + (-1,))).reshape(w.shape)
        out["head/w"] = params["head/T"] @ p["head/w"]
        out["head/b"] = p["head/b"] @ params["head/T"].T
        return out

    base = effective(params)
    np.testing.assert_allclose(cnn.apply(base, x_s), cnn.apply(params, x_s), rtol=1e-12)
    after = effective(adapted)
    for t in range(2):  # task t moves by its own support gradient
        g = autograd.grad(lambda v: maml.cross_entropy(cnn.apply(v, x_s[t:t + 1]),
                                                       y_s[t:t + 1])[0])(base)
        for key, tkey in (("conv1/w", "conv1/T"), ("head/w", "head/T")):
            T = params[tkey]
            V = base[key].reshape(T.shape[0], -1)
            expected = V - ALPHA * (T @ T.T) @ g[key].reshape(V.shape)
            np.testing.assert_allclose(after[key][t].reshape(V.shape), expected, rtol=1e-10,
                                       atol=1e-12)


def test_adapt_transform_takes_transform_steps_inside_the_inner_loop():
    """With adapt_transform the second step uses phi_1 = adapt_phi(phi, g_0, g_1, alpha)."""
    rng, mo, params, phi = setup("kfo", {"adapt_transform": True}, seed=5)
    x_s, y_s, _, _ = tiny_batch(rng)
    phi = {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in phi.items()}
    fixed = metaopt.get("kfo")
    got = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=2, metaopt=mo, phi=phi)
    support = lambda p: np.sum(maml.cross_entropy(cnn.apply(p, x_s), y_s))  # noqa: E731
    theta = {k: np.broadcast_to(v, (2,) + v.shape) for k, v in params.items()}
    g0 = autograd.grad(support)(theta)
    theta1 = {k: theta[k] - ALPHA * d for k, d in fixed.update(phi, g0, theta, 0).items()}
    g1 = autograd.grad(support)(theta1)
    phi1 = mo.adapt_phi(phi, g0, g1, ALPHA)
    assert phi1["conv2/w/L"].shape == (2, 3, 3)  # one transform per task
    theta2 = {k: theta1[k] - ALPHA * d for k, d in fixed.update(phi1, g1, theta1, 1).items()}
    without = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=2, metaopt=fixed, phi=phi)
    for k in params:
        np.testing.assert_allclose(got[k], theta2[k], rtol=1e-10, atol=1e-13, err_msg=k)
    assert not np.allclose(got["conv2/w"], without["conv2/w"], rtol=1e-9, atol=0)


@pytest.mark.parametrize("name", metaopt.NAMES)
def test_count_parameters_on_the_engine_cnn(name):
    """By hand: conv1 27 + 3, bn1 6, conv2 81 + 3, bn2 6; LinNet (3, 3); head 2 x 3 + 2."""
    rng, mo, params, phi = setup(name, {}, linnet=1, seed=6)
    n_t = 9 + 9 + 9 + 4 if name == "tnet" else 0  # conv1/T, conv2/T, lin1/T, head/T
    assert cnn.count(params) == 126 + 9 + 8 + n_t
    counts = metaopt.count_parameters({"model": params, "metaopt": phi})
    assert counts == {"meta": 126 + 9 + 8 + n_t + sum(v.size for v in phi.values()),
                      "deployed": 126 + 8}
    base = {k: v for k, v in params.items() if not metaopt.is_transform_key(k)}
    assert counts["deployed"] == cnn.count(cnn.collapse(base))


def _mutable_state(obj, seen=None):
    """Mutable containers reachable from ``obj`` through tuple fields and function closures."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, (dict, list, set, bytearray)) or hasattr(obj, "__array__"):
        return [obj]
    if isinstance(obj, tuple):
        return [m for item in obj for m in _mutable_state(item, seen)]
    if callable(obj) and getattr(obj, "__closure__", None):
        return [m for cell in obj.__closure__ for m in _mutable_state(cell.cell_contents, seen)]
    return []


@pytest.mark.parametrize("name,options", CONFIGS)
def test_meta_optimizers_hold_no_mutable_state(name, options):
    mo = metaopt.get(name, **options)
    assert isinstance(mo, tuple)
    assert _mutable_state(mo) == [], name
    assert dict(mo.options) == {**mo.options}  # a read-only mapping of the options
    with pytest.raises(TypeError):
        mo.options["psd"] = True


def test_adapt_transform_calls_are_pure():
    """adapt twice gives the same result; update depends on its arguments only."""
    rng, mo, params, phi = setup("kfo", {"adapt_transform": True}, seed=7)
    x_s, y_s, _, _ = tiny_batch(rng)
    phi = {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in phi.items()}
    first = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=2, metaopt=mo, phi=phi)
    second = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=2, metaopt=mo, phi=phi)
    maml.adapt(params, x_s[::-1], y_s, alpha=2 * ALPHA, steps=3, metaopt=mo, phi=phi)
    third = maml.adapt(params, x_s, y_s, alpha=ALPHA, steps=2, metaopt=mo, phi=phi)
    for k in params:
        np.testing.assert_array_equal(first[k], second[k], err_msg=k)
        np.testing.assert_array_equal(first[k], third[k], err_msg=k)
    # the inner-loop states of step 0 and 1, then the same step-1 update twice in a row
    support = lambda p: np.sum(maml.cross_entropy(cnn.apply(p, x_s), y_s))  # noqa: E731
    theta = {k: np.broadcast_to(v, (2,) + v.shape) for k, v in params.items()}
    g0 = autograd.grad(support)(theta)
    theta1 = {k: theta[k] - ALPHA * d for k, d in mo.update(phi, g0, theta, 0).items()}
    g1 = autograd.grad(support)(theta1)
    once = mo.update(phi, g1, theta1, 1)
    twice = mo.update(phi, g1, theta1, 1)
    plain = metaopt.get("kfo").update(phi, g1, theta1, 1)
    for k in g1:
        np.testing.assert_array_equal(once[k], twice[k], err_msg=k)
        np.testing.assert_array_equal(once[k], plain[k], err_msg=k)
