"""Model export (``lens_vdb.export``): LENS models as self-contained ONNX graphs, for ONNX Runtime and TensorRT.

    >>> from lens_vdb.export import export_onnx
    >>> export_onnx("my-lens-model", "my-lens-onnx", quantize="int8")
    >>> LensEncoder("my-lens-onnx", backend="onnx")
    >>> export_triton("my-lens-onnx", "triton-repo")          # a Triton model repository: triton-repo/lens
    >>> LensEncoder("triton-repo/lens", url="http://127.0.0.1:8000/v2/models/lens")

Exporting needs ``pip install 'lens-vdb[export]'`` (``[export-gpu]`` beside onnxruntime-gpu), whose
optimum-onnx supports transformers < 4.58 only; running a graph needs ``lens-vdb[onnx]`` (``[gpu]`` for the
CUDA and TensorRT providers) and works under any transformers, 5.x included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lens_vdb._lazy import lazy_exports

__all__ = ["export_onnx", "Manifest", "export_triton", "TritonOptions"]

if TYPE_CHECKING:  # type checkers see the real names; at run time they load on first use
    from ._base import Manifest
    from ._onnx import export_onnx
    from ._triton import TritonOptions, export_triton


__getattr__, __dir__ = lazy_exports(
    __name__, {"export_onnx": "._onnx", "Manifest": "._base", "export_triton": "._triton", "TritonOptions": "._triton"},
    __all__)
