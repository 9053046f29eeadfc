"""Few-shot image benchmarks for the engine: loaders, the episode sampler, the 95% CI.

Convention: images float32 in [0, 1], ``(C, H, W)``; grayscale glyphs have ink = 1.0.

- ``load(name, path=None, *, split="train", seed=0, split_by="character") -> Dataset``: one
  split of a benchmark (``split_by="alphabet"``: Omniglot with whole alphabets held out).
- ``Dataset``: ``images`` (n, C, H, W), ``labels`` (n,), ``n_classes``, ``in_shape``,
  ``name``, ``split``, ``class_names``.
- ``NAMES``: the benchmark names ``load`` accepts.
- ``sample_tasks(dataset, rng, *, tasks, ways, shots, query=15) -> (x_s, y_s, x_q, y_q)``.
- ``mean_ci95(accs) -> (mean, half_width)``: normal 95% interval, sample sd (ddof=1).
- ``load_image_folder(path, in_shape) -> ImageFolder(images, class_names, files)``.
- modules: ``synthetic`` (procedural glyphs), ``omniglot``, ``cifarfs``, ``miniimagenet``,
  ``episodes``, ``images``, ``base``.
"""

from ... import _check
from .base import SPLIT_BY, SPLITS, Dataset, canonical_split
from .episodes import mean_ci95, sample_tasks
from .images import ImageFolder, load_image_folder

NAMES = ("synthetic", "omniglot", "cifarfs", "mini-imagenet")


def load(name, path=None, *, split="train", seed=0, split_by="character"):
    """One split (``"train"``, ``"val"``/``"validation"``, ``"test"``) of benchmark ``name``.

    ``synthetic`` is generated from ``seed`` (``path`` must be None); ``omniglot`` reads
    ``path`` (default ``$THEORY_OMNIGLOT`` or ``../shared/data/omniglot`` from the repository
    root) and splits its characters with ``seed``; ``cifarfs`` and ``mini-imagenet`` read
    ``path`` (required) and use their published fixed class splits (``seed`` unused).
    ``split_by`` is ``"character"`` (every benchmark: its own class split) or ``"alphabet"``
    (Omniglot only: whole alphabets held out for val and test, ``omniglot.split_alphabets``).
    Missing files raise ``FileNotFoundError`` naming the expected layout. The arguments are
    checked here; the loaders of the modules trust them.
    """
    from . import cifarfs, miniimagenet, omniglot, synthetic

    _check.choice("split_by", split_by, SPLIT_BY)
    if split_by != "character" and name != "omniglot":
        raise ValueError(f"split_by={split_by!r} applies to omniglot only, not {name!r} "
                         "(valid: 'character')")
    _check.choice("dataset name", name, NAMES)
    split = canonical_split(split)
    if name == "synthetic":
        if path is not None:
            raise ValueError(f"the synthetic benchmark is generated, it reads no path "
                             f"(got path={path!r}); use path=None")
        return synthetic.load(split, _check.integer("seed", seed, 0))
    if name == "omniglot":
        return omniglot.load(path, split, _check.integer("seed", seed, 0), by=split_by)
    if name == "cifarfs":
        return cifarfs.load(path, split)
    return miniimagenet.load(path, split)


def locate(name, path=None):
    """Check that benchmark ``name``'s files are where ``path`` says, without reading them:
    what ``load`` would find missing raises the same ``FileNotFoundError`` (or ``ValueError``)
    here, in a moment. ``synthetic`` reads no files (``path`` must be None)."""
    from . import cifarfs, miniimagenet, omniglot

    _check.choice("dataset name", name, NAMES)
    if name == "synthetic":
        if path is not None:
            raise ValueError(f"the synthetic benchmark is generated, it reads no path "
                             f"(got path={path!r}); use path=None")
    elif name == "omniglot":
        omniglot._fingerprint(path if path is not None else omniglot.default_root())
    elif name == "cifarfs":
        cifarfs._folder(path)
    else:
        for split in SPLITS:
            miniimagenet._file(path, split)


__all__ = ["NAMES", "SPLITS", "SPLIT_BY", "Dataset", "ImageFolder", "load", "load_image_folder",
           "locate", "mean_ci95", "sample_tasks"]
