"""The quickstart notebook runs top to bottom in a real Jupyter kernel, as a user would run it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_executes(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="the test extra installs nbclient, nbformat and ipykernel")
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # the kernel is this interpreter, so the notebook sees the same lens-vdb install as the tests
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                            kernel_manager_kwargs={"kernel_cmd": [sys.executable, "-m", "ipykernel_launcher", "-f",
                                                                  "{connection_file}"]})
    client.execute()
    outputs = ["".join(o.get("text", "") for o in cell.get("outputs", [])) for cell in notebook.cells
               if cell.cell_type == "code"]
    assert all(not any(o.get("output_type") == "error" for o in cell.get("outputs", []))
               for cell in notebook.cells if cell.cell_type == "code")
    assert any("ingested 60, skipped 0" in text for text in outputs), outputs  # the ingest report was printed
    assert (tmp_path / "notebook-data").is_dir()  # it wrote where it was run, not into the repo
