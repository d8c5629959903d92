"""Exported test graphs: made here when this environment can export, else taken from the one that can.

The export needs optimum-onnx, which supports transformers < 4.58 only; the graphs run under any
transformers. So the transformers 5 environment cannot export, yet must show that exported graphs
run there. `make test` exports the tiny model with the 4.57 venv (``python -m tests.graphs DIR``)
and runs the transformers 5 suite with ``LENS_VDB_TEST_GRAPHS=DIR``: the ONNX Runtime tests then
open those graphs and compare them with the torch model they came from, loaded by transformers 5.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

__all__ = ["GRAPHS_ENV", "source_dir", "graph", "export_problem"]

GRAPHS_ENV = "LENS_VDB_TEST_GRAPHS"
NAMES = ("fp32", "causal")


def export_problem() -> str | None:
    """Why this environment cannot export, or ``None``."""
    from lens_vdb.export._toolchain import toolchain_problem

    return toolchain_problem()


def _prebuilt() -> Path | None:
    if export_problem() is None:
        return None
    directory = os.environ.get(GRAPHS_ENV)
    if not directory:
        pytest.skip(f"no export here and {GRAPHS_ENV} is unset (make test sets it to graphs exported by the "
                    f"transformers 4.57 venv): {str(export_problem()).split('. ')[0]}")
    return Path(directory)


def source_dir() -> Path:
    """The tiny LENS model the graphs come from (built here, or the one the other environment exported)."""
    from tests.tiny import tiny_lens_dir

    prebuilt = _prebuilt()
    return tiny_lens_dir() if prebuilt is None else prebuilt / "lens"


def graph(name: str, target: Path) -> Path:
    """The ``fp32`` graph of the tiny model, or the ``causal`` one (same weights, causal attention)."""
    prebuilt = _prebuilt()
    if prebuilt is not None:
        return prebuilt / name
    return _export(name, source_dir(), target)


def _export(name: str, source: Path, target: Path) -> Path:
    from lens_vdb import LensModel
    from lens_vdb.export import export_onnx

    if name == "fp32":
        return export_onnx(str(source), target)
    model = LensModel.from_pretrained(source)
    model.config = model.config.replace(attention="causal")
    return export_onnx(model, target)


def main(directory: str) -> None:
    """Export the tiny model's graphs into ``directory`` (beside a copy of the model) for the other environment."""
    from tests.tiny import tiny_lens_dir

    root = Path(directory)
    if root.exists():
        shutil.rmtree(root)
    source = Path(shutil.copytree(tiny_lens_dir(), root / "lens"))
    for name in NAMES:
        _export(name, source, root / name)
    print(f"exported {', '.join(NAMES)} graphs of {source} into {root}")


if __name__ == "__main__":
    main(sys.argv[1])
