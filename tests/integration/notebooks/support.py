"""Running a notebook in a real Jupyter kernel and reading what it showed, for the notebook tests (one
module a notebook, so pytest-xdist spreads them over its workers).

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

NOTEBOOKS = Path(__file__).parents[3] / "notebooks"


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
    """All text of one kind the notebook showed: printed ``stdout``/``stderr``, or displayed markdown.

    A cell's printed text is read as Jupyter shows it, whole: the kernel sends what one ``print`` writes in
    as many stream messages as its flush timer cut it into (``print(d, "chunks")`` came as ``d`` and
    `` chunks``), so a cell's stream pieces are joined as they are; cells and displays are joined by a newline.
    """
    parts = []
    for cell in notebook.cells:
        printed = []
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if kind == "stream" and output.get("output_type") == "stream" and output.get("name") == stream:
                printed.append(output.get("text", ""))
            elif kind != "stream" and kind in output.get("data", {}):
                parts.append(str(output["data"][kind]))
        if printed:
            parts.append("".join(printed))
    return "\n".join(parts)


def images(notebook) -> int:
    """How many pictures (matplotlib figures) the notebook showed."""
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", []))


def check_clean(notebook) -> None:
    """No cell failed (nbclient raises on errors) and no ipywidgets/tqdm warning reached the reader."""
    errors = outputs(notebook, stream="stderr")
    assert "IProgress" not in errors and "ipywidgets" not in errors, errors


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
