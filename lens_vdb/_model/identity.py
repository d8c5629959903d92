"""A LENS model's identity: a short hash of what decides its vectors, the same on every backend.

Vector stores record it with a collection and embedding caches key on it, so that vectors of two
models never end up side by side. It covers the settings that change the vectors (k, hidden
size, pooling, attention, normalisation), the centroid head, and the last parameters of the
backbone (a LoRA merge or fine-tune changes them), always hashed in float32: the same model in
bf16 on a GPU, fp32 on a CPU, or exported to ONNX (the manifest records it) has one identity.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .lens_model import LensModel

__all__ = ["model_fingerprint", "VECTOR_FIELDS"]

VECTOR_FIELDS = ("k", "hidden_size", "pooling", "attention", "normalize")
_BACKBONE_TAIL = 4  # the last parameter tensors: the final norm and the last layer's MLP / norms


def model_fingerprint(model: LensModel) -> str:
    """``"lens-"`` + 24 hex digits of SHA-256 over the vector settings, the head and the backbone's tail."""
    settings = {name: getattr(model.config, name) for name in VECTOR_FIELDS}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    tail = list(model.backbone.named_parameters())[-_BACKBONE_TAIL:]
    for name, tensor in [("head", model.head.weight), *tail]:
        data = tensor.detach().to(device="cpu", dtype=torch.float32).contiguous()
        digest.update(f"{name}:{tuple(data.shape)}".encode())
        digest.update(data.numpy().tobytes())
    return "lens-" + digest.hexdigest()[:24]
