"""theory.engine.data.omniglot: the real small set, the full-set layouts, split and rotations."""

import os
import pathlib
import zipfile

import numpy as np
import pytest

from conftest import SCRIPTS, write_zip
from theory.engine import data
from theory.engine.data import omniglot

REAL = omniglot.default_root()
needs_real = pytest.mark.skipif(
    not (REAL / "images_background_small1.zip").is_file(),
    reason=f"real Omniglot zips not found at {REAL} (set THEORY_OMNIGLOT)")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Keep the on-disk cache out of the user's home during tests."""
    monkeypatch.setenv("THEORY_CACHE_DIR", os.fspath(tmp_path_factory.getbasetemp() / "cache"))


# alphabet -> number of characters, 3 drawings each
FULL = {"images_background": {"Alpha": 3, "Beta": 2}, "images_evaluation": {"Gamma": 3}}


@pytest.fixture
def full_zips(tmp_path):
    for top, alphabets in FULL.items():
        write_zip(tmp_path / f"{top}.zip", top, alphabets)
    return tmp_path


def test_full_layout_zips_and_folders_read_alike(full_zips, tmp_path_factory):
    images, owner, chars = omniglot.decoded(omniglot._fingerprint(full_zips))
    assert len(chars) == 8 and images.shape == (24, 28, 28) and np.all(np.bincount(owner) == 3)
    assert {a for a, _ in chars} == {"Alpha", "Beta", "Gamma"}
    folder = tmp_path_factory.mktemp("extracted")
    for file in sorted(full_zips.glob("*.zip")):
        zipfile.ZipFile(file).extractall(folder)
    f_images, f_owner, f_chars = omniglot.decoded(omniglot._fingerprint(folder))
    assert f_chars == chars and np.array_equal(f_owner, owner)
    assert np.array_equal(f_images, images)
    # a folder holding <Alphabet>/characterNN directly works too
    inner = omniglot.decoded(omniglot._fingerprint(folder / "images_evaluation"))
    assert inner[2] == [("Gamma", f"character{c:02d}") for c in (1, 2, 3)]


def test_ink_is_one_and_resizing_is_antialiased(full_zips):
    images, _, _ = omniglot.decoded(omniglot._fingerprint(full_zips))
    d = data.load("omniglot", full_zips, split="train")
    assert d.images.dtype == np.float32 and d.in_shape == (1, 28, 28)
    assert 0.0 <= d.images.min() and d.images.max() <= 1.0
    # mostly white paper -> mostly 0; an ink row -> a band near 1; antialiasing -> grey levels
    assert np.median(images) < 40 and images.max() > 200
    assert len(np.unique(images)) > 10


def test_image_folder_reads_omniglot_pngs_like_the_loader(full_zips, tmp_path_factory):
    folder = tmp_path_factory.mktemp("support")
    with zipfile.ZipFile(full_zips / "images_evaluation.zip") as archive:
        archive.extractall(folder)
    support = folder / "images_evaluation" / "Gamma"
    got = data.load_image_folder(support, (1, 28, 28))
    assert got.class_names == ("character01", "character02", "character03")
    images, owner, chars = omniglot.decoded(omniglot._fingerprint(full_zips))
    gamma = [k for k, (a, _) in enumerate(chars) if a == "Gamma"]
    expected = images[np.isin(owner, gamma)].astype(np.float32) / 255
    assert np.allclose(got.images[:, 0], expected, atol=1e-6)


def test_duplicate_characters_are_counted_once(tmp_path):
    write_zip(tmp_path / "images_background_small1.zip", "images_background_small1",
               {"Greek": 2, "Korean": 1})
    write_zip(tmp_path / "images_background_small2.zip", "images_background_small2",
               {"Greek": 2, "Tagalog": 3})
    images, owner, chars = omniglot.decoded(omniglot._fingerprint(tmp_path))
    assert len(chars) == 6 and images.shape[0] == 18


def test_split_is_disjoint_covering_and_seeded(full_zips):
    n = len(omniglot.decoded(omniglot._fingerprint(full_zips))[2])
    bases = {}
    for seed in (0, 1):
        parts = [data.load("omniglot", full_zips, split=s, seed=seed) for s in data.SPLITS]
        sets = [{name.rsplit("/", 1)[0] for name in p.class_names} for p in parts]
        assert sum(len(s) for s in sets) == n == len(set().union(*sets))
        assert [len(s) for s in sets] == [5, 2, 1]     # round(0.6*8), round(0.2*8), rest
        bases[seed] = sets
    assert bases[0] != bases[1]
    again = [{n.rsplit("/", 1)[0] for n in data.load("omniglot", full_zips, split=s).class_names}
             for s in data.SPLITS]
    assert again == bases[0]


def test_split_characters_proportions():
    split = omniglot.split_characters(242, seed=0)
    assert [split[s].size for s in data.SPLITS] == [145, 48, 49]
    assert np.array_equal(np.sort(np.concatenate(list(split.values()))), np.arange(242))
    with pytest.raises(ValueError, match="fractions"):
        omniglot.split_characters(10, 0, fractions=(0.5, 0.6, -0.1))


def test_rotations_are_exact_and_stay_in_one_split(full_zips):
    d = data.load("omniglot", full_zips, split="train", seed=2)
    assert d.n_classes % 4 == 0 and np.all(d.counts == 3)
    for j in range(d.n_classes // 4):
        base = d.class_images(4 * j)
        names = d.class_names[4 * j:4 * j + 4]
        assert len({n.rsplit("/", 1)[0] for n in names}) == 1
        assert [n.rsplit("/", 1)[1] for n in names] == ["rot000", "rot090", "rot180", "rot270"]
        for r in range(1, 4):
            assert np.array_equal(d.class_images(4 * j + r), np.rot90(base, r, axes=(2, 3)))
        assert not np.array_equal(d.class_images(4 * j + 1), base)


def test_disk_cache_is_reused(full_zips, tmp_path, monkeypatch):
    monkeypatch.setenv("THEORY_CACHE_DIR", os.fspath(tmp_path / "c"))
    fingerprint = omniglot._fingerprint(full_zips)
    omniglot.decoded.cache_clear()
    first = omniglot.decoded(fingerprint)
    assert len(list((tmp_path / "c").glob("omniglot-*.npz"))) == 1
    omniglot.decoded.cache_clear()

    def no_decoding(_):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(omniglot, "_decode_all", no_decoding)
    second = omniglot.decoded(fingerprint)
    assert np.array_equal(first[0], second[0]) and first[2] == second[2]
    # touching a source changes the key, so the stale cache is not used
    zip_file = next(full_zips.glob("*.zip"))
    os.utime(zip_file, ns=(1, 1))
    with pytest.raises(AssertionError, match="decoded again"):
        omniglot.decoded(omniglot._fingerprint(full_zips))


def test_missing_data_names_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="images_background_small1.zip and "
                                                "images_background_small2.zip"):
        data.load("omniglot", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        data.load("omniglot", tmp_path)


def test_env_var_sets_the_default_root(full_zips, monkeypatch):
    monkeypatch.setenv("THEORY_OMNIGLOT", os.fspath(full_zips))
    assert omniglot.default_root() == pathlib.Path(full_zips)
    assert data.load("omniglot", split="test").n_classes == 4


def test_corrupt_image_names_the_file(tmp_path):
    bad = "images_background/Alpha/character02/1002_03.png"
    write_zip(tmp_path / "images_background.zip", "images_background", {"Alpha": 3},
               corrupt=bad)
    with pytest.raises(ValueError, match=f"cannot read image file .*images_background.zip:{bad}"):
        data.load("omniglot", tmp_path)
    (tmp_path / "images_background.zip").write_bytes(b"PK-not-really")
    with pytest.raises(ValueError, match="cannot read Omniglot zip .*images_background.zip"):
        data.load("omniglot", tmp_path)


@needs_real
def test_real_small_omniglot_counts():
    images, owner, chars = omniglot.decoded(omniglot._fingerprint(REAL))
    assert len({a for a, _ in chars}) == 8
    assert len(chars) == 242 and images.shape == (4840, 28, 28)
    assert np.all(np.bincount(owner) == 20)
    parts = [data.load("omniglot", split=s) for s in data.SPLITS]
    assert [p.n_classes for p in parts] == [580, 192, 196]
    assert sum(p.n_classes for p in parts) == 968 and sum(len(p) for p in parts) == 4 * 4840
    # ink = 1: strokes are a minority of pixels
    assert 0.02 < parts[0].images.mean() < 0.25


@needs_real
def test_real_greek_and_latin_are_identical_in_both_zips():
    crcs = []
    for n in (1, 2):
        with zipfile.ZipFile(REAL / f"images_background_small{n}.zip") as archive:
            crcs.append({tuple(i.filename.split("/")[1:]): i.CRC for i in archive.infolist()
                         if i.filename.endswith(".png")
                         and i.filename.split("/")[1] in ("Greek", "Latin")})
    assert crcs[0] and crcs[0] == crcs[1]


# 8 alphabets of 1-3 characters, 3 drawings each
def test_alphabet_split_holds_out_whole_alphabets_seeded(tmp_path):
    write_zip(tmp_path / "images_background.zip", "images_background", SCRIPTS)
    draws = {}
    for seed in (0, 1, 2):
        parts = [data.load("omniglot", tmp_path, split=s, seed=seed, split_by="alphabet")
                 for s in data.SPLITS]
        sets = [{name.split("/")[0] for name in p.class_names} for p in parts]
        assert [len(s) for s in sets] == [4, 2, 2]       # 8 - 2 - 2, round(0.2*8), round(0.2*8)
        assert set().union(*sets) == set(SCRIPTS) and sum(len(s) for s in sets) == 8
        # every character of an alphabet is in the alphabet's split, with its 4 rotations
        assert [p.n_classes for p in parts] == [4 * sum(SCRIPTS[a] for a in s) for s in sets]
        draws[seed] = sets
    assert draws[0] != draws[1] or draws[0] != draws[2]
    assert [{n.split("/")[0] for n in data.load("omniglot", tmp_path, split=s,
                                                split_by="alphabet").class_names}
            for s in data.SPLITS] == draws[0]
    # the default is the character split, unchanged
    assert data.load("omniglot", tmp_path, split="test").class_names == data.load(
        "omniglot", tmp_path, split="test", split_by="character").class_names


def test_alphabet_split_needs_three_alphabets_and_omniglot(tmp_path):
    write_zip(tmp_path / "images_background.zip", "images_background", {"A": 2, "B": 2})
    with pytest.raises(ValueError, match="at least 3 alphabets; the data has 2 .A, B."):
        data.load("omniglot", tmp_path, split_by="alphabet")
    with pytest.raises(ValueError, match="split_by must be 'character' or 'alphabet', got 'font'"):
        data.load("omniglot", tmp_path, split_by="font")
    with pytest.raises(ValueError, match="applies to omniglot only, not 'synthetic'"):
        data.load("synthetic", split_by="alphabet")


@needs_real
def test_real_alphabet_split_is_the_documented_one():
    parts = {s: data.load("omniglot", split=s, split_by="alphabet") for s in data.SPLITS}
    alphabets = {s: sorted({n.split("/")[0] for n in p.class_names}) for s, p in parts.items()}
    assert alphabets == {"train": ["Greek", "Japanese_(katakana)", "Korean", "Sanskrit"],
                         "val": ["Balinese", "Latin"], "test": ["Early_Aramaic", "Tagalog"]}
    assert [parts[s].n_classes for s in data.SPLITS] == [612, 200, 156]
