"""Write one seeded episode of a benchmark as image folders, ready for ``adapt``.

``write_episode`` draws an N-way K-shot task with ``sample_tasks`` and writes

- ``out/support/<class>/<k>.png``: the K support images of each class (the folder name is the
  class name with ``/`` replaced by ``_``, e.g. ``Balinese_character08_rot090``);
- ``out/query/<j>.png``: the query images of every class, in a seeded random order so that
  the file names say nothing about the classes;
- ``out/answers.json``: ``{"kind": "engine-episode", "dataset", "split", "seed", "ways",
  "shots", "query", "answers": {query file name: class folder name}}``.

Grayscale images are written as dark ink on light paper (``255 * (1 - x)``), as Omniglot's
own files are; ``load_image_folder`` inverts them back, so ``adapt`` reads the arrays the
sampler drew: exactly for benchmarks stored as 8-bit images (Omniglot, CIFAR-FS,
mini-ImageNet), rounded to the nearest 1/255 for the procedural synthetic glyphs.
"""

import os
import pathlib
import secrets
import shutil

import numpy as np
from PIL import Image

from theory import _io

from .episodes import sample_indices

__all__ = ["check_out", "write_episode"]


def _png(array, path):
    """Save a float ``(C, H, W)`` image in [0, 1] as a PNG (grayscale: ink dark)."""
    pixels = np.rint(255 * np.clip(array, 0.0, 1.0)).astype(np.uint8)
    image = 255 - pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
    with _io.atomic_open(path, "wb") as handle:
        Image.fromarray(image).save(handle, format="PNG")


def check_out(out):
    """Raise ``ValueError`` unless an episode can be written to folder ``out``: it must be
    creatable and writable and must not hold ``support``, ``query`` or ``answers.json``
    already, so that an old episode's files never mix with a new one's."""
    root = pathlib.Path(out)
    _io.check_writable(root)
    for part in ("support", "query", "answers.json"):
        if (root / part).exists():
            raise ValueError(f"{root / part} already exists; choose a new --out folder")
    return root


def write_episode(dataset, out, *, ways, shots, query=1, seed=0):
    """Write one episode of ``dataset`` under ``out`` (layout in the module docstring).

    ``out`` is checked by ``check_out`` first. The files are written to a hidden folder in
    ``out`` and moved into place at the end (``answers.json`` last), so an interrupted or
    failed write leaves no partial episode behind. Returns the ``answers.json`` dict.
    """
    root = check_out(out)
    support, queries = (i[0] for i in sample_indices(
        dataset, np.random.default_rng(seed), tasks=1, ways=ways, shots=shots, query=query))
    names = [dataset.class_names[int(dataset.labels[i])].replace("/", "_")
             for i in support[::shots]]                       # the class behind each label
    if len(set(names)) != len(names):
        raise ValueError(f"class names {names} collide after replacing '/' with '_'")
    if bad := [n for n in names if n in ("", ".", "..") or "\0" in n]:
        raise ValueError(f"class names {bad} of {dataset.name} cannot be folder names")
    created = not root.exists()
    staging = root / f".episode-{secrets.token_hex(6)}.tmp"
    parts = ("support", "query", "answers.json")
    moved = []
    try:
        staging.mkdir(parents=True)
        record = _write(staging, dataset, support, queries, names, shots=shots, query=query,
                        seed=seed)
        for part in parts:
            os.replace(staging / part, root / part)
            moved.append(root / part)
        staging.rmdir()
    except BaseException:
        for path in (staging, *moved):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()
        if created:
            shutil.rmtree(root, ignore_errors=True)      # made by this call: nothing else in it
        raise
    return record


def _write(root, dataset, support, queries, names, *, shots, query, seed):
    """The episode's files under ``root``; returns the ``answers.json`` dict."""
    for label, name in enumerate(names):
        folder = root / "support" / name
        folder.mkdir(parents=True)
        for k, i in enumerate(support[label * shots:(label + 1) * shots]):
            _png(dataset.images[i], folder / f"{k}.png")
    (root / "query").mkdir(parents=True)
    order = np.random.default_rng([seed, 1]).permutation(len(queries))
    width = len(str(len(order) - 1))
    answers = {}
    for j, position in enumerate(order):          # queries are grouped by label, Q per label
        file = f"{j:0{width}d}.png"
        _png(dataset.images[queries[position]], root / "query" / file)
        answers[file] = names[int(position) // query]
    record = {"kind": "engine-episode", "dataset": dataset.name, "split": dataset.split,
              "seed": seed, "ways": len(names), "shots": shots, "query": query,
              "answers": answers}
    _io.write_json(os.fspath(root / "answers.json"), record)
    return record
