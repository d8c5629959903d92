"""Retrieval pairs from Python's own documentation: a docstring's summary line -> the rest of it.

The standard library's sources are parsed with :mod:`ast`, never imported (importing all of it
would open windows, start ``antigravity``'s browser, print ``this``...): every module, class and
function docstring whose body says more than its summary gives one pair. Tests, ``idlelib``,
``lib2to3``, ``tkinter``, ``turtledemo``, ``ensurepip`` and ``site-packages`` are skipped. The
output depends only on the source files (the Python version) and the seed.
"""

from __future__ import annotations

import ast
import sysconfig
import warnings
from collections.abc import Iterator
from pathlib import Path

from .._errors import LensInputError
from ._pairs import Pair, PairCounts, write_pairs

__all__ = ["STDLIB", "docstring_pairs", "split_docstring", "write_pydoc_pairs"]

STDLIB = Path(sysconfig.get_paths()["stdlib"])
DATASET = "python-docstrings"
_SKIP = {"test", "tests", "idlelib", "lib2to3", "tkinter", "turtledemo", "ensurepip", "site-packages",
         "dist-packages", "__pycache__", "config-3", "venv"}


def split_docstring(doc: str) -> tuple[str, str] | None:
    """``(summary, body)``: the first paragraph and the rest, or ``None`` when there is no body.

    A docstring of one paragraph is split after its first sentence (``"Return x. More..."``).
    """
    paragraphs = [" ".join(p.split()) for p in doc.strip().split("\n\n")]
    paragraphs = [p for p in paragraphs if p]
    if len(paragraphs) == 1:
        first, _, rest = paragraphs[0].partition(". ")
        paragraphs = [f"{first}.", rest] if rest and first else paragraphs
    if len(paragraphs) < 2:
        return None
    return paragraphs[0], " ".join(paragraphs[1:])


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or path.stem


def _docstrings(tree: ast.Module, module: str) -> Iterator[tuple[str, str]]:
    """``(qualified name, docstring)`` of the module and every class and function in it."""
    if doc := ast.get_docstring(tree):
        yield module, doc
    stack: list[tuple[ast.AST, str]] = [(tree, module)]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}.{child.name}"
                if doc := ast.get_docstring(child):
                    yield name, doc
                stack.append((child, name))


def _sources(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).parts
        if not any(part in _SKIP or part.startswith(("test_", "config-")) for part in relative):
            yield path


def docstring_pairs(root: str | Path = STDLIB) -> Iterator[Pair]:
    """One pair per docstring with a body, under ``root`` (the running Python's standard library by default)."""
    root = Path(root)
    if not root.is_dir():
        raise LensInputError(f"No Python sources in {root}: pass a folder of .py files.")
    for path in _sources(root):
        module = _module_name(path, root)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SyntaxWarning)  # old escape sequences in some sources
                tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # e.g. a file written for another Python version: not a docstring source
        for _name, doc in _docstrings(tree, module):
            parts = split_docstring(doc)
            if parts is not None:
                yield Pair(parts[0], parts[1], module)


def write_pydoc_pairs(path: str | Path, root: str | Path = STDLIB, *, seed: int = 0, held_out: float = 0.02,
                      negatives: int = 3, limit: int | None = None) -> PairCounts:
    """Build the docstring pairs from the sources under ``root``; write ``path`` and its held-out sibling."""
    return write_pairs(docstring_pairs(root), path, dataset=DATASET, seed=seed, held_out=held_out,
                       negatives=negatives, limit=limit)
