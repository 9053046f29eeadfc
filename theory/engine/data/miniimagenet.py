"""mini-ImageNet (Vinyals et al., 2016) with the Ravi & Larochelle (2017) 64 / 16 / 20 split.

Read from the common pickled caches ``<path>/mini-imagenet-cache-{train,val,test}.pkl``: each a
dict with ``"image_data"`` uint8 ``(N, 84, 84, 3)`` and ``"class_dict"``
``{class_name: [image indices]}``. The split is the file: train holds the 64 training
classes, val 16, test 20. Images float32 ``(3, 84, 84)`` = value / 255; labels are the
file's classes in sorted name order.

Memory: the train file is 38,400 images; as float32 that is about 3.3 GB.
The pickles are read with ``pickle``: only point this loader at files you trust.
"""

import functools
import pathlib
import pickle

import numpy as np

from .base import Dataset
from .images import to_float

FILE = "mini-imagenet-cache-{split}.pkl"
EXPECTED = ("mini-imagenet-cache-train.pkl, mini-imagenet-cache-val.pkl and "
            "mini-imagenet-cache-test.pkl")


def _file(path, split):
    if path is None:
        raise FileNotFoundError(f"mini-ImageNet needs a data path holding {EXPECTED}; "
                                "pass --data PATH")
    root = pathlib.Path(path)
    file = root / FILE.format(split=split)
    if file.is_dir():
        raise ValueError(f"mini-ImageNet file {file} is a directory; expected the pickle file")
    if not file.is_file():
        raise FileNotFoundError(f"mini-ImageNet file {file} not found: expected {EXPECTED} "
                                f"in {root}")
    return file


def _get(table, key, file):
    for k in (key, key.encode()):
        if isinstance(table, dict) and k in table:
            return table[k]
    raise ValueError(f"mini-ImageNet pickle {file} is not a dict with {key!r} "
                     "(expected keys 'image_data' and 'class_dict')")


@functools.cache
def _split(file, stamp, split):
    del stamp    # part of the cache key only: a changed file is read again
    try:
        with open(file, "rb") as handle:
            try:
                table = pickle.load(handle)
            except UnicodeDecodeError:       # a cache pickled by Python 2
                handle.seek(0)
                table = pickle.load(handle, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError,
            IndexError, TypeError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read mini-ImageNet pickle {file}: {err}") from None
    data = np.asarray(_get(table, "image_data", file))
    classes = _get(table, "class_dict", file)
    if data.ndim != 4 or data.shape[3] != 3 or data.dtype != np.uint8:
        raise ValueError(f"mini-ImageNet pickle {file}: image_data must be uint8 "
                         f"(N, H, W, 3), got {data.dtype} {data.shape}")
    if not isinstance(classes, dict) or not classes:
        raise ValueError(f"mini-ImageNet pickle {file}: class_dict must be a non-empty dict")
    names = sorted(n.decode() if isinstance(n, bytes) else str(n) for n in classes)
    by_name = {(n.decode() if isinstance(n, bytes) else str(n)): v for n, v in classes.items()}
    index = [np.asarray(by_name[n], dtype=np.int64).ravel() for n in names]
    flat = np.concatenate(index)
    if flat.size and (flat.min() < 0 or flat.max() >= len(data)):
        raise ValueError(f"mini-ImageNet pickle {file}: class_dict indices outside "
                         f"0..{len(data) - 1}")
    labels = np.repeat(np.arange(len(names)), [len(i) for i in index])
    return Dataset(to_float(data[flat], 3), labels, len(names), (3,) + data.shape[1:3],
                   "mini-imagenet", split, tuple(names))


def load(path, split="train"):
    """The mini-ImageNet split ``split`` (one of ``SPLITS``) from ``path`` (see the module
    docstring)."""
    file = _file(path, split)
    stat = file.stat()
    return _split(file, (stat.st_size, stat.st_mtime_ns), split)
