"""notebooks/explain.ipynb runs top to bottom in a real Jupyter kernel and shows what it says."""

from __future__ import annotations

import pytest

from tests.integration.notebooks.support import check_clean, images, outputs, run_notebook

pytestmark = pytest.mark.slow

def test_explain_notebook_executes(tmp_path):
    pytest.importorskip("matplotlib", reason="the notebooks' plots need matplotlib: pip install 'lens-vdb[docs]'")
    notebook = run_notebook("explain.ipynb", tmp_path)
    check_clean(notebook)
    printed = outputs(notebook)
    assert images(notebook) == 2, "the lift chart and the LENS-beside-BM25 chart"
    assert "BM25 score" in printed and "(not in the article)" in printed
    assert "rank of" in printed and "LENS" in printed
