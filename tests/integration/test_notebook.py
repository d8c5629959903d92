"""Every notebook runs top to bottom in a real Jupyter kernel, as a user would run it, and shows what it says.

Each runs in a temporary folder (what it writes stays out of the repository). With
``LENS_VDB_NOTEBOOK_OUT`` set, the executed notebooks are written there (``.ci/docs.sh`` renders them
into the site) and each one's wall and kernel CPU time is printed.
"""

from __future__ import annotations

import os
import re
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
    assert "ingested 25, skipped 0" in outputs(notebook)  # the ingest report was printed
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


def check_resumed(printed: str, engine: str = "") -> int:
    """The source broke after 40 of 64 documents, in the third batch of 16: whole batches were stored (one or
    two, as their writes had started), and the same call again skipped exactly those and wrote the rest."""
    stored = [int(n) for n in re.findall(r"^stored after the interruption: (\d+) documents", printed, re.M)]
    assert stored and all(n in (16, 32) for n in stored), (engine, stored)
    for n in stored:
        assert f"ingested {64 - n}, skipped {n} (unchanged), updated 0, failed 0," in printed, (engine, n, printed)
    return len(stored)


def check_updates_and_deletes(printed: str) -> None:
    """One article shortened: only it re-encoded, with fewer chunks than before; deletes count what was stored."""
    assert "ingested 0, skipped 63 (unchanged), updated 1, failed 0, 2 chunk(s) written" in printed, printed
    before, after = (int(n) for n in re.search(r"business/001: (\d+) chunks before, (\d+) now", printed).groups())
    assert after < before and after == 2, (before, after)
    assert "2 texts encoded; business/001" in printed  # the unchanged 63 were not encoded
    assert "deleted 1; stored: 63" in printed
    assert "ingested 1, skipped 63 (unchanged), updated 0, failed 0" in printed  # deleted, then new again
    assert "deleted by filter: 2; stored: 64" in printed


def check_filters(printed: str) -> None:
    """Each filtered search returned documents of the filter's topics only."""
    import ast
    lines = dict(re.findall(r"^(\{'topic'.*?\}) +-> (\[.*\])$", printed, re.M))
    assert set(lines) == {"{'topic': 'business'}", "{'topic': ['entertainment', 'tech']}"}, lines
    for where, topics in lines.items():
        wanted = ast.literal_eval(where)["topic"]
        found = ast.literal_eval(topics)
        assert len(found) == 5 and set(found) <= ({wanted} if isinstance(wanted, str) else set(wanted)), (where, found)


def check_route_scores(rows: list[list[str]], fusions: list[str]) -> None:
    """Three hits per fusion, ranked by their fused score, each with its LENS and MiniLM cosines."""
    assert [row[0] for row in rows] == [f for f in fusions for _ in range(3)], rows
    for fusion in fusions:
        mine = [row for row in rows if row[0] == fusion]
        assert [row[1] for row in mine] == ["1", "2", "3"]
        fused = [float(row[3]) for row in mine]
        assert fused == sorted(fused, reverse=True) and fused[0] > 0, mine
        for row in mine:
            assert all(-1 <= float(cosine) <= 1 for cosine in row[4:]), row


def check_fusions(rows: list[list[str]], names: list[str]) -> None:
    """hit@1 <= MRR@10 <= hit@10, and every search finds most headlines' articles in its top 10 (a random
    ranking of 64 would for 16%)."""
    assert [row[0] for row in rows] == names, rows
    for name, hit1, hit10, mrr in rows:
        assert 0 <= float(hit1) <= float(mrr) <= float(hit10) <= 1, (name, hit1, hit10, mrr)
        assert float(hit10) >= 0.5, (name, hit10)


def test_qdrant_notebook_executes(tmp_path):
    pytest.importorskip("matplotlib", reason="the notebooks' plots need matplotlib: pip install 'lens-vdb[docs]'")
    pytest.importorskip("qdrant_edge", reason="the Qdrant notebook needs lens-vdb[qdrant]")
    notebook = run_notebook("qdrant.ipynb", tmp_path)
    check_clean(notebook)
    printed = outputs(notebook)
    # before its first write the collection does not exist: counting it is an error that creates nothing
    assert re.search(r"^LensInputError: The embedded Qdrant collection 'bbc' at .* does not exist", printed, re.M)
    assert check_resumed(printed) == 1
    assert "64 texts encoded; stored: 64 documents" in printed  # the re-run encoded the 48 left (and chunks)
    # the five whole articles were chunked, every chunk within both windows (LENS max_length=128, MiniLM 254)
    (chunks,) = markdown_tables(notebook, "article")
    assert len(chunks) == 5, chunks
    for article, words, count, tokens, spans in chunks:
        lens_tokens, dense_tokens = (int(n) for n in tokens.split(","))
        assert int(words) > 200 and int(count) >= 3 and len(spans.split(",")) == int(count), (article, count, spans)
        assert lens_tokens <= 128 and dense_tokens <= 254, (article, tokens)
    # a grouped search: documents with their best chunks, the long article found by two of its chunks
    assert re.search(r"^business/001 'Ad sales boost Time Warner profit': chunk \d+ \(\d+, \d+\) \([\d.]+\), chunk \d+",
                     printed, re.M), printed
    check_updates_and_deletes(printed)
    check_filters(printed)
    (route_scores,) = markdown_tables(notebook, "fusion")
    check_route_scores(route_scores, ["rrf", "dbsf", "weighted"])
    (fusions,) = markdown_tables(notebook, "search")
    check_fusions(fusions, ["LENS alone", "MiniLM alone", "RRF", "DBSF", "weighted 1:1"])
    # storage options: the exact ones keep (nearly) the float32 top 10; pruning to the top N dims loses some
    (storage,) = markdown_tables(notebook, "storage")
    recall = {row[0]: float(row[2]) for row in storage}
    assert list(recall) == ["float32 (default)", "float16", 'quantization="int8"', "on_disk=True", "sparse_top=256",
                            "sparse_top=64"], storage
    assert recall["float32 (default)"] == 1.0 and recall["on_disk=True"] == 1.0
    assert recall["float16"] >= 0.95 and recall['quantization="int8"'] >= 0.95, recall
    assert 0 < recall["sparse_top=64"] <= recall["sparse_top=256"] < 1, recall
    # reopened, the int8 collection adopts its option and names its models; another option is refused
    assert "reopened without options: int8=True; LENS model " in printed
    assert re.search(r"^LensSchemaError: .*'bbc_quantizationint8'.* Options differ: \(stored, asked\) = "
                     r"\{'int8': \(True, False\)\}", printed, re.M), printed
    assert images(notebook) == 2, "the fusions chart and the storage recall chart"
    assert (tmp_path / "qdrant-data" / "bbc" / "lens_vdb_collection.json").is_file()  # written where it ran


def test_milvus_notebook_executes(tmp_path):
    import signal
    import socket

    pytest.importorskip("matplotlib", reason="the notebooks' plots need matplotlib: pip install 'lens-vdb[docs]'")
    pytest.importorskip("milvus_lite", reason="the Milvus notebook needs lens-vdb[milvus]")
    notebook = run_notebook("milvus.ipynb", tmp_path)
    check_clean(notebook)
    printed = outputs(notebook)
    started = re.search(r"^Milvus server: process (\d+), answering on port (\d+) after", printed, re.M)
    assert started, printed
    pid, port = (int(n) for n in started.groups())
    try:  # the notebook's last cell stopped exactly the process it started
        assert f"Milvus server process {pid} stopped" in printed
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        try:
            os.kill(pid, signal.SIGKILL)  # only if the assertions above failed: leave no server behind
        except ProcessLookupError:
            pass
    assert check_resumed(printed) == 2, "Milvus Lite, then the server"
    assert "{'business/001': 8, 'entertainment/029': 5, 'politics/026': 5, 'sports/023': 6, 'tech/015': 4} chunks" \
        in printed, printed
    assert re.search(r"^business/001 'Ad sales boost Time Warner profit': chunk \d+ \(\d+, \d+\) \([\d.]+\), chunk \d+",
                     printed, re.M), printed
    check_updates_and_deletes(printed)
    assert printed.count("ingested 0, skipped 63 (unchanged), updated 1, failed 0") == 2  # on both engines
    check_filters(printed)
    (route_scores,) = markdown_tables(notebook, "fusion")
    check_route_scores(route_scores, ["rrf", "weighted"])
    assert "LensInputError: Milvus has no DBSF fusion" in printed
    names = ["LENS alone", "MiniLM alone", "RRF", "weighted 1:1"]
    (lite,) = markdown_tables(notebook, "Milvus Lite")
    (server,) = markdown_tables(notebook, "Milvus server")
    check_fusions(lite, names)
    check_fusions(server, names)
    same, pairs = (int(n) for n in re.search(r"the same rank on both engines for (\d+) of (\d+)", printed).groups())
    assert pairs == 4 * 64 and same >= 0.9 * pairs, (same, pairs)  # ties may break otherwise; the data is the same
    assert images(notebook) == 1
    assert (tmp_path / "bbc.db").exists() and (tmp_path / "milvus-server").is_dir()  # written where it ran
