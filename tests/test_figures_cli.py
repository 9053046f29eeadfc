"""``python -m theory.figures``: listing, bad input, and one valid PNG per figure."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli, snapshot
from theory.figures import REGISTRY, cli, tables


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "theory.figures", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_list_names_every_figure():
    proc = _run("--list")
    assert proc.returncode == 0
    listed = [line.split()[0] for line in proc.stdout.splitlines()]
    assert listed == list(REGISTRY)


@pytest.mark.parametrize("args, needle", [(["no_such_figure"], "no_such_figure"),
                                          (["--seed", "-1"], "-1")])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    proc = _run(*args)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_writes_a_valid_png_and_pdf_per_figure(tmp_path):
    out, data = tmp_path / "figs", tmp_path / "data"
    (tmp_path / "no-results").mkdir()
    proc = _run("--quick", "--out", str(out), "--data", str(data), "--results",
                str(tmp_path / "no-results"))
    assert proc.returncode == 0, proc.stderr
    for name in REGISTRY:
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as image:
            image.verify()
        with Image.open(png) as image:
            width, height = image.size
            assert width > 300 and height > 200
            assert len(np.unique(np.asarray(image.convert("L")))) > 16  # not a blank canvas
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        saved = json.loads((data / f"{name}.json").read_text())
        assert saved["figure"] == name and saved["quick"] is True and saved["seed"] == 0
    # a figure drawn alone carries the same data as in the full run (per-figure generator)
    alone, _ = cli.build("collapse", seed=0, quick=True)
    assert json.loads((data / "collapse.json").read_text())["data"] == json.loads(
        json.dumps(alone))


def test_out_takes_every_output_and_committed_results_stay_untouched(tmp_path):
    committed = snapshot(ROOT / "results", ROOT / "figures")
    proc = run_cli(["theory.figures", "--quick", "--out", tmp_path / "scratch", "gradient_ratio"],
                   cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == [
        "gradient_ratio.json", "gradient_ratio.pdf", "gradient_ratio.png"]
    assert json.loads((tmp_path / "scratch" / "gradient_ratio.json").read_text())["quick"]
    assert snapshot(ROOT / "results", ROOT / "figures") == committed


def test_quick_refuses_to_overwrite_full_budget_data(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    full = data / "gradient_ratio.json"
    full.write_text(json.dumps({"kind": "figure-data", "quick": False, "data": {}}))
    before = full.read_bytes()
    proc = run_cli(["theory.figures", "--quick", "--data", data, "--out", tmp_path / "img",
                    "gradient_ratio"])
    assert proc.returncode == 2 and str(full) in proc.stderr and "Traceback" not in proc.stderr
    assert full.read_bytes() == before and not (tmp_path / "img").exists()


def test_tables_read_the_checkout_results_from_any_directory(tmp_path):
    proc = run_cli(["theory.figures", "--out", tmp_path, "meta_optimizers"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ours = json.loads((tmp_path / "meta_optimizers.json").read_text())["data"]["ours"]
    expected = tables.compute_meta_optimizers()["ours"]
    assert ours == json.loads(json.dumps(expected))
    assert any(cell is not None for cell in ours.values())
