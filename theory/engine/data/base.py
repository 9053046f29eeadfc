"""The ``Dataset`` type shared by every loader, and the names of the splits.

Convention (every loader's; ``theory.engine.cnn`` takes such images, with a leading task and
image axis): images are float32 in [0, 1], laid out ``(C, H, W)``; grayscale glyphs have
ink = 1.0 and background = 0.0.
"""

import dataclasses

import numpy as np

__all__ = ["SPLITS", "SPLIT_BY", "canonical_split", "Dataset"]

SPLITS = ("train", "val", "test")
# how a benchmark's classes are split: by its own class split, or (Omniglot) by whole alphabets
SPLIT_BY = ("character", "alphabet")
_SPLIT_ALIASES = {"train": "train", "val": "val", "validation": "val", "valid": "val",
                  "test": "test"}


def canonical_split(split):
    """Map ``split`` to one of ``SPLITS`` (``"validation"``/``"valid"`` mean ``"val"``)."""
    try:
        return _SPLIT_ALIASES[split]
    except (KeyError, TypeError):
        raise ValueError(f"split={split!r} is not one of {sorted(_SPLIT_ALIASES)}") from None


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """One split of a few-shot benchmark: every image of every class in that split.

    Attributes:
        images: float32 ``(n_images, C, H, W)`` in [0, 1], read-only.
        labels: int64 ``(n_images,)`` class ids ``0..n_classes-1`` (ids are local to the split).
        n_classes: number of classes in the split.
        in_shape: ``(C, H, W)`` of one image.
        name: benchmark name (``"synthetic"``, ``"omniglot"``, ``"cifarfs"``,
            ``"mini-imagenet"``, or a folder's name).
        split: ``"train"``, ``"val"`` or ``"test"``.
        class_names: tuple of ``n_classes`` strings, ``class_names[k]`` names label ``k``.

    ``order``, ``starts`` and ``counts`` index the images by class (``order[starts[k]:
    starts[k] + counts[k]]`` are the images of class ``k``) so that episode sampling is a
    handful of vectorised gathers.
    """

    images: np.ndarray
    labels: np.ndarray
    n_classes: int
    in_shape: tuple
    name: str
    split: str
    class_names: tuple
    order: np.ndarray = dataclasses.field(init=False)
    starts: np.ndarray = dataclasses.field(init=False)
    counts: np.ndarray = dataclasses.field(init=False)

    def __post_init__(self):
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        if images.ndim != 4 or images.dtype != np.float32:
            raise ValueError(f"images must be float32 (n, C, H, W); got {images.dtype} "
                             f"{images.shape}")
        if labels.shape != images.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers of shape {images.shape[:1]}; got "
                             f"{labels.dtype} {labels.shape}")
        n_classes = int(self.n_classes)
        if n_classes < 1 or len(self.class_names) != n_classes:
            raise ValueError(f"n_classes={n_classes} must be >= 1 and equal "
                             f"len(class_names)={len(self.class_names)}")
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"labels span {labels.min()}..{labels.max()}, outside "
                             f"0..{n_classes - 1}")
        if tuple(self.in_shape) != images.shape[1:]:
            raise ValueError(f"in_shape={tuple(self.in_shape)} does not match the images' "
                             f"{images.shape[1:]}")
        labels = labels.astype(np.int64, copy=False)
        counts = np.bincount(labels, minlength=n_classes)
        if counts.min() == 0:
            raise ValueError(f"class {int(np.argmin(counts))} of {self.name}/{self.split} "
                             "has no images")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        order = np.argsort(labels, kind="stable")
        for name, value in (("images", images), ("labels", labels), ("order", order),
                            ("starts", starts), ("counts", counts)):
            value.flags.writeable = False
            object.__setattr__(self, name, value)
        object.__setattr__(self, "n_classes", n_classes)
        object.__setattr__(self, "in_shape", tuple(int(s) for s in images.shape[1:]))
        object.__setattr__(self, "class_names", tuple(self.class_names))

    def __repr__(self):
        return (f"Dataset(name={self.name!r}, split={self.split!r}, images={len(self)}, "
                f"n_classes={self.n_classes}, in_shape={self.in_shape})")

    def __len__(self):
        return int(self.images.shape[0])

    def class_images(self, k):
        """The images of class ``k``: ``(counts[k], C, H, W)``."""
        if not 0 <= k < self.n_classes:
            raise ValueError(f"class k={k} is outside 0..{self.n_classes - 1}")
        return self.images[self.order[self.starts[k]:self.starts[k] + self.counts[k]]]
