"""Lazy imports of optional dependencies, failing with the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from ._errors import LensDependencyError

__all__ = ["require"]


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`LensDependencyError` naming ``lens-vdb[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LensDependencyError(
            f"{module!r} is needed for this feature but is not installed. "
            f"Install it with: pip install 'lens-vdb[{extra}]'"
        ) from exc
