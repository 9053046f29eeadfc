"""theory.engine.data: CIFAR-FS and mini-ImageNet loaders and image folders, on fixture files."""

import os
import pickle

import numpy as np
import pytest
from PIL import Image

from theory.engine import data
from theory.engine.data import cifarfs, load_image_folder


# ---- CIFAR-FS -----------------------------------------------------------------------------

def _cifar_rows(fine, start):
    """CIFAR rows: R plane = class id, G plane = image number (base 256), B = pixel index % 256."""
    rows = np.empty((len(fine), 3, 1024), np.uint8)
    rows[:, 0] = np.asarray(fine)[:, None]
    number = start + np.arange(len(fine))
    rows[:, 1] = (number % 256)[:, None]
    rows[:, 1, 0] = number // 256
    rows[:, 2] = np.arange(1024) % 256
    return rows.reshape(len(fine), 3072)


@pytest.fixture
def cifar(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = list(cifarfs.CIFAR100_CLASSES)
    rng.shuffle(names)                      # the loader must map by name, not by position
    fine_train = np.repeat(np.arange(100), 2)[rng.permutation(200)]
    fine_test = np.arange(100)
    parts = {"train": fine_train, "test": fine_test}
    for part, fine in parts.items():
        table = {b"data": _cifar_rows(fine, 0 if part == "train" else 200),
                 b"fine_labels": fine.tolist(), b"coarse_labels": (fine // 5).tolist()}
        (folder / part).write_bytes(pickle.dumps(table))
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": [n.encode() for n in names]}))
    return tmp_path, names


def test_cifarfs_split_lists_are_the_64_16_20_partition_of_cifar100():
    lists = [cifarfs.TRAIN_CLASSES, cifarfs.VAL_CLASSES, cifarfs.TEST_CLASSES]
    assert [len(c) for c in lists] == [64, 16, 20]
    assert sorted(sum(map(list, lists), [])) == sorted(cifarfs.CIFAR100_CLASSES)
    assert len(set(cifarfs.CIFAR100_CLASSES)) == 100


@pytest.mark.parametrize("split, n", [("train", 64), ("val", 16), ("test", 20)])
def test_cifarfs_reads_the_split_classes(cifar, split, n):
    root, names = cifar
    d = data.load("cifarfs", root, split=split)
    assert d.in_shape == (3, 32, 32) and d.images.dtype == np.float32
    assert d.n_classes == n and len(d) == 3 * n and np.all(d.counts == 3)
    assert d.class_names == tuple(sorted(cifarfs.SPLIT_CLASSES[split]))
    pixels = np.rint(d.images * 255).astype(int)
    # the red plane carries the CIFAR fine label: it must be the class named by the label
    fine = pixels[:, 0, 0, 0]
    assert [names[f] for f in fine] == [d.class_names[k] for k in d.labels]
    assert np.all(pixels[:, 0] == fine[:, None, None])
    # row-major 32x32 planes, channel-major rows
    assert np.all(pixels[:, 2].reshape(-1, 1024) == np.arange(1024) % 256)
    # 2 train + 1 test image per class, each once
    numbers = 256 * pixels[:, 1, 0, 0] + pixels[:, 1, 0, 1]
    assert np.unique(numbers).size == len(d)


def test_cifarfs_accepts_the_inner_folder(cifar):
    root, _ = cifar
    a = data.load("cifarfs", root / "cifar-100-python", split="test")
    assert a.n_classes == 20


def test_cifarfs_missing_and_bad_files(cifar, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(FileNotFoundError, match="cifar-100-python/train, cifar-100-python/"
                                                "test and cifar-100-python/meta"):
        data.load("cifarfs", empty)
    with pytest.raises(FileNotFoundError, match="pass --data PATH"):
        data.load("cifarfs")
    root, _ = cifar
    (root / "cifar-100-python" / "test").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read CIFAR-100 pickle .*test"):
        data.load("cifarfs", root, split="val")


def test_cifarfs_rejects_foreign_class_names(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for part in ("train", "test"):
        (folder / part).write_bytes(pickle.dumps({b"data": _cifar_rows([0, 1], 0),
                                                  b"fine_labels": [0, 1]}))
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": [b"cat", b"dog"]}))
    with pytest.raises(ValueError, match="lacks the CIFAR-FS test classes"):
        data.load("cifarfs", tmp_path, split="test")


# ---- mini-ImageNet ------------------------------------------------------------------------

CLASSES = {"train": ["n03", "n01", "n02", "n05"], "val": ["n10", "n11"],
           "test": ["n20", "n22", "n21"]}


@pytest.fixture
def mini(tmp_path):
    rng = np.random.default_rng(1)
    for split, names in CLASSES.items():
        n = 3 * len(names)
        image_data = np.zeros((n, 84, 84, 3), np.uint8)
        image_data[..., 0] = np.arange(n)[:, None, None]
        image_data[..., 1] = 100
        image_data[..., 2] = 200
        perm = rng.permutation(n)
        class_dict = {name: perm[3 * k:3 * k + 3].tolist() for k, name in enumerate(names)}
        with open(tmp_path / f"mini-imagenet-cache-{split}.pkl", "wb") as handle:
            pickle.dump({"image_data": image_data, "class_dict": class_dict}, handle)
    return tmp_path


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_mini_imagenet_reads_each_file_as_its_split(mini, split):
    d = data.load("mini-imagenet", mini, split=split)
    assert d.in_shape == (3, 84, 84) and d.images.dtype == np.float32
    assert d.class_names == tuple(sorted(CLASSES[split])) and np.all(d.counts == 3)
    pixels = np.rint(d.images * 255).astype(int)
    assert np.all(pixels[:, 1] == 100) and np.all(pixels[:, 2] == 200)
    with open(mini / f"mini-imagenet-cache-{split}.pkl", "rb") as handle:
        class_dict = pickle.load(handle)["class_dict"]
    for k, name in enumerate(d.class_names):
        assert sorted(pixels[d.labels == k, 0, 0, 0].tolist()) == sorted(class_dict[name])


def test_mini_imagenet_missing_and_bad_files(mini, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(FileNotFoundError, match="mini-imagenet-cache-train.pkl, "
                                                "mini-imagenet-cache-val.pkl and "
                                                "mini-imagenet-cache-test.pkl"):
        data.load("mini-imagenet", empty)
    with pytest.raises(FileNotFoundError, match="pass --data PATH"):
        data.load("mini-imagenet")
    (mini / "mini-imagenet-cache-val.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="cannot read mini-ImageNet pickle .*cache-val.pkl"):
        data.load("mini-imagenet", mini, split="val")
    with open(mini / "mini-imagenet-cache-test.pkl", "wb") as handle:
        pickle.dump({"images": np.zeros((2, 84, 84, 3), np.uint8)}, handle)
    with pytest.raises(ValueError, match="'image_data'"):
        data.load("mini-imagenet", mini, split="test")
    with open(mini / "mini-imagenet-cache-test.pkl", "wb") as handle:
        pickle.dump({"image_data": np.zeros((2, 84, 84, 3), np.uint8),
                     "class_dict": {"a": [0, 5]}}, handle)
    with pytest.raises(ValueError, match=r"indices outside 0\.\.1"):
        data.load("mini-imagenet", mini, split="test")


# ---- image folders ------------------------------------------------------------------------

def _drawing(path, value, size=(60, 50), mode="L", dark_on_light=True):
    """A drawing: a filled square of intensity ``value`` on the opposite background."""
    paper = np.full((size[1], size[0]), 255 if dark_on_light else 0, np.uint8)
    paper[10:30, 10:30] = value
    image = Image.fromarray(paper)
    image.convert(mode).save(path)


def test_class_folders_give_sorted_classes_labels_and_ink(tmp_path):
    for name, n in (("b_cls", 2), ("a_cls", 3)):
        (tmp_path / name).mkdir()
        for i in range(n):
            _drawing(tmp_path / name / f"{i}.png", 0)
    (tmp_path / "a_cls" / "notes.txt").write_text("ignored: not an image suffix")
    folder = load_image_folder(tmp_path, (1, 28, 28))
    images, class_names, files = folder
    assert class_names == ("a_cls", "b_cls") and images.shape == (5, 1, 28, 28)
    assert folder.labels.tolist() == [0, 0, 0, 1, 1]
    assert [os.path.basename(os.path.dirname(f)) for f in files] == ["a_cls"] * 3 + ["b_cls"] * 2
    # dark square on white paper -> ink 1 inside, 0 at the border
    assert images.dtype == np.float32 and images[:, 0, 0, 0].max() < 0.05
    assert images[:, 0, 8, 8].min() > 0.95


def test_flat_folder_rgb_and_light_on_dark(tmp_path):
    _drawing(tmp_path / "q1.png", 255, dark_on_light=False)
    _drawing(tmp_path / "q0.jpg", 255, mode="RGB", dark_on_light=False)
    gray = load_image_folder(tmp_path, (1, 28, 28))
    assert gray.class_names == () and gray.labels is None
    assert [os.path.basename(f) for f in gray.files] == ["q0.jpg", "q1.png"]
    assert gray.images[:, 0, 8, 8].min() > 0.9 and gray.images[:, 0, 0, 0].max() < 0.1
    rgb = load_image_folder(tmp_path, (3, 32, 32))
    assert rgb.images.shape == (2, 3, 32, 32)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "nope", (1, 28, 28))
    with pytest.raises(ValueError, match="holds no image files and no class sub-folders"):
        load_image_folder(tmp_path, (1, 28, 28))
    (tmp_path / "cls").mkdir()
    with pytest.raises(ValueError, match="class folder .*cls holds no image files"):
        load_image_folder(tmp_path, (1, 28, 28))
    (tmp_path / "cls" / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="cannot read image file .*broken.png"):
        load_image_folder(tmp_path, (1, 28, 28))
    with pytest.raises(ValueError, match=r"in_shape=\(2, 28, 28\)"):
        load_image_folder(tmp_path, (2, 28, 28))
