"""The seam through which ``backend="auto"`` asks for a graph it measured as worth exporting.

The core never imports the exporters (``lens_vdb.export`` sits on a floor above it and needs
the export toolchain, which may be missing: ``auto`` then chooses among what it can run). An
exporter offers itself as an entry point in the group :data:`GROUP`; lens-vdb's own
(``lens_vdb.export._auto:EXPORTER``) is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

from .._model.lens_model import LensModel

__all__ = ["GraphExporter", "find", "why_not", "GROUP"]

logger = logging.getLogger(__name__)

GROUP = "lens_vdb.exporters"


class GraphExporter(Protocol):
    """Makes the ONNX graph of a model that ``auto`` predicted to be the fastest here."""

    def missing(self, kind: str) -> str | None:
        """Why a ``kind`` graph (``"fp32"``, ``"int8"``) cannot be exported here (what to install), or ``None``."""

    def export(self, model: LensModel, out_dir: Path, kind: str) -> Path:
        """Export, validate (every check of the export, int8's MRR@10 included) and write ``out_dir``."""


def find() -> GraphExporter | None:
    """The ONNX exporter registered under :data:`GROUP`, or ``None`` when none is installed or it cannot load."""
    for point in entry_points(group=GROUP, name="onnx"):
        try:
            return point.load()
        except Exception as exc:  # a broken plugin must not break encoding: auto runs what it can
            logger.warning("backend='auto' cannot load the exporter %s (%s); it chooses among what is exported.",
                           point.value, exc)
    return None


def why_not(exporter: GraphExporter | None, kind: str) -> str | None:
    """Why a ``kind`` graph cannot be exported here, or ``None`` when it can."""
    if exporter is None:
        return (f"not exported, and no exporter is registered ({GROUP}); install lens-vdb with its export "
                "extra to let backend='auto' export the graph it measures as the fastest")
    return exporter.missing(kind)
