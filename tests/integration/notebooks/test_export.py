"""notebooks/export.ipynb runs top to bottom in a real Jupyter kernel and shows what it says."""

from __future__ import annotations

import pytest

from tests.integration.notebooks.support import check_clean, images, outputs, run_notebook

pytestmark = pytest.mark.slow

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
