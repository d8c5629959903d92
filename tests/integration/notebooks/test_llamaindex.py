"""notebooks/llamaindex.ipynb runs top to bottom in a real Jupyter kernel and shows what it says."""

from __future__ import annotations

import pytest

from tests.integration.notebooks.support import (
    check_clean,
    check_scores,
    images,
    markdown_tables,
    outputs,
    run_notebook,
)

pytestmark = pytest.mark.slow

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
