"""The manifest every export writes: what was exported, how, and how well it matched torch."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

__all__ = ["Manifest", "model_hash"]


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Written as ``manifest.json`` beside ``model.onnx`` only after validation passed."""

    format: str = "lens-vdb-onnx"
    version: int = 1
    source_model_hash: str
    base_model: str | None
    k: int
    opset: int
    dtype: str
    quantize: str | None
    max_abs_diff: float
    min_cosine: float
    validated_texts: int
    external_data: bool

    def save(self, directory: Path) -> Path:
        path = directory / "manifest.json"
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path


def model_hash(model: torch.nn.Module) -> str:
    """SHA-256 over every parameter and buffer (name, dtype, shape, bytes), in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()
