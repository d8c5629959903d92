"""Inference backends behind :class:`LensEncoder`. The backend is chosen here and nowhere else."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .._model.identity import model_fingerprint
from .._model.lens_model import LensModel
from .features import positive_int
from .loaded import Loaded

__all__ = ["TorchBackend", "load_backend", "resolve_device", "resolve_dtype", "BackendName"]

BackendName = Literal["torch", "onnx"]
BACKENDS: tuple[str, ...] = ("torch", "onnx")
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class TorchBackend:
    """The PyTorch model on a device, in a dtype."""

    def __init__(self, model: LensModel, device: str, dtype: torch.dtype) -> None:
        self.model = model.to(device=device, dtype=dtype).eval()
        self.device = device

    @torch.inference_mode()
    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        ids = torch.from_numpy(input_ids).to(self.device)
        mask = torch.from_numpy(attention_mask).to(self.device)
        return self.model(ids, mask).float().cpu().numpy()


def resolve_device(device: str | None) -> str:
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but torch sees no CUDA device; use device='cpu'.")
    return device


def resolve_dtype(dtype: str | torch.dtype, device: str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    elif dtype in DTYPES:
        resolved = DTYPES[dtype]
    else:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)} or a torch.dtype, got {dtype!r}")
    if resolved == torch.float16 and device == "cpu":
        raise ValueError("fp16 is for CUDA; on the CPU use dtype='fp32' or 'bf16'.")
    return resolved


def load_backend(name: str, model: LensModel | str | Path, *, device: str | None, dtype: str | torch.dtype,
                 provider: str | None = None, max_length: int | None = None, threads: int | None = None) -> Loaded:
    """The one place a backend name becomes a backend.

    ``"torch"`` takes a :class:`LensModel` or anything :meth:`LensModel.from_pretrained` loads;
    ``"onnx"`` takes a directory written by :func:`lens_vdb.export.export_onnx` and needs no
    torch weights (``provider``: ``"cpu"``, ``"cuda"`` or ``"tensorrt"``; ``device="cuda:N"``
    picks the GPU; the precision was fixed at export, so ``dtype`` stays ``"fp32"``).
    ``max_length``: the longest input the caller sends (TensorRT's shape profile goes up to it).
    ``threads``: CPU threads for the backend (torch's are per process; ONNX Runtime's per session).
    """
    if threads is not None:
        positive_int(threads, "threads")
    if name == "torch":
        if provider is not None:
            raise ValueError("provider= is for backend='onnx'; the torch backend takes device= and dtype=")
        if not isinstance(model, LensModel):
            model = LensModel.from_pretrained(model)
        if threads is not None:
            torch.set_num_threads(threads)
        resolved = resolve_device(device)
        fingerprint = model_fingerprint(model)  # before any cast: the same identity in every dtype
        backend = TorchBackend(model, resolved, resolve_dtype(dtype, resolved))
        return Loaded(backend, model.tokenizer, model.config, model.cluster_map, fingerprint)
    if name == "onnx":
        from .onnx_runtime import load_onnx

        if isinstance(model, LensModel):
            raise ValueError("backend='onnx' takes an exported directory; export it with lens_vdb.export.export_onnx")
        if dtype not in ("fp32", torch.float32):
            raise ValueError(f"dtype={dtype!r} is for backend='torch'; an ONNX graph's precision is fixed when it "
                             "is exported: export_onnx(..., dtype='fp16') or quantize='int8'.")
        on_gpu = device is not None and device.startswith("cuda")
        device_id = int(device.partition(":")[2] or 0) if on_gpu else 0
        return load_onnx(Path(model), provider=provider or ("cuda" if on_gpu else "cpu"), max_length=max_length,
                         device_id=device_id, threads=threads)
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
