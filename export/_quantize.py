"""int8 quantization of an exported LENS graph, for CPUs (GPUs take fp16).

Two methods; the export validates either against torch and refuses a graph that drifts:

- ``"int8"`` (the default int8): ONNX Runtime's ``MatMulNBits`` with 8-bit weights in blocks of
  128 along the input dimension (symmetric, one scale per block), run with int8 compute
  (``accuracy_level=4``): activations are quantized on the fly per block too. Measured on the
  trained default model: min cosine to torch 0.997 and 1.7x the fp32 graph's speed on 2 cores.
- ``"int8-dynamic"``: Optimum's ``ORTQuantizer``, dynamic per-channel int8 weights with one
  activation scale per tensor (``DynamicQuantizeLinear`` + ``MatMulInteger``). Fastest, but one
  scale per tensor cannot hold the activation outliers of a trained decoder (SmolLM2's
  ``down_proj`` inputs reach 1000x their mean): on the default model the cosine falls to 0.94
  and validation refuses the graph. It suits models without such outliers.

Both leave the centroid head in fp32: its output is max-pooled over every position, so rounding
noise there lands straight in the vector, while it is a small share of the compute.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from lens_vdb import LensInputError, LensModelError
from lens_vdb._deps import require
from lens_vdb._files import GRAPH_NAME

from ._files import has_external_tensors, save_graph

__all__ = ["quantize_graph", "head_nodes", "BLOCK_SIZE"]

BLOCK_SIZE = 128


def quantize_graph(directory: Path, method: str, *, backbone_config: Any, head_weight: np.ndarray,
                   external: bool | None) -> None:
    """Replace ``directory/model.onnx`` by its int8 form (``method``: "int8" or "int8-dynamic")."""
    source = directory / GRAPH_NAME
    excluded = head_nodes(source, head_weight)
    if method == "int8":
        _blockwise_int8(source, excluded, external)
    elif method == "int8-dynamic":
        _dynamic_int8(directory, excluded, backbone_config, external)
    else:
        raise LensInputError(f"unknown quantization {method!r}")


def _blockwise_int8(source: Path, excluded: list[str], external: bool | None) -> None:
    require("onnx_ir", "export")  # onnxruntime's MatMulNBits quantizer is written over onnx-ir
    import onnx

    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    root.handlers[:], root.level = handlers, root_level  # its import calls logging.basicConfig(level=INFO)
    quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=8, block_size=BLOCK_SIZE, is_symmetric=True,
                                     accuracy_level=4, nodes_to_exclude=excluded)
    chatty = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = chatty.level
    chatty.setLevel(logging.WARNING)  # it logs a line per node at INFO
    try:
        quantizer.process()
    finally:
        chatty.setLevel(level)
    save_graph(quantizer.model.model, source, external=external)


def _dynamic_int8(directory: Path, excluded: list[str], backbone_config: Any, external: bool | None) -> None:
    require("optimum.onnxruntime", "export")
    import onnx
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    source = directory / GRAPH_NAME
    config = AutoQuantizationConfig.avx2(is_static=False, per_channel=True, nodes_to_exclude=excluded)
    work = directory / ".int8"
    big = any(directory.glob(f"{GRAPH_NAME}_data*"))
    ORTQuantizer(source, config=backbone_config).quantize(
        save_dir=work, quantization_config=config, use_external_data_format=big)
    quantized = onnx.load(str(next(work.glob("*.onnx"))))  # loads its external data, if any
    save_graph(quantized, source, external=external)
    shutil.move(str(work / "ort_config.json"), str(directory / "ort_config.json"))  # the quantization settings
    shutil.rmtree(work)


def head_nodes(graph_path: Path, head_weight: np.ndarray) -> list[str]:
    """Names of the MatMul nodes that apply the centroid head.

    Found by value, not by shape: in a small backbone a key or value projection can have the
    head's shape too, and it must still be quantized.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(graph_path), load_external_data=False)
    shapes = {head_weight.shape, head_weight.T.shape}
    candidates = {t.name for t in graph.graph.initializer if tuple(t.dims) in shapes}
    if has_external_tensors(graph):
        onnx.load_external_data_for_model(graph, str(graph_path.parent))
    head = {t.name for t in graph.graph.initializer if t.name in candidates
            and _same(numpy_helper.to_array(t), head_weight)}
    nodes = [n.name for n in graph.graph.node if n.op_type == "MatMul" and head & set(n.input)]
    if len(nodes) != 1:  # never quantize a head that was not found: it would go to int8 unseen
        raise LensModelError(f"Found {len(nodes)} MatMul nodes applying the centroid head in {graph_path} "
                             "(expected 1); not quantized. Please report this with the model's architecture.")
    return nodes


def _same(tensor: np.ndarray, head_weight: np.ndarray) -> bool:
    return any(tensor.shape == w.shape and np.array_equal(tensor, w) for w in (head_weight, head_weight.T))
