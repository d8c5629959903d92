"""The public surface is pinned, and a bare import stays light."""

from __future__ import annotations

import subprocess
import sys

import lens_vdb

PUBLIC = {
    "BackendChoice", "ClusterExplanation", "ClusterMap", "LensConfig", "LensConnectionError", "LensDependencyError", "LensEncoder",
    "LensError", "LensInputError", "LensModel", "LensModelError", "LensSchemaError", "LensTypeError", "LensUnavailableError",
    "RemoteOptions", "SparseVector", "TASKS", "Task",
    "__version__", "build_lens_model", "cluster_token_embeddings", "default_dense_model_dir", "default_model_dir", "format_query", "get_task",
    "load_model", "register_task", "to_sparse",
}


# importable from lens_vdb, loaded on first use, but needing an extra: kept out of __all__ (star imports)
OPTIONAL = {"LensEmbeddings"}


def test_all_is_pinned_and_resolvable():
    assert set(lens_vdb.__all__) == PUBLIC
    assert set(dir(lens_vdb)) == PUBLIC | OPTIONAL
    for name in PUBLIC | OPTIONAL:
        assert getattr(lens_vdb, name) is not None


def test_the_subpackages_load_their_names_lazily_through_one_helper():
    import importlib

    import pytest

    for name in ("lens_vdb.train", "lens_vdb.eval", "lens_vdb.export"):
        package = importlib.import_module(name)
        assert dir(package) == sorted(package.__all__)
        for public in package.__all__:
            assert getattr(package, public) is getattr(package, public) is not None
        with pytest.raises(AttributeError, match=rf"module '{name}' has no attribute 'nope'"):
            package.nope  # noqa: B018


def test_bare_import_loads_neither_torch_nor_optional_dependencies():
    code = (
        "import sys, lens_vdb, lens_vdb.connectors, lens_vdb.export\n"
        "heavy = {'torch', 'transformers', 'qdrant_client', 'pymilvus', 'onnxruntime', 'optimum', 'langchain_core',"
        " 'llama_index', 'faiss', 'ray'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_error_tree():
    assert issubclass(lens_vdb.LensDependencyError, ImportError)
    assert issubclass(lens_vdb.LensInputError, ValueError)
    for name in ("LensDependencyError", "LensInputError", "LensModelError", "LensSchemaError", "LensConnectionError",
                 "LensTypeError", "LensUnavailableError"):
        assert issubclass(getattr(lens_vdb, name), lens_vdb.LensError)


def test_missing_optional_dependency_names_the_extra():
    import pytest

    from lens_vdb._deps import require

    with pytest.raises(lens_vdb.LensDependencyError, match=r"lens-vdb\[milvus\]"):
        require("surely_not_installed_module_xyz", "milvus")


def test_the_core_never_imports_connectors_or_export():
    import ast
    from pathlib import Path

    core = Path(lens_vdb.__file__).parent
    for module in core.rglob("*.py"):
        if module.name == "cli.py" or module.name.startswith("_cli_"):  # the application layer wires everything,
            continue                                                      # lazily
        for node in ast.walk(ast.parse(module.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("lens_vdb.connectors", "lens_vdb.export", "connectors", "export")), module
