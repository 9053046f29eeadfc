"""Omniglot (Lake et al., 2015) read in place from its zips or extracted folders.

Sources under a root directory: every ``images_*.zip`` in it (``images_background_small1/2``,
or the full ``images_background`` / ``images_evaluation``) and every PNG below it (extracted
folders ``<root>/[images_xxx/]<Alphabet>/<characterNN>/<drawer>_<index>.png``). A PNG is
identified by its last three path parts: alphabet, character, file. Characters are
deduplicated by ``(alphabet, character)``: the first source (zips by name, then folders)
that holds a character supplies all its images. The two "background small" zips share Greek
and Latin byte for byte, so their union is 8 alphabets, 242 characters, 4,840 images.

Images: 105x105 black ink on white -> 28x28 grayscale by Pillow's antialiased Lanczos filter,
inverted so that ink = 1.0 and background = 0.0, float32 ``(1, 28, 28)``. Each of the four
rotations by 0/90/180/270 degrees (``numpy.rot90``, counter-clockwise) of a character is its
own class (Santoro et al., 2016; Finn et al., 2017).

Class split: the base characters (before rotation, so a character's four rotations stay in
one split) are shuffled by ``numpy.random.default_rng(seed)`` and cut into train / val /
test by ``FRACTIONS`` = 60% / 20% / 20% (rounded; test takes the rest). For the small set
that is 145 / 48 / 49 characters = 580 / 192 / 196 classes. The full set is split by the same
rule (974 / 325 / 324 characters); the often quoted "1200 characters for training" convention
of Vinyals et al. (2016) is a different cut and is not reproduced here.

Alphabet split (``by="alphabet"``): whole alphabets instead, so that the val and test
characters come from alphabets never seen in meta-training. The alphabets (sorted by name) are
shuffled by ``numpy.random.default_rng(seed)``; val takes ``round(f_val n)`` of them, test
``round(f_test n)`` (at least one each), train the rest, in that order: train first, then
val, then test. For the small set (n = 8 alphabets, 2 + 2 held out) seed 0 gives train =
Greek, Japanese (katakana), Korean, Sanskrit (153 characters = 612 classes), val = Balinese,
Latin (50 = 200) and test = Early Aramaic, Tagalog (39 = 156).

Decoded images are cached per process, and on disk under ``$THEORY_CACHE_DIR`` (default
``~/.cache/theory``; set it to ``off`` to disable) keyed by the sources' paths, sizes and
modification times, written atomically.
"""

import contextlib
import functools
import hashlib
import json
import os
import pathlib
import zipfile

import numpy as np

from ... import _io, _paths
from .base import SPLITS, Dataset
from .images import decode, to_float

__all__ = ["SIZE", "ROTATIONS", "FRACTIONS", "CACHE_VERSION", "EXPECTED", "default_root",
           "decoded", "split_characters", "split_alphabets", "load"]

SIZE = 28
ROTATIONS = 4
FRACTIONS = (0.6, 0.2, 0.2)
CACHE_VERSION = 1
EXPECTED = ("images_background_small1.zip and images_background_small2.zip (or the full "
            "images_background.zip / images_evaluation.zip, or extracted folders "
            "<Alphabet>/<characterNN>/*.png)")


def default_root():
    """``$THEORY_OMNIGLOT`` if set, else ``../shared/data/omniglot`` from the repository root."""
    env = os.environ.get("THEORY_OMNIGLOT")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(_paths.ROOT).resolve().parent / "shared" / "data" / "omniglot"


def _fingerprint(root):
    """Sources under ``root`` with ``(path, size, mtime_ns)``; FileNotFoundError if none."""
    root = pathlib.Path(root)
    if root.is_file() and root.suffix == ".zip":
        zips, pngs = [root], []
    elif root.is_dir():
        # a FIFO, device or socket among the files would block its reader: skipped
        zips = sorted(p for p in root.glob("images_*.zip") if p.is_dir() or _io.is_regular(p))
        pngs = sorted(p for p in root.rglob("*.png") if _io.is_regular(p))
    else:
        zips, pngs = [], []
    if not zips and not pngs:
        raise FileNotFoundError(f"no Omniglot data at {root}: expected {EXPECTED} in that "
                                "directory (set THEORY_OMNIGLOT or pass the path)")
    return tuple((os.fspath(p), st.st_size, st.st_mtime_ns)
                 for p in (*zips, *pngs) for st in [p.stat()])


def _members(fingerprint):
    """``{(alphabet, character): [(file name, (source, zip member or None))]}``.

    The first source (a zip, or a folder holding alphabets) that has a character wins it.
    """
    chars = {}
    claimed = {}
    for source, _, _ in fingerprint:
        if source.endswith(".zip"):
            try:
                with zipfile.ZipFile(source) as archive:
                    names = archive.namelist()
            except (zipfile.BadZipFile, OSError) as err:
                raise ValueError(f"cannot read Omniglot zip {source}: {err}") from None
            entries = [(name.split("/")[-3:], (source, name)) for name in names
                       if name.lower().endswith(".png") and name.count("/") >= 2]
            origin = source
        else:
            file = pathlib.Path(source)
            if len(file.parts) < 4:
                continue                             # no <alphabet>/<character>/ above it
            entries = [(list(file.parts[-3:]), (source, None))]
            origin = os.fspath(file.parents[2])      # the folder holding the alphabets
        for (alphabet, character, file), where in entries:
            key = (alphabet, character)
            if claimed.setdefault(key, origin) == origin:
                chars.setdefault(key, []).append((file, where))
    return chars


def _read(where, archives):
    source, member = where
    if member is None:
        return pathlib.Path(source).read_bytes(), source
    if source not in archives:
        archives[source] = zipfile.ZipFile(source)
    try:
        return archives[source].read(member), f"{source}:{member}"
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"cannot read image file {source}:{member}: {err}") from None


def _decode_all(fingerprint):
    """Decode every deduplicated image: ``(images uint8 (n, 28, 28), char_of_image, chars)``."""
    members = _members(fingerprint)
    if not members:
        raise FileNotFoundError(f"no Omniglot PNGs found in {fingerprint[0][0]}: expected "
                                f"{EXPECTED}")
    chars = sorted(members)
    images, owner = [], []
    archives = {}
    try:
        for k, key in enumerate(chars):
            for _, where in sorted(members[key]):
                data, name = _read(where, archives)
                images.append(decode(data, (SIZE, SIZE), channels=1, invert=True,
                                     source=name))
                owner.append(k)
    finally:
        for archive in archives.values():
            archive.close()
    return np.stack(images), np.array(owner, dtype=np.int64), chars


def _cache_dir():
    setting = os.environ.get("THEORY_CACHE_DIR", "")
    if setting.lower() in ("off", "0", "none", "false"):
        return None
    return pathlib.Path(setting) if setting else pathlib.Path.home() / ".cache" / "theory"


@functools.cache
def decoded(fingerprint):
    """Decoded images of the sources in ``fingerprint``, from memory, disk cache, or files.

    Returns ``(images, char_of_image, chars)``: uint8 ``(n, 28, 28)`` with ink = 255,
    int64 ``(n,)`` index into ``chars``, the sorted list of ``(alphabet, character)``.
    """
    key = hashlib.sha256(json.dumps([CACHE_VERSION, SIZE, fingerprint]).encode()).hexdigest()
    directory = _cache_dir()
    path = directory / f"omniglot-{key[:20]}.npz" if directory else None
    if path is not None and path.exists():
        # a damaged cache is rebuilt below
        with contextlib.suppress(OSError, ValueError, KeyError, zipfile.BadZipFile):
            with np.load(path, allow_pickle=False) as stored:
                chars = [tuple(pair) for pair in stored["chars"].tolist()]
                return stored["images"], stored["char_of_image"], chars
    images, owner, chars = _decode_all(fingerprint)
    if path is not None:
        # the cache is an optimisation; a read-only home must not fail a run
        with contextlib.suppress(OSError), _io.atomic_open(path, "wb") as handle:
            np.savez(handle, images=images, char_of_image=owner, chars=np.array(chars))
    return images, owner, chars


def split_characters(n_chars, seed, fractions=FRACTIONS):
    """Seeded split of character indices ``0..n_chars-1``: ``{"train", "val", "test"}``.

    The characters are shuffled by ``default_rng(seed)``; train takes the first
    ``round(f_train n)``, val the next ``round(f_val n)``, test the rest; each sorted.
    """
    _check_fractions(fractions)
    order = np.random.default_rng(seed).permutation(n_chars)
    n_train = int(round(fractions[0] * n_chars))
    n_val = int(round(fractions[1] * n_chars))
    cuts = np.split(order, [n_train, n_train + n_val])
    return {name: np.sort(part) for name, part in zip(SPLITS, cuts, strict=True)}


def _check_fractions(fractions):
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions={fractions!r} must be 3 numbers >= 0 summing to 1")


def split_alphabets(chars, seed, fractions=FRACTIONS):
    """Seeded split of whole alphabets: character indices ``{"train", "val", "test"}``.

    ``chars`` is the sorted list of ``(alphabet, character)``. The sorted alphabets are
    shuffled by ``default_rng(seed)``; train takes the first ``n - n_val - n_test``, val the
    next ``n_val = max(1, round(f_val n))``, test the last ``n_test = max(1, round(f_test n))``.
    ``ValueError`` if that leaves train without an alphabet (fewer than 3 alphabets).
    """
    _check_fractions(fractions)
    alphabets = sorted({alphabet for alphabet, _ in chars})
    n = len(alphabets)
    n_val, n_test = (max(1, int(round(f * n))) for f in fractions[1:])
    if n - n_val - n_test < 1:
        raise ValueError(f"the alphabet split needs at least 3 alphabets; the data has {n} "
                         f"({', '.join(alphabets)}); use split_by='character'")
    order = [alphabets[i] for i in np.random.default_rng(seed).permutation(n)]
    cuts = np.split(np.array(order), [n - n_val - n_test, n - n_test])
    return {name: np.array([k for k, (alphabet, _) in enumerate(chars) if alphabet in part],
                           dtype=np.int64)
            for name, part in zip(SPLITS, (set(c) for c in cuts), strict=True)}


@functools.cache
def _split(fingerprint, split, seed, fractions, by):
    images, owner, chars = decoded(fingerprint)
    members = (split_alphabets(chars, seed, fractions) if by == "alphabet"
               else split_characters(len(chars), seed, fractions))[split]
    if members.size == 0:
        raise ValueError(f"the {split} split of {len(chars)} Omniglot characters is empty "
                         f"with fractions={fractions}")
    local = np.full(len(chars), -1)
    local[members] = np.arange(members.size)
    keep = np.flatnonzero(local[owner] >= 0)
    base = images[keep]                                              # (m, 28, 28)
    rotated = np.stack([np.rot90(base, r, axes=(1, 2)) for r in range(ROTATIONS)], axis=1)
    labels = (ROTATIONS * local[owner[keep]])[:, None] + np.arange(ROTATIONS)
    names = tuple(f"{chars[c][0]}/{chars[c][1]}/rot{90 * r:03d}"
                  for c in members for r in range(ROTATIONS))
    return Dataset(to_float(rotated.reshape(-1, SIZE, SIZE), 1), labels.ravel(),
                   len(names), (1, SIZE, SIZE), "omniglot", split, names)


def load(path=None, split="train", seed=0, *, fractions=FRACTIONS, by="character"):
    """One split of Omniglot from ``path`` (default: ``default_root()``) as a ``Dataset``.

    ``path`` is a directory holding the zips and/or extracted folders, or one zip file.
    ``by`` is ``"character"`` (``split_characters``) or ``"alphabet"`` (``split_alphabets``).
    Labels: character ``j`` of the split (in sorted ``(alphabet, character)`` order) rotated by
    ``90 r`` degrees is class ``4 j + r``. Raises ``FileNotFoundError`` naming the expected
    layout when no data is found, ``ValueError`` naming a corrupt image file. ``split`` (one of
    ``SPLITS``), ``seed`` and ``by`` come checked from ``data.load``.
    """
    root = pathlib.Path(path) if path is not None else default_root()
    fractions = tuple(float(f) for f in fractions)
    return _split(_fingerprint(root), split, seed, fractions, by)
