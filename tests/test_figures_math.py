"""Mathematical facts behind the figures: derivatives, the R1 ratio, result averaging."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.figures import ratio


def _data(seed, tasks=5, shots=4):
    rng = np.random.default_rng(seed)
    a = rng.normal(1.0, 0.5, (tasks, 1))
    x_s, x_q = rng.normal(size=(tasks, shots)), rng.normal(size=(tasks, shots))
    return x_s, a * x_s + 0.1 * rng.normal(size=x_s.shape), x_q, a * x_q


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
def test_simulated_meta_gradient_equals_central_differences(steps):
    data = _data(steps)
    alpha = np.array([[0.1], [0.6], [1.3]])
    w, h = -0.7, 1e-5
    maml, multi = ratio.simulated_grads(w, alpha, *data, steps)

    def loss(v, k):
        return ratio.simulated_meta_loss(np.full(3, v), alpha, *data, k)

    fd = (loss(w + h, steps) - loss(w - h, steps)) / (2 * h)
    np.testing.assert_allclose(maml, fd, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(multi, ((loss(w + h, 0) - loss(w - h, 0)) / (2 * h))[0],
                               rtol=1e-7)


@given(alpha=st.floats(0.01, 1.9), sigma2=st.floats(0.2, 3.0), w=st.floats(-3, 3),
       a=st.floats(-3, 3), steps=st.integers(1, 3))
def test_symbolic_ratio_is_one_minus_alpha_sigma2_to_the_2k(alpha, sigma2, w, a, steps):
    if abs(w - a) < 1e-3:
        return  # the multi-task gradient vanishes: the ratio is undefined there
    expected = (1 - alpha * sigma2) ** (2 * steps)
    got = ratio.symbolic_ratio(np.array(alpha), steps, sigma2=sigma2, w=w, a=a)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)

