"""Every notebook runs top to bottom (kernel python3) and is committed without outputs."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 900  # a hung kernel fails the test; how long a notebook takes is not checked


def test_the_five_walkthroughs_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "01_failure_mode.ipynb", "02_symbolic_meta_gradients.ipynb",
        "03_landscapes_and_trajectories.ipynb", "04_linnet_and_meta_optimizers.ipynb",
        "05_preconditioners.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_seeded_and_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert "SEED" in code[0].source and "default_rng(SEED)" in code[0].source
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert not any("def " in c.source or "class " in c.source for c in code)
    assert sum(c.cell_type == "markdown" for c in book.cells) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path):
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    images = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, "figures are shown inline"
