"""theory.engine.data: the Dataset type, the synthetic glyphs, the episode sampler, the CI."""

import statistics

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.engine import data
from theory.engine.data import Dataset, mean_ci95, sample_tasks, synthetic


def _indexed(counts):
    """A Dataset whose image i holds the value i everywhere, so episodes reveal their indices."""
    labels = np.repeat(np.arange(len(counts)), counts)
    images = np.broadcast_to(np.arange(labels.size, dtype=np.float32)[:, None, None, None],
                             (labels.size, 1, 2, 2)).copy()
    # shuffle so that class members are not contiguous in the arrays
    perm = np.random.default_rng(5).permutation(labels.size)
    images, labels = images[perm], labels[perm]
    names = tuple(f"c{k}" for k in range(len(counts)))
    return Dataset(images, labels, len(counts), (1, 2, 2), "indexed", "train", names)


# ---- Dataset ------------------------------------------------------------------------------

def test_dataset_rejects_bad_arrays():
    good = np.zeros((4, 1, 2, 2), np.float32)
    with pytest.raises(ValueError, match="float32"):
        Dataset(good.astype(np.float64), np.zeros(4, int), 1, (1, 2, 2), "x", "train", ("a",))
    with pytest.raises(ValueError, match=r"labels span 0\.\.2, outside 0\.\.1"):
        Dataset(good, np.array([0, 1, 2, 0]), 2, (1, 2, 2), "x", "train", ("a", "b"))
    with pytest.raises(ValueError, match="class 1 .* has no images"):
        Dataset(good, np.array([0, 0, 2, 2]), 3, (1, 2, 2), "x", "train", ("a", "b", "c"))
    with pytest.raises(ValueError, match=r"in_shape=\(1, 3, 3\) does not match"):
        Dataset(good, np.zeros(4, int), 1, (1, 3, 3), "x", "train", ("a",))
    with pytest.raises(ValueError, match="len\\(class_names\\)=1"):
        Dataset(good, np.zeros(4, int), 2, (1, 2, 2), "x", "train", ("a",))


def test_dataset_is_read_only_and_indexes_classes():
    d = _indexed([3, 5, 2])
    assert not d.images.flags.writeable and not d.labels.flags.writeable
    for k in range(3):
        assert np.array_equal(np.sort(d.class_images(k)[:, 0, 0, 0]),
                              np.sort(d.images[d.labels == k][:, 0, 0, 0]))
    with pytest.raises(ValueError, match="k=3 is outside 0..2"):
        d.class_images(3)


# ---- load dispatch ------------------------------------------------------------------------

def test_load_rejects_unknown_names_and_splits():
    with pytest.raises(ValueError, match="dataset name must be .*'mini-imagenet', got 'imagenet'"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="split='training' is not one of"):
        data.load("synthetic", split="training")
    with pytest.raises(ValueError, match="reads no path"):
        data.load("synthetic", "/tmp")
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        data.load("synthetic", seed=-1)


def test_split_aliases_return_the_same_split():
    assert data.load("synthetic", split="validation") is data.load("synthetic", split="val")


# ---- synthetic ----------------------------------------------------------------------------

def test_synthetic_shapes_convention_and_disjoint_classes():
    val, test = data.load("synthetic", split="val"), data.load("synthetic", split="test")
    for d in (val, test):
        assert d.images.shape == (synthetic.CLASSES[d.split] * 20, 1, 28, 28)
        assert d.images.dtype == np.float32 and d.in_shape == (1, 28, 28)
        assert d.n_classes == synthetic.CLASSES[d.split] and np.all(d.counts == 20)
        assert 0.0 <= d.images.min() and d.images.max() <= 1.0
        # ink = 1 on a dark background: the median pixel is background
        assert np.median(d.images) < 0.15 and np.quantile(d.images, 0.99) > 0.9
    assert not set(val.class_names) & set(test.class_names)


def test_synthetic_train_split_is_large():
    # its generation time is printed by benchmarks/engine_data_speed.py, not asserted here
    synthetic._generate.cache_clear()
    train = synthetic.load("train", seed=3)
    assert train.n_classes >= 1000 and len(train) == train.n_classes * 20


def test_synthetic_is_deterministic_and_seeded():
    first = synthetic.load("val", seed=7).images.copy()
    synthetic._generate.cache_clear()
    again = synthetic.load("val", seed=7).images
    assert np.array_equal(first, again)
    other = synthetic.load("val", seed=8).images
    assert np.abs(first - other).mean() > 0.05


def test_synthetic_is_learnable_but_not_trivial():
    # 1-shot 5-way nearest neighbour in pixel space: far above chance (0.2), far below 1.
    d = data.load("synthetic", split="test")
    x_s, y_s, x_q, y_q = sample_tasks(d, np.random.default_rng(0), tasks=200, ways=5,
                                      shots=1, query=5)
    dist = ((x_q[:, :, None] - x_s[:, None]) ** 2).sum(axis=(3, 4, 5))
    accuracy = (np.take_along_axis(y_s, dist.argmin(-1), axis=1) == y_q).mean()
    assert 0.4 < accuracy < 0.85


def test_render_places_ink_where_the_points_are():
    point = np.array([[[0.0, -0.5]]], np.float32)     # x = centre column, y = upper quarter
    image = synthetic.render(point, np.ones((1, 1), np.float32))[0]
    row, col = np.unravel_index(image.argmax(), image.shape)
    assert (row, col) in {(6, 13), (6, 14), (7, 13), (7, 14)}
    assert synthetic.render(point, np.zeros((1, 1), np.float32)).max() == 0.0


# ---- sample_tasks -------------------------------------------------------------------------

def _check_episode(d, out, ways, shots, query):
    x_s, y_s, x_q, y_q = out
    tasks = x_s.shape[0]
    assert x_s.shape == (tasks, ways * shots) + d.in_shape
    assert x_q.shape == (tasks, ways * query) + d.in_shape
    assert y_s.dtype == np.int64 and y_q.dtype == np.int64
    assert np.array_equal(y_s, np.tile(np.repeat(np.arange(ways), shots), (tasks, 1)))
    assert np.array_equal(y_q, np.tile(np.repeat(np.arange(ways), query), (tasks, 1)))
    true = d.labels
    order = np.argsort(d.images[:, 0, 0, 0])
    classes = []
    for t in range(tasks):
        idx_s = x_s[t, :, 0, 0, 0].astype(int)
        idx_q = x_q[t, :, 0, 0, 0].astype(int)
        both = np.concatenate([idx_s, idx_q])
        assert len(set(both.tolist())) == both.size            # no image twice in a task
        cls_s = true[order[idx_s]].reshape(ways, shots)
        cls_q = true[order[idx_q]].reshape(ways, query)
        assert np.all(cls_s == cls_s[:, :1]) and np.all(cls_q == cls_s[:, :1])
        assert len(set(cls_s[:, 0].tolist())) == ways          # distinct classes
        classes.append(cls_s[:, 0])
    return np.array(classes)


@given(ways=st.integers(1, 6), shots=st.integers(1, 3), query=st.integers(1, 3),
       tasks=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_episodes_are_well_formed(ways, shots, query, tasks, seed):
    d = _indexed([6, 7, 8, 6, 9, 6, 10])
    out = sample_tasks(d, np.random.default_rng(seed), tasks=tasks, ways=ways, shots=shots,
                       query=query)
    _check_episode(d, out, ways, shots, query)


def test_labels_are_permuted_per_task_and_draws_cover_everything():
    d = _indexed([6] * 8)
    out = sample_tasks(d, np.random.default_rng(1), tasks=400, ways=3, shots=2, query=1)
    classes = _check_episode(d, out, 3, 2, 1)
    # label 0 goes to every class, and to classes in every relative order
    assert set(classes[:, 0].tolist()) == set(range(8))
    orders = {tuple(np.argsort(c)) for c in classes}
    assert len(orders) == 6
    # every image appears in support and in query
    seen_s = np.unique(out[0][..., 0, 0, 0])
    seen_q = np.unique(out[2][..., 0, 0, 0])
    assert seen_s.size == len(d) and seen_q.size == len(d)


def test_sampling_is_seeded():
    d = data.load("synthetic", split="val")
    a = sample_tasks(d, np.random.default_rng(4), tasks=3, ways=5, shots=1)
    b = sample_tasks(d, np.random.default_rng(4), tasks=3, ways=5, shots=1)
    c = sample_tasks(d, np.random.default_rng(5), tasks=3, ways=5, shots=1)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(ways=8), r"ways=8 exceeds the 7 classes of indexed/train \(valid: 1\.\.7\)"),
    (dict(shots=0), r"shots must be an integer >= 1, got 0"),
    (dict(query=0), r"query must be an integer >= 1, got 0"),
    (dict(shots=-2), r"shots must be an integer >= 1, got -2"),
    (dict(tasks=0), r"tasks must be an integer >= 1, got 0"),
    (dict(shots=4, query=3), r"shots \+ query = 4 \+ 3 = 7 exceeds the 6 images of class 0 "),
])
def test_sampling_rejects_bad_arguments(kwargs, message):
    d = _indexed([6, 7, 8, 6, 9, 6, 10])
    args = dict(tasks=2, ways=5, shots=1, query=1) | kwargs
    with pytest.raises(ValueError, match=message):
        sample_tasks(d, np.random.default_rng(0), **args)


def test_sampling_requires_a_generator():
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        sample_tasks(_indexed([3, 3]), 0, tasks=1, ways=2, shots=1, query=1)


# ---- mean_ci95 ----------------------------------------------------------------------------

@given(st.lists(st.floats(0, 1), min_size=2, max_size=50))
def test_mean_ci95_is_the_normal_interval_with_sample_sd(accs):
    mean, half = mean_ci95(accs)
    assert mean == pytest.approx(statistics.fmean(accs), abs=1e-12)
    assert half == pytest.approx(1.96 * statistics.stdev(accs) / len(accs) ** 0.5, abs=1e-12)


def test_mean_ci95_edge_cases():
    mean, half = mean_ci95([0.75])
    assert mean == 0.75 and np.isnan(half)
    assert mean_ci95(np.full(600, 0.5)) == (0.5, 0.0)
    with pytest.raises(ValueError, match="empty"):
        mean_ci95([])
    with pytest.raises(ValueError, match="non-finite"):
        mean_ci95([0.5, float("nan")])
