"""Names and places on disk that several floors share: the files of a model, of an ONNX export, and the cache.

This module sits below the model, the inference backends and the exporters so that each of them
can name a file without importing another: the model loader recognises an export by its
graph and manifest, the ONNX runtime and the exporter read and write the same names, and both
the default model and the TensorRT engine cache live under :func:`cache_home`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CONFIG_NAME", "HEAD_NAME", "GRAPH_NAME", "MANIFEST_NAME", "CLUSTER_MAP_NAME", "cache_home"]

# a lens-vdb model directory: the HF backbone and tokenizer, plus these two
CONFIG_NAME = "lens_config.json"
HEAD_NAME = "lens_head.safetensors"
# an ONNX export directory (``lens_vdb.export.export_onnx``): the graph, its manifest and the cluster map
GRAPH_NAME = "model.onnx"
MANIFEST_NAME = "manifest.json"
CLUSTER_MAP_NAME = "cluster_map.safetensors"


def cache_home() -> Path:
    """Where lens-vdb keeps built models and engine caches: ``$LENS_VDB_HOME`` or ``~/.cache/lens-vdb``."""
    return Path(os.environ.get("LENS_VDB_HOME", Path.home() / ".cache" / "lens-vdb")).expanduser()
