"""A procedural glyph benchmark: thousands of stroke-drawn classes, deterministic from a seed.

Each class is a glyph of 2-4 random strokes (quadratic Bezier curves: a straight segment when
the control point is the midpoint, a curve otherwise) in the square [-1, 1]^2. An image of a
class is one "drawing" of its glyph: every stroke node moved by N(0, NODE_SD = 0.08) (as
different people draw one character), then a random affine map (rotation +-15 degrees, scale
0.85-1.15 per axis, shear +-0.15, shift +-SHIFT = +-0.2, about +-2.8 pixels), rasterised at
28x28 with a Gaussian pen, Gaussian pixel noise (sd 0.08) added, clipped to [0, 1].
Ink = 1.0, background = 0.0, as for Omniglot in this package. Difficulty: a 1-shot 5-way
nearest-neighbour match in pixel space is right about 60% of the time (Omniglot: about 40%),
so the benchmark is learnable but not trivial.

Class counts per split (``CLASSES``): 1024 train, 256 val, 256 test, disjoint by
construction (glyph ``g`` belongs to exactly one split); ``IMAGES_PER_CLASS`` = 20 images per
class, as in Omniglot. The glyphs depend on ``seed`` only; the images of a split on
``(seed, split)``, so one split is generated without the others.
"""

import functools

import numpy as np

from .base import SPLITS, Dataset

__all__ = ["CLASSES", "IMAGES_PER_CLASS", "SIZE", "MAX_STROKES", "POINTS_PER_STROKE", "PEN_SD",
           "NOISE_SD", "NODE_SD", "SHIFT", "PEN_GAIN", "glyph_strokes", "bezier", "render", "load"]

CLASSES = {"train": 1024, "val": 256, "test": 256}
IMAGES_PER_CLASS = 20
SIZE = 28
MAX_STROKES = 4
POINTS_PER_STROKE = 24
PEN_SD = 0.9 * 2 / SIZE          # Gaussian pen sd: 0.9 pixel, in [-1, 1] units
NOISE_SD = 0.08
NODE_SD = 0.08
SHIFT = 0.2
# Pen density -> ink: the density along a stroke is about sqrt(2 pi) PEN_SD / spacing ~ 2.5
# here, so the stroke core saturates near 1 and its edges fade over about one pixel.
PEN_GAIN = 1.0


def glyph_strokes(seed, n_glyphs):
    """Strokes of glyphs ``0..n_glyphs-1``: Bezier nodes ``(n, MAX_STROKES, 3, 2)`` and a mask.

    Nodes are (start, control, end) as ``(x, y)`` in [-1, 1]^2 with y pointing down the
    image; ``mask`` ``(n, MAX_STROKES)`` is True on the 2-4 strokes a glyph uses.
    """
    rng = np.random.default_rng([seed, 0])
    ends = rng.uniform(-0.7, 0.7, size=(n_glyphs, MAX_STROKES, 2, 2))
    bend = rng.uniform(-0.8, 0.8, size=(n_glyphs, MAX_STROKES, 2))
    straight = rng.random((n_glyphs, MAX_STROKES, 1)) < 0.4
    n_strokes = rng.integers(2, MAX_STROKES + 1, size=n_glyphs)
    start, end = ends[:, :, 0], ends[:, :, 1]
    control = np.where(straight, 0.5 * (start + end), bend)
    nodes = np.stack([start, control, end], axis=2).astype(np.float32)
    return nodes, np.arange(MAX_STROKES) < n_strokes[:, None]


def bezier(nodes):
    """Points along quadratic Bezier strokes: nodes ``(..., 3, 2)`` -> ``(..., POINTS, 2)``."""
    t = np.linspace(0.0, 1.0, POINTS_PER_STROKE, dtype=np.float32)[:, None]
    weights = np.stack([(1 - t) ** 2, 2 * (1 - t) * t, t ** 2])          # (3, P, 1)
    return np.einsum("kpo,...kc->...pc", weights, nodes)


def render(points, mask, chunk=256):
    """Rasterise stroke points ``(n, P, 2)`` in [-1, 1]^2 into ink images ``(n, 28, 28)``.

    The pen is an isotropic Gaussian, separable in x and y, so an image is one matrix product
    ``G_y^T G_x`` of the per-point pen profiles; ink = 1 - exp(-PEN_GAIN * pen density)
    saturates at 1. Points with ``mask`` 0 leave no ink. Computed in chunks of ``chunk``
    images so the temporaries stay in cache.
    """
    centres = ((np.arange(SIZE, dtype=np.float32) + 0.5) * (2.0 / SIZE) - 1.0)
    scale = np.float32(-0.5 / PEN_SD ** 2)
    out = np.empty((points.shape[0], SIZE, SIZE), dtype=np.float32)
    for i in range(0, points.shape[0], chunk):
        profiles = []
        for axis in (1, 0):
            g = points[i:i + chunk, :, axis:axis + 1] - centres          # (c, P, 28)
            g *= g
            g *= scale
            profiles.append(np.exp(g, out=g))
        profiles[1] *= mask[i:i + chunk, :, None]
        out[i:i + chunk] = np.matmul(profiles[0].transpose(0, 2, 1), profiles[1])
    out *= np.float32(-PEN_GAIN)
    return -np.expm1(out, out=out)


def _jitter(rng, n):
    """Random affine maps ``(n, 2, 2)`` and shifts ``(n, 2)`` (see the module docstring)."""
    angle = np.deg2rad(rng.uniform(-15, 15, n))
    scale = rng.uniform(0.85, 1.15, (n, 2))
    shear = rng.uniform(-0.15, 0.15, n)
    cos, sin = np.cos(angle), np.sin(angle)
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    shr = np.zeros((n, 2, 2))
    shr[:, 0, 0] = shr[:, 1, 1] = 1.0
    shr[:, 0, 1] = shear
    linear = rot @ shr * scale[:, None, :]
    return linear.astype(np.float32), rng.uniform(-SHIFT, SHIFT, (n, 2)).astype(np.float32)


@functools.cache
def _generate(seed, split):
    offset = sum(CLASSES[s] for s in SPLITS[:SPLITS.index(split)])
    n_classes = CLASSES[split]
    nodes, used = glyph_strokes(seed, sum(CLASSES.values()))
    nodes, used = nodes[offset:offset + n_classes], used[offset:offset + n_classes]
    rng = np.random.default_rng([seed, 1 + SPLITS.index(split)])
    labels = np.repeat(np.arange(n_classes), IMAGES_PER_CLASS)
    linear, shift = _jitter(rng, labels.size)
    # Each drawing moves every stroke node a little, as different people draw one character.
    drawn = nodes[labels] + np.float32(NODE_SD) * rng.standard_normal(
        (labels.size,) + nodes.shape[1:], dtype=np.float32)
    points = bezier(drawn).reshape(labels.size, -1, 2) @ linear.transpose(0, 2, 1)
    mask = np.repeat(used[labels], POINTS_PER_STROKE, axis=1).astype(np.float32)
    images = render(points + shift[:, None, :], mask)
    images += np.float32(NOISE_SD) * rng.standard_normal(images.shape, dtype=np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    names = tuple(f"glyph{offset + k:05d}" for k in range(n_classes))
    return Dataset(images[:, None], labels, n_classes, (1, SIZE, SIZE), "synthetic", split,
                   names)


def load(split="train", seed=0):
    """The synthetic glyph split ``split`` (one of ``SPLITS``) for ``seed`` (an integer >= 0,
    as ``data.load`` checked them): a ``Dataset`` of 28x28x1 images.

    Cached per process: a second call with the same arguments returns the same object.
    """
    return _generate(seed, split)
