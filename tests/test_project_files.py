"""The files a user or a citation manager reads first: licence, citation, the paper's link."""

import configparser
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAPER = "When MAML Can Adapt Fast and How to Assist When It Cannot"


def test_the_licence_file_is_the_licence_setup_cfg_declares():
    declared = configparser.ConfigParser()
    declared.read(ROOT / "setup.cfg")
    assert declared["metadata"]["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_citation_file_cites_the_paper_and_this_software():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    declared = configparser.ConfigParser()
    declared.read(ROOT / "setup.cfg")
    assert cff["version"] == declared["metadata"]["version"] and cff["license"] == "MIT"
    paper = cff["preferred-citation"]
    assert paper["title"] == PAPER and paper["year"] == 2021
    assert [a["family-names"] for a in paper["authors"]] == ["Arnold", "Iqbal", "Sha"]


def test_readme_links_the_paper_where_it_names_it():
    yaml = pytest.importorskip("yaml")
    url = yaml.safe_load((ROOT / "CITATION.cff").read_text())["preferred-citation"]["url"]
    head = (ROOT / "README.md").read_text().splitlines()[:5]
    assert any(PAPER in line for line in head) and any(url in line for line in head)
