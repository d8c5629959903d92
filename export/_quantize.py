"""Dynamic int8 quantization of an exported LENS graph through Optimum's ORTQuantizer.

Weights become int8 per output channel (symmetric); activations are quantized on the fly
(``DynamicQuantizeLinear`` + ``MatMulInteger``), so no calibration data is needed. The centroid
head stays in fp32: its output is max-pooled over every position, so rounding noise there goes
straight into the vector, while it is a small share of the compute (``k x hidden`` against the
backbone's layers). Int8 graphs are for CPUs; GPUs take fp16.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from lens_vdb._deps import require
from lens_vdb._onnx_runtime import GRAPH_NAME

from ._files import save_graph

__all__ = ["quantize_int8", "head_nodes"]


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
    if _has_external(graph):
        onnx.load_external_data_for_model(graph, str(graph_path.parent))
    head = {t.name for t in graph.graph.initializer if t.name in candidates
            and _same(numpy_helper.to_array(t), head_weight)}
    return [n.name for n in graph.graph.node if n.op_type == "MatMul" and head & set(n.input)]


def _has_external(graph: Any) -> bool:
    from onnx.external_data_helper import uses_external_data

    return any(uses_external_data(t) for t in graph.graph.initializer)


def _same(tensor: np.ndarray, head_weight: np.ndarray) -> bool:
    return any(tensor.shape == w.shape and np.array_equal(tensor, w) for w in (head_weight, head_weight.T))


def quantize_int8(directory: Path, *, backbone_config: Any, head_weight: np.ndarray, external: bool | None) -> bool:
    """Replace ``directory/model.onnx`` by its dynamic int8 form; returns whether its data is external."""
    require("optimum.onnxruntime", "onnx")
    import onnx
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    source = directory / GRAPH_NAME
    config = AutoQuantizationConfig.avx2(is_static=False, per_channel=True,
                                         nodes_to_exclude=head_nodes(source, head_weight))
    work = directory / ".int8"
    big = any(directory.glob(f"{GRAPH_NAME}_data*"))
    ORTQuantizer(source, config=backbone_config).quantize(
        save_dir=work, quantization_config=config, use_external_data_format=big)
    quantized = onnx.load(str(next(work.glob("*.onnx"))))  # loads its external data, if any
    written = save_graph(quantized, source, external=external)
    shutil.move(str(work / "ort_config.json"), str(directory / "ort_config.json"))  # the quantization settings
    shutil.rmtree(work)
    return written
