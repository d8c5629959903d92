"""Without its toolchain (transformers 5: optimum-onnx needs < 4.58), the export says what works, before any work."""

from __future__ import annotations

from importlib import metadata

import pytest

from lens_vdb import LensDependencyError
from tests.graphs import export_problem
from tests.tiny import tiny_lens_dir


@pytest.mark.skipif(export_problem() is None, reason="the export toolchain is installed here; the transformers 5 "
                                                     "environment of make test runs this")
def test_export_without_its_toolchain_names_the_working_versions_and_the_extras(tmp_path):
    from lens_vdb.export import export_onnx

    source = tiny_lens_dir()
    with pytest.raises(LensDependencyError) as error:
        export_onnx(str(source), tmp_path / "graph")
    message = str(error.value)
    assert "lens-vdb[export]" in message and "lens-vdb[onnx]" in message
    if not metadata.version("transformers").startswith("4."):
        assert f"transformers {metadata.version('transformers')}" in message and "<4.58" in message
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a staging folder
    with pytest.raises(ImportError):  # LensDependencyError is an ImportError too, for callers that catch that
        export_onnx(str(source), tmp_path / "graph")


@pytest.mark.skipif(export_problem() is not None, reason="no export toolchain here (transformers 5 environment)")
def test_the_toolchain_check_passes_where_the_export_runs():
    import optimum.exporters.onnx  # noqa: F401  the check and the real import agree
    from packaging.version import Version

    assert Version(metadata.version("transformers")) < Version("4.58")
