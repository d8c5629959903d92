"""The package's floors: no import circle anywhere in lens_vdb, and each floor imports only those below it.

Imports are read with ``ast`` (nothing is executed), lazy ones inside functions included: a
circle closed by a function-level import still ties the modules together. Imports under
``if TYPE_CHECKING:`` are for annotations only and are left out.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import lens_vdb

ROOT = Path(lens_vdb.__file__).parent
REPO = ROOT.parent
# lens_vdb.connectors and lens_vdb.export live beside the package (pyproject's package-dir)
PACKAGES = {"lens_vdb": ROOT, "lens_vdb.connectors": REPO / "connectors", "lens_vdb.export": REPO / "export"}
FLOOR_0 = {"lens_vdb._errors", "lens_vdb._deps", "lens_vdb._files", "lens_vdb._instructions", "lens_vdb._datasets",
           "lens_vdb._minilm", "lens_vdb._machine", "lens_vdb._vocabulary", "lens_vdb._jsonl", "lens_vdb._lazy"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import/ImportFrom node, skipping ``if TYPE_CHECKING:`` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The lens_vdb modules an import statement runs, resolving relative and lazily re-exported names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in MODULES}
    base = node.module or ""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    out = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in MODULES:
            out.add(f"{base}.{alias.name}")
        elif base == "lens_vdb" and alias.name in lens_vdb._LAZY:  # the public names load their module
            out.add("lens_vdb" + lens_vdb._LAZY[alias.name])
        elif base in MODULES:
            out.add(base)
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[module] = set().union(*(_targets(module, n) for n in _import_nodes(tree))) - {module}
    return graph


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "lens_vdb._model.checkpoint" in graph["lens_vdb._model.lens_model"]  # module-level, relative
    assert "lens_vdb._inference.onnx_runtime" in graph["lens_vdb._inference.backends"]  # inside a function
    assert "lens_vdb._inference.encoder" in graph["lens_vdb.connectors._connector"]  # through lens_vdb._LAZY


def test_no_import_circle_in_lens_vdb():
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as error:
        raise AssertionError(f"import circle (each module imported by the next): {' -> '.join(error.args[1])}") from None


def test_each_floor_imports_only_the_floors_below():
    graph = import_graph()
    for module, targets in graph.items():
        if module in FLOOR_0:
            assert targets <= FLOOR_0, f"{module} (floor 0) imports {sorted(targets - FLOOR_0)}"
        if module.startswith("lens_vdb._model"):
            above = {t for t in targets if not t.startswith("lens_vdb._model") and t not in FLOOR_0}
            assert not above, f"{module} (the model floor) imports {sorted(above)}"
        if module.startswith("lens_vdb._inference"):
            above = {t for t in targets if not t.startswith(("lens_vdb._model", "lens_vdb._inference"))
                     and t not in FLOOR_0}
            assert not above, f"{module} (the inference floor) imports {sorted(above)}"


def test_core_modules_stay_under_300_lines():
    core = [p for m, p in MODULES.items() if m.startswith(("lens_vdb._model", "lens_vdb._inference"))]
    long = {p.name: n for p in core if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long
