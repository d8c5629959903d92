"""The PyTorch backend: a :class:`LensModel` on a device, in a dtype, and how those two are named."""

from __future__ import annotations

import logging
import os

import numpy as np
import torch

from .._errors import LensInputError
from .._model.lens_model import LensModel
from .._vocabulary import PRECISIONS, TORCH_DTYPE_NAMES, Precision, check_choice

__all__ = ["TorchBackend", "resolve_device", "resolve_dtype", "set_torch_threads", "DTYPES", "precision_name"]

logger = logging.getLogger(__name__)

# the precision names of lens_vdb._vocabulary as torch dtypes: the one dtype map
DTYPES: dict[Precision, torch.dtype] = {name: getattr(torch, attribute) for name, attribute in TORCH_DTYPE_NAMES.items()}
_hinted = False


class TorchBackend:
    """The PyTorch model on a device, in a dtype."""

    def __init__(self, model: LensModel, device: str, dtype: torch.dtype) -> None:
        self.model = model.to(device=device, dtype=dtype).eval()
        self.device = device
        self.dtype = dtype

    @torch.inference_mode()
    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        ids = torch.from_numpy(input_ids).to(self.device)
        mask = torch.from_numpy(attention_mask).to(self.device)
        return self.model(ids, mask).float().cpu().numpy()


def resolve_device(device: str | None) -> str:
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LensInputError(f"device={device!r} was asked for, but torch sees no CUDA device; use device='cpu'.")
    return device


def precision_name(dtype: torch.dtype) -> Precision | None:
    """``torch.bfloat16`` -> ``"bf16"``; ``None`` for a dtype without a precision name."""
    return next((name for name, value in DTYPES.items() if value == dtype), None)


def resolve_dtype(dtype: Precision | torch.dtype | None, device: str) -> torch.dtype:
    if dtype is None:
        resolved = torch.float32
    elif isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        resolved = DTYPES[check_choice(dtype, PRECISIONS, "dtype")]
    if resolved == torch.float16 and device == "cpu":
        raise LensInputError("fp16 is for CUDA; on the CPU use dtype='fp32' or 'bf16'.")
    return resolved


def set_torch_threads(threads: int) -> None:
    """Torch's intra-op threads (per process). Says once, at INFO, when OpenMP may spin on a busy machine.

    ``lens_vdb`` asks OpenMP for passive waiting when it is imported before torch
    (:func:`lens_vdb._machine.prefer_passive_openmp`); when torch came first, OpenMP spins and
    several threads can run several times slower on a loaded machine (README "Threads").
    """
    global _hinted
    torch.set_num_threads(threads)
    if threads > 1 and not _hinted and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        _hinted = True
        logger.info("torch runs %d threads with OpenMP spinning while it waits (torch was imported before lens_vdb, "
                    "or OMP_WAIT_POLICY says so); on a busy machine start Python with OMP_WAIT_POLICY=PASSIVE.",
                    threads)
