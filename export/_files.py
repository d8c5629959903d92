"""Writing ONNX graphs in one file, or with their weights in ``model.onnx_data`` beside it.

Protobuf cannot serialise a message over 2 GB, so bigger graphs (a 7B LENS model is 14 GB in
fp16) keep their tensors in one external data file next to the graph; ONNX Runtime and TensorRT
read it from there. Smaller graphs stay in one file unless external data is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["save_graph", "uses_external_data", "has_external_tensors", "needs_external_data", "PROTOBUF_LIMIT"]

PROTOBUF_LIMIT = 2**31 - 1
_HEADROOM = 64 * 2**20  # the graph's nodes and names beside its tensors


def needs_external_data(graph: Any) -> bool:
    """Whether ``graph`` (an ``onnx.ModelProto`` with its tensors loaded) is too big for one file."""
    tensors = sum(len(t.raw_data) or t.ByteSize() for t in graph.graph.initializer)
    return tensors + _HEADROOM > PROTOBUF_LIMIT


def save_graph(graph: Any, path: Path, *, external: bool | None) -> None:
    """Save ``graph`` to ``path``, replacing any earlier data file.

    ``external=None`` puts the tensors in ``<name>_data`` only when the graph is over 2 GB.
    """
    import onnx

    external = needs_external_data(graph) if external is None else external
    for old in path.parent.glob(f"{path.name}_data*"):
        old.unlink()
    if external:
        onnx.save(graph, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=f"{path.name}_data", size_threshold=1024, convert_attribute=True)
    else:
        onnx.save(graph, str(path))


def uses_external_data(path: Path) -> bool:
    """Whether the graph at ``path`` keeps any tensor in an external file."""
    import onnx

    return has_external_tensors(onnx.load(str(path), load_external_data=False))


def has_external_tensors(graph: Any) -> bool:
    """Whether an ``onnx.ModelProto`` refers to any tensor kept in an external file."""
    from onnx.external_data_helper import uses_external_data as tensor_is_external

    return any(tensor_is_external(t) for t in graph.graph.initializer)
