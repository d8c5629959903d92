"""One lazy-import helper for the packages' public names (``lens_vdb``, ``lens_vdb.train``, ``lens_vdb.eval``...).

A package lists which module defines each public name; the name's module is imported on first
access, so ``import lens_vdb`` stays light (torch, transformers and the extras load only when a
name that needs them is used). Type checkers see the real names through the package's
``if TYPE_CHECKING:`` imports.

    __getattr__, __dir__ = lazy_exports(__name__, {"LensEncoder": "._inference.encoder"}, __all__)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: Mapping[str, str], public: Iterable[str], *, hidden: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``, loading each of ``names`` on first use.

    ``names`` maps a public name to the module (relative to ``package``) that defines it; a loaded
    name is stored in the package, so later accesses are plain attribute reads. ``__dir__`` lists
    ``public`` (the package's ``__all__``) and ``hidden`` (importable names left out of ``__all__``,
    such as ones needing an optional extra).
    """
    table = dict(names)
    listed = sorted({*public, *hidden})

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return listed

    return __getattr__, __dir__
