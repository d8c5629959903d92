"""The ONNX Runtime backend: runs a graph written by ``lens_vdb.export.export_onnx``, no torch weights needed.

An export directory holds ``model.onnx`` (``input_ids``, ``attention_mask`` -> ``lens_embedding``,
with the bidirectional mask, centroid head, pooling and normalisation inside), ``manifest.json``,
``lens_config.json``, the tokenizer, and ``cluster_map.safetensors`` when the model has one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ._config import LensConfig
from ._deps import require
from ._errors import LensDependencyError, LensModelError
from ._model import ClusterMap

__all__ = ["OnnxBackend", "load_onnx", "open_graph", "MANIFEST_NAME", "GRAPH_NAME", "CLUSTER_MAP_NAME", "INPUTS", "OUTPUT"]

MANIFEST_NAME = "manifest.json"
GRAPH_NAME = "model.onnx"
CLUSTER_MAP_NAME = "cluster_map.safetensors"
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "lens_embedding"
PROVIDERS = ("cpu", "cuda", "tensorrt")


class OnnxBackend:
    """An ONNX Runtime session over a LENS graph."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        (out,) = self.session.run([OUTPUT], {"input_ids": input_ids, "attention_mask": attention_mask})
        return np.asarray(out, dtype=np.float32)


def _providers(provider: str, directory: Path, max_length: int) -> list[Any]:
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {PROVIDERS}, got {provider!r}")
    if provider == "cpu":
        return ["CPUExecutionProvider"]
    if provider == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    shapes = {"min": (1, 8), "opt": (32, 256), "max": (64, max_length)}
    profile = {f"trt_profile_{name}_shapes": ",".join(f"{i}:{b}x{t}" for i in INPUTS) for name, (b, t) in shapes.items()}
    options = {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
               "trt_engine_cache_path": str(directory / "trt_cache"), **profile}
    return [("TensorrtExecutionProvider", options), "CUDAExecutionProvider", "CPUExecutionProvider"]


def load_onnx(directory: Path, *, provider: str = "cpu"):
    """Open an export directory, checking it is complete and consistent before any text is encoded."""
    from ._backends import Loaded

    manifest_path = directory / MANIFEST_NAME
    if not (directory / GRAPH_NAME).is_file():
        raise LensModelError(f"{directory} has no {GRAPH_NAME}; export one with `lens-vdb export`.")
    if not manifest_path.is_file():
        raise LensModelError(f"{directory} has no {MANIFEST_NAME}: the graph was never validated; export it again.")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise LensModelError(f"{manifest_path} is not valid JSON: {exc}") from exc
    config = LensConfig.load(directory)
    if manifest.get("k") != config.k:
        raise LensModelError(f"{manifest_path} says k={manifest.get('k')} but lens_config.json says k={config.k}.")
    backend = open_graph(directory / GRAPH_NAME, k=config.k, provider=provider, max_length=config.max_length)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    cluster_map = None
    if (directory / CLUSTER_MAP_NAME).is_file():
        from safetensors.torch import load_file

        tensors = load_file(str(directory / CLUSTER_MAP_NAME))
        cluster_map = ClusterMap(tensors["cluster_tokens"], tensors["cluster_offsets"])
    return Loaded(backend, tokenizer, config, cluster_map)


def open_graph(path: Path, *, k: int, provider: str = "cpu", max_length: int = 512) -> OnnxBackend:
    """An ONNX Runtime session over ``path``, after checking its inputs and output width."""
    ort = require("onnxruntime", "onnx")
    directory = path.parent
    wanted = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}.get(provider)
    if wanted is not None and wanted not in ort.get_available_providers():
        raise LensDependencyError(
            f"provider={provider!r} needs {wanted}, which this onnxruntime build lacks (it has "
            f"{ort.get_available_providers()}). Install the GPU build: pip install 'lens-vdb[gpu]'"
        )
    try:
        options = ort.SessionOptions()
        session = ort.InferenceSession(str(path), options, providers=_providers(provider, directory, max_length))
    except Exception as exc:
        raise LensModelError(f"ONNX Runtime cannot load {path}: {exc}") from exc
    names = tuple(i.name for i in session.get_inputs())
    if set(names) != set(INPUTS):
        raise LensModelError(f"{path} takes inputs {names}; a LENS graph takes {INPUTS}.")
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if OUTPUT not in outputs or outputs[OUTPUT][-1] != k:
        raise LensModelError(f"{path} outputs {outputs}; expected {OUTPUT} of width k={k}.")
    return OnnxBackend(session)
