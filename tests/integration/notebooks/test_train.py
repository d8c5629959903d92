"""notebooks/train.ipynb runs top to bottom in a real Jupyter kernel and shows what it says."""

from __future__ import annotations

import pytest

from tests.integration.notebooks.support import check_clean, images, outputs, run_notebook

pytestmark = pytest.mark.slow

def test_train_notebook_executes(tmp_path):
    pytest.importorskip("matplotlib", reason="the notebooks' plots need matplotlib: pip install 'lens-vdb[docs]'")
    notebook = run_notebook("train.ipynb", tmp_path)
    check_clean(notebook)
    printed = outputs(notebook)
    assert "paused at step 3" in printed and "finished at step 6" in printed  # the run resumed
    for system in ("BM25", "MiniLM", "LENS k-means head (untrained)", "LENS trained 6 steps", "LENS top 2 layers, 6 steps"):
        assert system in printed
    assert (tmp_path / "run" / "model" / "lens_config.json").is_file()
    assert (tmp_path / "run-top2" / "model" / "lens_config.json").is_file() and "top 2 layers: 6 steps" in printed
    assert images(notebook) == 1
