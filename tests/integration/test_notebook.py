"""Every notebook runs top to bottom in a real Jupyter kernel, as a user would run it, and shows what it says.

Each runs in a temporary folder (what it writes stays out of the repository). With
``LENS_VDB_NOTEBOOK_OUT`` set, the executed notebooks are written there (``.ci/docs.sh`` renders them
into the site) and each one's wall and kernel CPU time is printed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


def run_notebook(name: str, workdir: Path):
    """Execute ``notebooks/<name>`` in a fresh kernel (this interpreter) with ``workdir`` as its folder."""
    nbformat = pytest.importorskip("nbformat", reason="the test extra installs nbclient, nbformat and ipykernel")
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}},
                            kernel_manager_kwargs={"kernel_cmd": [sys.executable, "-m", "ipykernel_launcher", "-f",
                                                                  "{connection_file}"]})
    start, cpu = time.perf_counter(), os.times()
    try:
        client.execute()
    finally:
        end = os.times()  # the kernel is a child process, ended by now: its CPU time is counted
        kernel_cpu = (end.children_user - cpu.children_user) + (end.children_system - cpu.children_system)
        print(f"{name}: {time.perf_counter() - start:.0f} s wall, {kernel_cpu:.0f} s kernel CPU")
        out = os.environ.get("LENS_VDB_NOTEBOOK_OUT")
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, Path(out) / name)
    return notebook


def outputs(notebook, kind: str = "stream", stream: str = "stdout") -> str:
    """All text of one kind the notebook showed: printed ``stdout``/``stderr``, or displayed markdown."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if kind == "stream" and output.get("output_type") == "stream" and output.get("name") == stream:
                parts.append(output.get("text", ""))
            elif kind != "stream" and kind in output.get("data", {}):
                parts.append(str(output["data"][kind]))
    return "\n".join(parts)


def images(notebook) -> int:
    """How many pictures (matplotlib figures) the notebook showed."""
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", []))


def check_clean(notebook) -> None:
    """No cell failed (nbclient raises on errors) and no ipywidgets/tqdm warning reached the reader."""
    errors = outputs(notebook, stream="stderr")
    assert "IProgress" not in errors and "ipywidgets" not in errors, errors


def test_quickstart_notebook_executes(tmp_path):
    notebook = run_notebook("quickstart.ipynb", tmp_path)
    check_clean(notebook)
    assert "ingested 60, skipped 0" in outputs(notebook)  # the ingest report was printed
    # the explanations are shown: tables of clusters with weights and tokens, for the document and the
    # query (8 rows each), and for each of the 3 hits the clusters it shares with the query (5 rows each)
    tables = [text for text in outputs(notebook, "text/markdown").split("\n**") if "| weight | tokens |" in text]
    rows = [[line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| ") and "weight" not in line]
            for table in tables]
    assert [len(r) for r in rows] == [8, 8, 5, 5, 5], tables
    for cluster, weight, tokens in (row for table in rows for row in table):
        assert int(cluster) >= 0 and float(weight) > 0 and tokens.strip(), (cluster, weight, tokens)
    assert (tmp_path / "notebook-data").is_dir()  # it wrote where it was run, not into the repo


def test_explain_notebook_executes(tmp_path):
    pytest.importorskip("matplotlib", reason="the notebooks' plots need matplotlib: pip install 'lens-vdb[docs]'")
    notebook = run_notebook("explain.ipynb", tmp_path)
    check_clean(notebook)
    printed = outputs(notebook)
    assert images(notebook) == 2, "the lift chart and the LENS-beside-BM25 chart"
    assert "BM25 score" in printed and "(not in the article)" in printed
    assert "rank of" in printed and "LENS" in printed


def test_export_notebook_executes(tmp_path):
    pytest.importorskip("matplotlib", reason="the notebooks' plots need matplotlib: pip install 'lens-vdb[docs]'")
    pytest.importorskip("onnxruntime", reason="the export notebook needs lens-vdb[onnx]")
    notebook = run_notebook("export.ipynb", tmp_path)
    check_clean(notebook)
    printed = outputs(notebook)
    assert '"quantize": "int8"' in printed and '"retrieval": null' in printed  # the manifest was shown
    assert "ORT int8" in printed and "min cosine to torch" in printed
    assert (tmp_path / "tiny-onnx-int8" / "manifest.json").is_file()
    assert images(notebook) == 1


def test_train_notebook_executes(tmp_path):
    pytest.importorskip("matplotlib", reason="the notebooks' plots need matplotlib: pip install 'lens-vdb[docs]'")
    notebook = run_notebook("train.ipynb", tmp_path)
    check_clean(notebook)
    printed = outputs(notebook)
    assert "paused at step 3" in printed and "finished at step 6" in printed  # the run resumed
    for system in ("BM25", "MiniLM", "LENS k-means head (untrained)", "LENS trained 6 steps"):
        assert system in printed
    assert (tmp_path / "run" / "model" / "lens_config.json").is_file()
    assert images(notebook) == 1
