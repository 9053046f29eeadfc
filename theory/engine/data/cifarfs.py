"""CIFAR-FS (Bertinetto et al., 2019): CIFAR-100 split by class into 64 / 16 / 20 classes.

Read from the CIFAR-100 "python version": ``<path>/cifar-100-python/{train,test,meta}`` (or
``path`` being that folder), pickles with ``b"data"`` ``(N, 3072)`` uint8 (channel-major
32x32 RGB), ``b"fine_labels"`` and, in ``meta``, ``b"fine_label_names"``. All 600 images of a
class (500 from ``train`` + 100 from ``test``) belong to the class's split. Images float32
``(3, 32, 32)`` = value / 255. Labels: the split's classes in sorted name order.

The split (``VAL_CLASSES``, ``TEST_CLASSES``; train = the other 64 CIFAR-100 classes) is the
one of the ``splits/bertinetto/{train,val,test}.txt`` files published with R2D2 (Bertinetto et
al., "Meta-learning with differentiable closed-form solvers", ICLR 2019). The val and test
lists below were checked against two independent public copies of those files; the train
list is the complement within CIFAR-100's 100 fine labels.

The pickles are read with ``pickle``: only point this loader at files you trust.
"""

import functools
import os
import pathlib
import pickle

import numpy as np

from .base import Dataset
from .images import to_float

CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm")
VAL_CLASSES = (
    "beaver", "beetle", "butterfly", "camel", "cattle", "crab", "crocodile", "flatfish", "lamp",
    "maple_tree", "motorcycle", "otter", "sea", "shark", "television", "tractor")
TEST_CLASSES = (
    "baby", "bed", "bicycle", "chimpanzee", "fox", "leopard", "man", "pickup_truck", "plain",
    "poppy", "rocket", "rose", "snail", "sweet_pepper", "table", "telephone", "wardrobe",
    "whale", "woman", "worm")
TRAIN_CLASSES = tuple(c for c in CIFAR100_CLASSES if c not in VAL_CLASSES + TEST_CLASSES)
SPLIT_CLASSES = {"train": TRAIN_CLASSES, "val": VAL_CLASSES, "test": TEST_CLASSES}
EXPECTED = "cifar-100-python/train, cifar-100-python/test and cifar-100-python/meta"


def _folder(path):
    if path is None:
        raise FileNotFoundError(f"CIFAR-FS needs a data path holding {EXPECTED} (the CIFAR-100 "
                                "python version); pass --data PATH")
    root = pathlib.Path(path)
    for folder in (root / "cifar-100-python", root):
        if all((folder / f).is_file() for f in ("train", "test", "meta")):
            return folder
        if folders := [f for f in ("train", "test", "meta") if (folder / f).is_dir()]:
            raise ValueError(f"CIFAR-100 file {folder / folders[0]} is a directory; expected "
                             "the pickle file")
    raise FileNotFoundError(f"CIFAR-FS data not found under {root}: expected {EXPECTED} "
                            "(the CIFAR-100 python version)")


def _unpickle(file):
    try:
        with open(file, "rb") as handle:
            return pickle.load(handle, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError,
            IndexError, TypeError) as err:
        raise ValueError(f"cannot read CIFAR-100 pickle {file}: {err}") from None


def _field(table, key, file):
    for k in (key.encode(), key):
        if isinstance(table, dict) and k in table:
            return table[k]
    raise ValueError(f"CIFAR-100 pickle {file} has no {key!r} entry")


@functools.cache
def _read(folder, stamp):
    """``(images uint8 (N, 3, 32, 32), fine labels (N,), names)`` of train + test."""
    del stamp    # part of the cache key only: changed files are read again
    names = [n.decode() if isinstance(n, bytes) else str(n)
             for n in _field(_unpickle(folder / "meta"), "fine_label_names", folder / "meta")]
    images, labels = [], []
    for part in ("train", "test"):
        file = folder / part
        table = _unpickle(file)
        data = np.asarray(_field(table, "data", file))
        fine = np.asarray(_field(table, "fine_labels", file), dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8 \
                or fine.shape != data.shape[:1]:
            raise ValueError(f"CIFAR-100 pickle {file}: expected uint8 data (N, 3072) and N "
                             f"fine labels, got {data.dtype} {data.shape} and {fine.shape}")
        if fine.size and (fine.min() < 0 or fine.max() >= len(names)):
            raise ValueError(f"CIFAR-100 pickle {file}: fine labels outside "
                             f"0..{len(names) - 1}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(fine)
    return np.concatenate(images), np.concatenate(labels), tuple(names)


@functools.cache
def _split(folder, stamp, split):
    images, fine, names = _read(folder, stamp)
    wanted = SPLIT_CLASSES[split]
    missing = sorted(set(wanted) - set(names))
    if missing:
        raise ValueError(f"CIFAR-100 meta in {folder} lacks the CIFAR-FS {split} classes "
                         f"{missing[:5]}{'...' if len(missing) > 5 else ''}")
    local = np.full(len(names), -1)
    for k, name in enumerate(sorted(wanted)):
        local[names.index(name)] = k
    keep = np.flatnonzero(local[fine] >= 0)
    pixels = images[keep].transpose(0, 2, 3, 1)           # to_float takes (n, H, W, 3)
    return Dataset(to_float(pixels, 3), local[fine[keep]], len(wanted), (3, 32, 32),
                   "cifarfs", split, tuple(sorted(wanted)))


def load(path, split="train"):
    """The CIFAR-FS split ``split`` (one of ``SPLITS``) read from ``path`` (see the module
    docstring)."""
    folder = _folder(path)
    stamp = tuple((os.fspath(folder / f), (folder / f).stat().st_size,
                   (folder / f).stat().st_mtime_ns) for f in ("train", "test", "meta"))
    return _split(folder, stamp, split)
