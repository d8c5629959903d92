"""notebooks/quickstart.ipynb runs top to bottom in a real Jupyter kernel and shows what it says."""

from __future__ import annotations

import pytest

from tests.integration.notebooks.support import check_clean, outputs, run_notebook

pytestmark = pytest.mark.slow

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
