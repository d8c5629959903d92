"""The candidates of ``backend="auto"``, opening them side by side, and the choice among the measured ones."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from .._errors import LensError
from .._files import GRAPH_NAME
from .._machine import available_memory
from .._model.lens_model import LensModel
from .._vocabulary import BACKENDS, BackendName, Precision, Provider, check_choice
from .auto_cache import find_graph
from .loaded import Loaded
from .onnx_runtime import load_onnx
from .torch_backend import DTYPES, TorchBackend

__all__ = ["CANDIDATES", "TorchCandidate", "OnnxCandidate", "BackendChoice", "open_candidates", "pick", "device_id",
           "TORCH_DTYPES", "LOSSY_MARGIN", "CPU_CANDIDATES", "GPU_CANDIDATES"]

LOSSY_MARGIN = 1.03  # a lossy candidate must be this much faster than the fastest exact one
MEMORY_HEADROOM = 1.25  # a candidate is opened beside the others only when this much of its size is free
TORCH_DTYPES = DTYPES  # the one map, in torch_backend


class TorchCandidate(NamedTuple):
    """The torch backend at a precision; ``exact``: gives fp32's vectors within 1e-4."""

    backend: Literal["torch"]
    dtype: Precision
    provider: None
    exact: bool


class OnnxCandidate(NamedTuple):
    """An exported graph (``dtype``: its kind, the graph folder's name) on an ONNX Runtime provider."""

    backend: Literal["onnx"]
    dtype: str
    provider: Provider
    exact: bool


# candidate -> (backend, torch dtype or ONNX graph kind, ONNX provider, exact: gives fp32's vectors within 1e-4)
CANDIDATES: dict[str, TorchCandidate | OnnxCandidate] = {
    "torch-fp32": TorchCandidate("torch", "fp32", None, True),
    "torch-bf16": TorchCandidate("torch", "bf16", None, False),
    "torch-fp16": TorchCandidate("torch", "fp16", None, False),
    "onnx-fp32": OnnxCandidate("onnx", "fp32", "cpu", True),
    "onnx-int8": OnnxCandidate("onnx", "int8", "cpu", False),
    "onnx-fp16-cuda": OnnxCandidate("onnx", "fp16", "cuda", False),
    "onnx-fp32-tensorrt": OnnxCandidate("onnx", "fp32", "tensorrt", False),
}
CPU_CANDIDATES = ("torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8")
GPU_CANDIDATES = ("torch-fp32", "torch-bf16", "torch-fp16", "onnx-fp16-cuda", "onnx-fp32-tensorrt")


@dataclass(frozen=True)
class BackendChoice:
    """What ``backend="auto"`` chose (``name``, one of :data:`CANDIDATES`) and why: the measured
    documents/s of each candidate on the calibration batch, the predictions for graphs not exported,
    and why the others were left out. ``cached``: read from an earlier measurement on this machine."""

    name: str
    reason: str
    docs_per_s: dict[str, float] = field(default_factory=dict)
    predicted_docs_per_s: dict[str, float] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    calibration_seconds: float | None = None
    export_seconds: float | None = None
    cached: bool = False
    cpu: str = ""
    device: str = "cpu"
    threads: int | None = None

    @property
    def backend(self) -> BackendName:
        """The runtime that encodes: ``"torch"``, ``"onnx"`` or ``"remote"``."""
        return check_choice(self.name.split("-")[0], BACKENDS, "backend")

    def __str__(self) -> str:
        figures = ", ".join(f"{name} {value:.2f}" for name, value in self.docs_per_s.items())
        text = f"{self.name}: {self.reason}"
        if figures:
            text += f" (docs/s on the calibration batch: {figures})"
        if self.predicted_docs_per_s:
            text += " (GEMM proxy's prediction for graphs not exported then: " + ", ".join(
                f"{name} {value:.2f}" for name, value in self.predicted_docs_per_s.items()) + ")"
        if self.excluded:
            text += "; left out: " + "; ".join(f"{name}: {why}" for name, why in self.excluded.items())
        return text + (" [measured earlier on this machine]" if self.cached else "")

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__ if key != "cached"}


def device_id(device: str) -> int:
    return int(device.partition(":")[2] or 0) if device.startswith("cuda") else 0


def open_candidates(model: LensModel, fingerprint: str, device: str, threads: int, max_length: int | None
                     ) -> tuple[dict[str, Loaded], dict[str, str], list[str]]:
    """The candidates that can run now, why others cannot, and the graphs not exported yet."""
    loaded: dict[str, Loaded] = {}
    excluded: dict[str, str] = {}
    missing: list[str] = []
    for name in GPU_CANDIDATES if device.startswith("cuda") else CPU_CANDIDATES:
        candidate = CANDIDATES[name]
        graph = find_graph(fingerprint, candidate.dtype) if isinstance(candidate, OnnxCandidate) else None
        if isinstance(candidate, OnnxCandidate) and graph is None:
            missing.append(name)
            continue
        needed = _bytes(model, graph) if name != "torch-fp32" else 0
        if needed and not _fits(needed, device):
            excluded[name] = (f"not measured: it needs about {needed / 2**30:.1f} GiB beside the candidates already "
                              f"open; run backend='{candidate.backend}' on its own to use it")
            continue
        if isinstance(candidate, TorchCandidate):
            # casting fp32 -> bf16 -> fp32 loses bits: a lower precision gets its own copy
            copy_of = model if candidate.dtype == "fp32" else copy.deepcopy(model)
            backend = TorchBackend(copy_of, device, TORCH_DTYPES[candidate.dtype])
            loaded[name] = Loaded(backend, model.tokenizer, model.config, model.cluster_map, fingerprint)
            continue
        assert graph is not None  # an ONNX candidate without its graph was skipped above
        try:
            loaded[name] = load_onnx(graph, provider=candidate.provider, max_length=max_length, threads=threads,
                                     device_id=device_id(device))
        except LensError as exc:  # no onnxruntime, a GPU provider it lacks, a graph it cannot open
            excluded[name] = str(exc)
    return loaded, excluded, missing


def _bytes(model: LensModel, graph: Path | None) -> int:
    """Memory a candidate takes beside the fp32 model: an fp32 copy on its way to bf16/fp16, or its graph's files."""
    if graph is None:
        return sum(t.numel() * 4 for t in model.parameters())
    return sum(p.stat().st_size for p in graph.glob(f"{GRAPH_NAME}*"))


def _fits(needed: int, device: str) -> bool:
    """Whether ``needed`` bytes are free in RAM (unknown: assumed so; on a GPU the weights live on the device)."""
    free = available_memory() if not device.startswith("cuda") else None
    return free is None or free >= MEMORY_HEADROOM * needed


def pick(speed: dict[str, float]) -> tuple[str, str]:
    """The fastest candidate; a lossy one only when :data:`LOSSY_MARGIN` faster than the fastest exact one."""
    exact = max((n for n in speed if CANDIDATES[n].exact), key=speed.__getitem__)
    fastest = max(speed, key=speed.__getitem__)
    if CANDIDATES[fastest].exact:
        return fastest, "the fastest measured"
    if speed[fastest] >= LOSSY_MARGIN * speed[exact]:
        return fastest, f"the fastest measured, {speed[fastest] / speed[exact]:.2f}x {exact}"
    return exact, (f"exact and within {LOSSY_MARGIN - 1:.0%} of the fastest ({fastest}, "
                   f"{speed[fastest] / speed[exact]:.2f}x)")
