"""The package's floors: no import circle anywhere in lens_vdb, and each floor imports only those below it.

Imports are read with ``ast`` (nothing is executed): lazy ones inside functions, and those under
``if TYPE_CHECKING:`` (a type checker follows them, and a circle there is a circle in the design).
A package's own ``TYPE_CHECKING`` re-exports of the names it loads lazily (``_LAZY``) are not its
imports: whoever imports such a name imports the module that defines it, and the graph draws that
edge on the importer.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import lens_vdb

ROOT = Path(lens_vdb.__file__).parent
REPO = ROOT.parent
# lens_vdb.connectors and lens_vdb.export live beside the package (pyproject's package-dir)
PACKAGES = {"lens_vdb": ROOT, "lens_vdb.connectors": REPO / "connectors", "lens_vdb.export": REPO / "export"}
FLOOR_0 = {"lens_vdb._errors", "lens_vdb._deps", "lens_vdb._files", "lens_vdb._instructions", "lens_vdb._datasets",
           "lens_vdb._minilm", "lens_vdb._machine", "lens_vdb._vocabulary", "lens_vdb._jsonl", "lens_vdb._lazy"}
CONNECTORS = "lens_vdb.connectors"
ENGINES = (f"{CONNECTORS}._qdrant", f"{CONNECTORS}._milvus")
RAY = f"{CONNECTORS}._ray"


def _modules(packages: dict[str, Path]) -> dict[str, Path]:
    found = {}
    for package, folder in packages.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _lazy_names(package: str, tree: ast.Module) -> dict[str, str]:
    """A package's lazily loaded names (its ``_LAZY`` and ``_OPTIONAL`` dicts) -> the modules that define them."""
    names = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id in ("_LAZY", "_OPTIONAL") for t in node.targets)):
            for key, value in zip(node.value.keys, node.value.values):
                if isinstance(key, ast.Constant) and isinstance(value, ast.Constant):
                    module = value.value
                    names[key.value] = package + module if module.startswith(".") else module
    return names


def _import_nodes(tree: ast.AST, lazy: dict[str, str]):
    """Every Import/ImportFrom node, those under ``if TYPE_CHECKING:`` included, except a package's
    re-exports of its own lazy names (``lazy``; empty for a module)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node) and lazy:
            stack.extend(n for n in node.body if not (
                isinstance(n, ast.ImportFrom) and all(a.name in lazy for a in n.names)))
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


class _Graph:
    """The import graph of ``packages`` (name -> folder): module -> the modules it imports."""

    def __init__(self, packages: dict[str, Path]) -> None:
        self.modules = _modules(packages)
        self.trees = {m: ast.parse(p.read_text(), str(p)) for m, p in self.modules.items()}
        self.lazy = {m: _lazy_names(m, t) for m, t in self.trees.items() if self.modules[m].name == "__init__.py"}

    def targets(self, module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
        """The modules an import statement runs, resolving relative and lazily re-exported names."""
        if isinstance(node, ast.Import):
            return {alias.name for alias in node.names if alias.name in self.modules}
        base = node.module or ""
        if node.level:
            package = module if self.modules[module].name == "__init__.py" else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        out = set()
        for alias in node.names:
            if f"{base}.{alias.name}" in self.modules:
                out.add(f"{base}.{alias.name}")
            elif alias.name in self.lazy.get(base, {}):  # a public name loads its module
                out.add(self.lazy[base][alias.name])
            elif base in self.modules:
                out.add(base)
        return out

    def edges(self) -> dict[str, set[str]]:
        graph: dict[str, set[str]] = {}
        for module, tree in self.trees.items():
            lazy = self.lazy.get(module, {})
            graph[module] = set().union(*(self.targets(module, n) for n in _import_nodes(tree, lazy))) - {module}
        return graph


MODULES = _modules(PACKAGES)


def import_graph(packages: dict[str, Path] = PACKAGES) -> dict[str, set[str]]:
    return _Graph(packages).edges()


def circle(graph: dict[str, set[str]]) -> list[str] | None:
    """An import circle of ``graph`` (each module imported by the next), or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def test_the_graph_sees_lazy_relative_and_type_checking_imports():
    graph = import_graph()
    assert "lens_vdb._model.checkpoint" in graph["lens_vdb._model.lens_model"]  # module-level, relative
    assert "lens_vdb._inference.onnx_runtime" in graph["lens_vdb._inference.backends"]  # inside a function
    assert "lens_vdb._inference.encoder" in graph[f"{CONNECTORS}._connector"]  # through lens_vdb._LAZY
    assert "lens_vdb.integrations.langchain" in graph[f"{CONNECTORS}._connector"]  # under TYPE_CHECKING
    assert f"{CONNECTORS}._ray.ingest" in graph[f"{CONNECTORS}._connector"]  # the runner, inside ingest()


def test_a_circle_closed_under_type_checking_is_found(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text("from .b import B\n")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A\n")
    found = circle(import_graph({"pkg": tmp_path}))
    assert found is not None and set(found) == {"pkg.a", "pkg.b"}


def test_no_import_circle_in_lens_vdb():
    found = circle(import_graph())
    assert found is None, f"import circle (each module imported by the next): {' -> '.join(found or [])}"


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_never_import_the_ray_runner(engine):
    graph = import_graph()
    modules = {m: t for m, t in graph.items() if m == engine or m.startswith(f"{engine}.")}
    assert modules, f"no engine package {engine}"
    for module, targets in modules.items():
        runner = {t for t in targets if t == RAY or t.startswith(f"{RAY}.")}
        assert not runner, f"{module} (an engine) imports the Ray runner: {sorted(runner)}"


def test_the_modules_at_the_top_of_connectors_are_engine_neutral():
    graph = import_graph()
    top = {m for m in graph if m.startswith(f"{CONNECTORS}._") and m.count(".") == 2} - {f"{CONNECTORS}._demo"}
    assert f"{CONNECTORS}._connector" in top and f"{CONNECTORS}._qdrant" in top  # the demo runs on Qdrant by design
    for module in top - {f"{CONNECTORS}._qdrant", f"{CONNECTORS}._milvus", RAY}:
        engines = {t for t in graph[module] if t.startswith(ENGINES)}
        assert not engines, f"{module} (engine-neutral) imports {sorted(engines)}: ask the store instead"


def test_the_ray_runner_never_imports_the_connector_nor_an_engine():
    graph = import_graph()
    banned = (f"{CONNECTORS}._connector", *ENGINES)
    for module, targets in graph.items():
        if module == RAY or module.startswith(f"{RAY}."):
            bad = {t for t in targets if t.startswith(banned)}
            assert not bad, f"{module} (the Ray runner) imports {sorted(bad)}: pass it the collection and builder"


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


def test_every_package_goes_into_the_wheel():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert packages <= listed, f"pyproject.toml's [tool.setuptools] packages lacks {sorted(packages - listed)}"
