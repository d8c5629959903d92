"""Every error lens-vdb raises on purpose is a LensError, and keeps the built-in base users may catch."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

import lens_vdb
from lens_vdb import LensError, LensInputError, LensTypeError, LensUnavailableError

ROOT = Path(__file__).resolve().parents[2]
# the core and export (connectors/ is being regrouped into subpackages and follows)
PACKAGES = ("lens_vdb", "export", "connectors")
# Python's protocols want these exact types: a module __getattr__ raises AttributeError, argparse's type= callables
# raise argparse.ArgumentTypeError (an attribute, not a builtin name, so not seen here); a cache's lookup of a key
# it does not hold raises KeyError, as a mapping does (the trainer catches it to fill the cache)
ALLOWED = {("lens_vdb/_lazy.py", "AttributeError"), ("lens_vdb/train/_hidden_cache.py", "KeyError")}
BUILTIN_ERRORS = {name for name, value in vars(builtins).items()
                  if isinstance(value, type) and issubclass(value, Exception)}  # not SystemExit


def _bare_raises() -> list[str]:
    found = []
    for package in PACKAGES:
        for module in sorted((ROOT / package).rglob("*.py")):
            relative = module.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Raise) or node.exc is None:
                    continue
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(target, ast.Name) and target.id in BUILTIN_ERRORS \
                        and (relative, target.id) not in ALLOWED:
                    found.append(f"{relative}:{node.lineno}: raise {target.id}")
    return found


def test_no_bare_builtin_errors_are_raised():
    assert _bare_raises() == [], "raise a LensError subclass (lens_vdb/_errors.py) instead"


def test_the_tree_keeps_the_builtin_bases():
    assert issubclass(LensTypeError, LensInputError) and issubclass(LensTypeError, TypeError)
    assert issubclass(LensTypeError, ValueError)  # a LensInputError, so `except ValueError` catches it as well
    assert issubclass(LensUnavailableError, LensError) and issubclass(LensUnavailableError, AttributeError)
    for name in lens_vdb._errors.__all__:
        assert issubclass(getattr(lens_vdb, name), LensError), name


def test_wrong_types_and_values_are_lens_errors_and_builtin_errors():
    from lens_vdb import LensConfig, get_task, to_sparse
    from lens_vdb._inference.features import validate_texts

    with pytest.raises(LensTypeError, match=r"wrap it: \[text\]") as caught:
        validate_texts("one text", what="documents")
    assert isinstance(caught.value, TypeError)
    with pytest.raises(ValueError, match="pooling must be one of"):
        LensConfig(k=8, hidden_size=4, pooling="mean")
    import numpy as np

    with pytest.raises(LensInputError, match="2-D"):
        to_sparse(np.zeros(3, dtype=np.float32))
    with pytest.raises(LensInputError, match="Known tasks"):
        get_task("no-such-task")
