"""Type checkers see lens-vdb's real types: a user script passes mypy, and a misspelt keyword fails it.

``lens_vdb.connectors`` and ``lens_vdb`` load their names lazily through ``__getattr__``; without
the ``TYPE_CHECKING`` imports beside it mypy types every connector as ``Any`` and lets
``store.search("q", limt=3)`` through. lens-vdb maps ``connectors/`` and ``export/`` into the
package (pyproject's package-dir), which an editable install serves through an import hook that
mypy cannot follow, so the test lays the package out as a wheel would (symlinks in a temporary
folder) and points mypy there. Heavy third-party packages are not analysed (``follow_imports =
skip``): their types are ``Any`` here, lens-vdb's own are checked.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "typecheck" / "user_script.py"
SKIPPED = ("torch", "transformers", "tokenizers", "numpy", "onnxruntime", "optimum", "onnx", "faiss", "qdrant_client",
           "qdrant_edge", "pymilvus", "langchain_core", "langchain_qdrant", "llama_index", "sentence_transformers",
           "huggingface_hub", "safetensors", "tqdm", "gguf", "peft", "sklearn", "pydantic", "tenacity", "rank_bm25")


def _package_as_installed(root: Path) -> Path:
    """``root/lens_vdb`` laid out as a wheel installs it: the core, with connectors/ and export/ inside."""
    package = root / "lens_vdb"
    package.mkdir(parents=True)
    for entry in (REPO / "lens_vdb").iterdir():
        (package / entry.name).symlink_to(entry)
    for name in ("connectors", "export"):
        (package / name).symlink_to(REPO / name)
    return root


def run_mypy(tmp_path: Path, scripts: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """mypy over ``scripts`` (file name -> source), all in one run: one run costs about 11 s, mostly loading."""
    pytest.importorskip("mypy", reason="mypy is not installed (pip install mypy): the type-check step needs it")
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nfollow_imports = silent\nignore_missing_imports = True\n"
                      f"[mypy-{','.join(name + '.*' for name in SKIPPED)}]\nfollow_imports = skip\n")
    for name, source in scripts.items():
        (tmp_path / name).write_text(source)
    site = _package_as_installed(tmp_path / "site")
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(config), "--no-incremental",
                           "--python-version", "3.10", *scripts],
                          capture_output=True, text=True, cwd=tmp_path, env={"MYPYPATH": str(site), "PATH": ""})


# (what the user script says, the same call misspelt, what mypy must say of it)
MISSPELLINGS = [
    ('store.search("interest rates", limit=3,', 'store.search("interest rates", limt=3,',
     'Unexpected keyword argument "limt" for "search" of "LensConnector"'),
    ('store.ingest(["first text", "second text"], batch_size=32)', 'store.ingest(["first text"], batchsize=32)',
     'Unexpected keyword argument "batchsize" for "ingest"'),
    ('LensEmbeddings(model_name="default", show_progress=True)', 'LensEmbeddings(model_name="default", progress=True)',
     'Unexpected keyword argument "progress" for "LensEmbeddings"'),
    ('LensEncoder("default", batch_size=16, threads=1)', 'LensEncoder("default", batch_size=16, thread=1)',
     'Unexpected keyword argument "thread" for "LensEncoder"'),
    ('export_onnx("my-lens-model", "my-lens-onnx", quantize="int8")',
     'export_onnx("my-lens-model", "my-lens-onnx", quantise="int8")', 'Unexpected keyword argument "quantise"'),
    # a misspelt option value: the connectors take the vocabulary's Fusion, not a str
    ('fusion="rrf", filter=', 'fusion="rff", filter=',
     'Argument "fusion" to "search" of "LensConnector" has incompatible type "Literal[\'rff\']"'),
]


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory) -> dict[str, list[str]]:
    """One mypy run over the user script and one copy of it per misspelling: each file's error lines."""
    source = SCRIPT.read_text()
    scripts = {"user_script.py": source}
    for index, (good, bad, _) in enumerate(MISSPELLINGS):
        assert good in source, f"the user script no longer says {good!r}"
        scripts[f"misspelt_{index}.py"] = source.replace(good, bad)
    out = run_mypy(tmp_path_factory.mktemp("mypy"), scripts)
    errors: dict[str, list[str]] = {name: [] for name in scripts}
    for line in out.stdout.splitlines():
        name, _, rest = line.partition(":")
        if name in errors and " error: " in rest:
            errors[name].append(line)
    # mypy ran and checked every file (a crash or a config error would report no file at all)
    assert out.returncode == 1 and f"in {len(MISSPELLINGS)} files" in out.stdout, out.stdout + out.stderr
    return errors


def test_every_lazy_package_shows_its_names_to_type_checkers():
    """A package that loads names through ``__getattr__`` imports each of ``__all__`` under ``TYPE_CHECKING``."""
    for init in [*(REPO / "lens_vdb").rglob("__init__.py"), REPO / "connectors" / "__init__.py",
                 REPO / "export" / "__init__.py"]:
        tree = ast.parse(init.read_text())
        if not any(_defines_getattr(n) for n in tree.body):
            continue
        public = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                      and any(getattr(t, "id", None) == "__all__" for t in n.targets))
        typed = {alias.asname or alias.name for n in tree.body if isinstance(n, ast.If)
                 and getattr(n.test, "id", None) == "TYPE_CHECKING" for imp in n.body
                 if isinstance(imp, ast.ImportFrom) for alias in imp.names}
        eager = {alias.asname or alias.name for n in tree.body if isinstance(n, ast.ImportFrom) for alias in n.names}
        hidden = set(public) - typed - eager - {"__version__", "TASKS"}
        assert not hidden, f"{init.relative_to(REPO)}: {sorted(hidden)} are Any to type checkers"


def _defines_getattr(node: ast.stmt) -> bool:
    """``def __getattr__`` or ``__getattr__, __dir__ = lazy_exports(...)``."""
    if isinstance(node, ast.FunctionDef):
        return node.name == "__getattr__"
    targets = [t for target in node.targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])] \
        if isinstance(node, ast.Assign) else []
    return any(isinstance(t, ast.Name) and t.id == "__getattr__" for t in targets)


def test_the_user_script_type_checks(mypy_errors):
    assert mypy_errors["user_script.py"] == []


@pytest.mark.parametrize("index", range(len(MISSPELLINGS)), ids=[bad for _, bad, _ in MISSPELLINGS])
def test_a_misspelt_keyword_fails_the_check(mypy_errors, index):
    errors = mypy_errors[f"misspelt_{index}.py"]
    message = MISSPELLINGS[index][2]
    assert len(errors) == 1 and message in errors[0], errors


def test_the_package_check_is_strict_and_silences_only_third_party_imports():
    """``make typecheck`` (mypy over lens_vdb/, connectors/ and export/, in ``make test``) reads pyproject's settings:
    bodies and signatures checked, stale ignores refused, missing imports silenced only for named
    third-party libraries (and the editable install's package-dir mapping), never for lens-vdb's own code."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    mypy = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy["check_untyped_defs"] is True and mypy["warn_unused_ignores"] is True
    for loose in ("ignore_missing_imports", "ignore_errors", "follow_imports", "disable_error_code"):
        assert loose not in mypy, f"[tool.mypy] sets {loose} for every module"
    overrides = mypy["overrides"]
    assert any("lens_vdb.*" in o["module"] and o.get("disallow_incomplete_defs") for o in overrides)
    mapped = {"lens_vdb.connectors", "lens_vdb.connectors.*", "lens_vdb.export", "lens_vdb.export.*"}
    for override in overrides:
        assert "ignore_errors" not in override and "follow_imports" not in override, override
        if override.get("ignore_missing_imports"):
            ours = [m for m in override["module"] if m.split(".")[0] in ("lens_vdb", "export", "connectors")]
            assert set(ours) <= mapped, f"missing imports silenced for lens-vdb's own modules: {ours}"
    makefile = (REPO / "Makefile").read_text()
    assert "\n\t$(PY) -m mypy lens_vdb connectors export\n" in makefile and " lint typecheck " in makefile
