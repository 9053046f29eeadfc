"""Decode, resize and convert image files into the engine's arrays; read a folder of images.

Conventions: float32 in [0, 1], ``(C, H, W)``. Grayscale inputs (``C = 1``) are glyphs and
use ink = 1.0, background = 0.0, so a dark-on-light drawing is inverted (Omniglot's PNGs are
black ink on white). RGB inputs (``C = 3``) keep their colours (``value / 255``). Resizing
is Pillow's antialiased Lanczos filter; the result is clipped to [0, 1] because Lanczos
overshoots at sharp edges.
"""

import collections
import io
import os
import pathlib
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["IMAGE_SUFFIXES", "decode", "to_float", "ImageFolder", "image_folder_files",
           "load_image_folder"]

MAX_PIXELS = 8192 * 8192    # decoded before resizing: 64 Mi pixels are 192 MiB in RGB
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")


def decode(data, size, *, channels, invert, source):
    """Decode image bytes into a uint8 ``(H, W)`` or ``(H, W, 3)`` array of size ``size``.

    ``size`` is ``(H, W)``; ``channels`` is 1 (grayscale) or 3 (RGB); ``invert`` maps
    ``v -> 255 - v`` (dark ink on light paper -> ink = 255). ``source`` names the file in
    the ``ValueError`` raised for unreadable data, or for an image larger than ``MAX_PIXELS``
    (checked from its header, before any pixel is decoded).
    """
    try:
        with warnings.catch_warnings():
            # the size is checked below, against a smaller limit than Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        with image:
            if image.size[0] * image.size[1] > MAX_PIXELS:
                raise ValueError(f"its header claims {image.size[0]} x {image.size[1]} pixels, "
                                 f"more than the {MAX_PIXELS} an image may have here; shrink it")
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.Resampling.LANCZOS)
            array = np.asarray(image, dtype=np.uint8)
    except UnidentifiedImageError:
        # Pillow's own message names the in-memory buffer, not the file
        raise ValueError(f"cannot read image file {source}: not an image format Pillow "
                         "recognises (empty, damaged or not an image)") from None
    except Image.DecompressionBombError:
        raise ValueError(f"cannot read image file {source}: its header claims more than "
                         f"{MAX_PIXELS} pixels; shrink it") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"cannot read image file {source}: {err}") from None
    return 255 - array if invert else array


def to_float(array_uint8, channels):
    """uint8 ``(n, H, W)`` or ``(n, H, W, 3)`` -> float32 ``(n, C, H, W)`` in [0, 1]."""
    array = np.asarray(array_uint8)
    array = array[:, None] if channels == 1 else array.transpose(0, 3, 1, 2)
    return np.multiply(array, np.float32(1 / 255), dtype=np.float32)


def _check_in_shape(in_shape):
    try:
        channels, height, width = (int(s) for s in in_shape)
    except (TypeError, ValueError):
        raise ValueError(f"in_shape={in_shape!r} must be (C, H, W) with C in {{1, 3}}") \
            from None
    if channels not in (1, 3) or height < 1 or width < 1:
        raise ValueError(f"in_shape={tuple(in_shape)!r} must be (C, H, W) with C in {{1, 3}} "
                         "and H, W >= 1")
    return channels, height, width


def _image_files(folder):
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_SUFFIXES)


def _is_light_background(array):
    """True when most of the border is light: a dark drawing on paper, to be inverted."""
    border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])
    return float(np.median(border)) > 127


class ImageFolder(collections.namedtuple("ImageFolder", "images class_names files")):
    """Images read by ``load_image_folder``.

    ``images`` float32 ``(n, C, H, W)``; ``class_names`` the sorted sub-folder names (empty
    for a flat folder); ``files`` the ``n`` image paths in the order of ``images``.
    ``labels`` (property) is the int64 class index of each image (``None`` for a flat folder).
    """

    __slots__ = ()

    @property
    def labels(self):
        if not self.class_names:
            return None
        index = {name: k for k, name in enumerate(self.class_names)}
        return np.array([index[pathlib.Path(f).parent.name] for f in self.files],
                        dtype=np.int64)


def image_folder_files(path):
    """``(class_names, files)`` of an image folder as ``load_image_folder`` reads it, without
    reading an image: what sizes the work on it is known before it is decoded. Raises as
    ``load_image_folder`` does for a missing, empty or malformed folder."""
    folder = pathlib.Path(path)
    if folder.is_file():
        raise ValueError(f"image folder {folder} is a file; expected a folder of images or "
                         "of class sub-folders")
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist; expected either "
                                f"{folder}/<class>/<image files> or {folder}/<image files>")
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        files = _image_files(folder)
        if not files:
            raise ValueError(f"image folder {folder} holds no image files and no class "
                             f"sub-folders (image suffixes: {', '.join(IMAGE_SUFFIXES)})")
        return (), files
    files = []
    for sub in subdirs:
        found = _image_files(sub)
        if not found:
            raise ValueError(f"class folder {sub} holds no image files "
                             f"({', '.join(IMAGE_SUFFIXES)})")
        files.extend(found)
    return tuple(p.name for p in subdirs), files


def load_image_folder(path, in_shape):
    """Read a folder of images into the engine's convention for a model with ``in_shape``.

    Two layouts: a folder of class sub-folders (``path/<class>/<image>``, classes sorted by
    name, images sorted by file name; e.g. an ``adapt`` support set) or a flat folder of
    images (e.g. an ``adapt`` query set). Images are converted to grayscale or RGB to match
    ``in_shape = (C, H, W)`` and resized to ``H x W``. For ``C = 1`` an image whose border is
    mostly light is inverted so that ink = 1.0 as in Omniglot and the synthetic glyphs.

    Returns ``ImageFolder(images, class_names, files)`` (unpacks as a 3-tuple; ``.labels``).
    Raises ``FileNotFoundError`` for a missing folder, ``ValueError`` for a file given as the
    folder, an empty folder, a class folder without images, or an unreadable image (naming
    the file).
    """
    channels, height, width = _check_in_shape(in_shape)
    class_names, files = image_folder_files(path)
    arrays = []
    for file in files:
        array = decode(file.read_bytes(), (height, width), channels=channels, invert=False,
                       source=file)
        if channels == 1 and _is_light_background(array):
            array = 255 - array
        arrays.append(array)
    images = to_float(np.stack(arrays), channels)
    return ImageFolder(images, class_names, [os.fspath(f) for f in files])
