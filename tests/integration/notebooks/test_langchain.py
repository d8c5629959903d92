"""notebooks/langchain.ipynb runs top to bottom in a real Jupyter kernel and shows what it says."""

from __future__ import annotations

import re

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

def test_langchain_notebook_executes(tmp_path):

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
