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



def markdown_tables(notebook, header: str) -> list[list[list[str]]]:
    """Every displayed markdown table whose header row starts with ``| header |``, as rows of stripped cells
    (the header and the ``|---|`` rule left out)."""
    tables = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = str(output.get("data", {}).get("text/markdown", ""))
            if text.startswith(f"| {header} |"):
                lines = [line for line in text.splitlines()[2:] if line.startswith("|")]
                tables.append([[c.strip() for c in line.split("|")[1:-1]] for line in lines])
    return tables


def check_scores(rows: list[list[str]], names: list[str]) -> None:
    """One row per retriever, in order; hit rates and MRR are fractions that nest (hit@1 <= MRR@4 <= hit@4),
    and every row finds the right article in its top 4 for most questions (a random ranking of 50 articles
    would for 8%)."""
    assert [row[0] for row in rows] == names, rows
    for name, *values in rows:
        hit1, hit4, mrr = (float(value) for value in values)
        assert 0 <= hit1 <= mrr <= hit4 <= 1, (name, values)
        assert hit4 >= 0.5, (name, values)


def test_langchain_notebook_executes(tmp_path):
    import re

    pytest.importorskip("matplotlib", reason="the notebooks' plots need matplotlib: pip install 'lens-vdb[docs]'")
    pytest.importorskip("langchain_qdrant", reason="the LangChain notebook needs lens-vdb[langchain]")
    notebook = run_notebook("langchain.ipynb", tmp_path)
    check_clean(notebook)
    printed = outputs(notebook)
    # LENS encodes each article once for the DENSE store (plus langchain-qdrant's sizing text); the HYBRID
    # store's LENS sparse side reads those vectors back; the connector calls the encoder itself
    assert re.search(r"^DENSE store: \d+ s, 51 texts through LENS ", printed, re.M), printed
    assert re.search(r"^HYBRID store: \d+ s, 0 texts through LENS$", printed, re.M), printed
    assert re.search(r"^ingested 50, skipped 0 .*\n50 texts through LENS$", printed, re.M), printed
    (table,) = markdown_tables(notebook, "retriever")
    check_scores(table, ["LENS dense (langchain-qdrant DENSE)", "MiniLM dense (reference)",
                         "MiniLM + LENS sparse (langchain-qdrant HYBRID)", "LENS + MiniLM, RRF (lens-vdb)",
                         "LENS + MiniLM, weighted (lens-vdb)"])
    assert images(notebook) == 2, "the scores chart and the per-question rank grid"
    # the LCEL chain ran with the stand-in, which quotes the first passage the retriever put in the prompt
    answers = re.findall(r'^A: According to article (\d+): "(.+)"$', printed, re.M)
    assert len(answers) == 2, answers
    # the first question's prompt is shown: its context starts with the passage the stand-in quoted
    article, quote = answers[0]
    assert re.search(rf"^Context:\n\[{article}\] {re.escape(quote)} .*^Human: Why did Time Warner's profits go up\?$",
                     printed, re.M | re.S), printed


def test_llamaindex_notebook_executes(tmp_path):
    pytest.importorskip("matplotlib", reason="the notebooks' plots need matplotlib: pip install 'lens-vdb[docs]'")
    pytest.importorskip("llama_index.vector_stores.qdrant", reason="the LlamaIndex notebook needs lens-vdb[llamaindex]")
    notebook = run_notebook("llamaindex.ipynb", tmp_path)
    check_clean(notebook)
    printed = outputs(notebook)
    # a hybrid build asks for 50 dense and 50 sparse vectors; the shared encoder runs the model 50 times
    assert ("50 nodes stored, each with a dense and a sparse vector; sparse vectors asked for 50 texts; "
            "texts through the LENS model: 50") in printed
    # a second index, MiniLM dense + the same LENS sparse functions, reads the LENS vectors the first computed
    assert "50 nodes stored; texts through the LENS model: 0" in printed
    (table,) = markdown_tables(notebook, "query")
    check_scores(table, ["LENS dense", "LENS sparse", "LENS dense + LENS sparse (hybrid)", "MiniLM dense (reference)",
                         "MiniLM dense + LENS sparse (hybrid)"])
    assert images(notebook) == 1
    # the query engine retrieved 2 articles, and its stand-in LLM answered with its prompt: their text and the query
    (sources,) = markdown_tables(notebook, "score")
    assert len(sources) == 2, sources
    assert "Context information is below." in printed and "Query: Why did Time Warner's profits go up?" in printed
    for score, headline, topic, text in sources:
        assert 0 < float(score) <= 1  # relative-score fusion: each route's scores scaled to [0, 1], then mixed
        assert f"title: {headline}\ntopic: {topic}\n\n{text.removesuffix('...')}" in printed, (headline, printed)
