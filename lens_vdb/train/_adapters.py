"""LoRA through peft on a LENS backbone: attach, export the small artifacts, merge into a plain model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch

from .._deps import require
from .._errors import LensModelError
from .._files import HEAD_NAME
from .._model.lens_model import LensModel
from .._model.lora import ADAPTER_CONFIG, ADAPTER_WEIGHTS

if TYPE_CHECKING:
    from types import ModuleType

    from peft import LoraConfig, PeftModel

__all__ = ["attach_lora", "export_adapter", "merge_trained", "LORA_TARGETS"]

# attention and MLP projections of Llama/Mistral/Qwen2-style decoders
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def attach_lora(model: LensModel, *, r: int, alpha: int, dropout: float, targets: tuple[str, ...],
                train_head: bool, gradient_checkpointing: bool, init_from: str | Path | None = None) -> LensModel:
    """Freeze the backbone, wrap it with LoRA adapters, and leave the head trainable if asked.

    ``init_from``: a LoRA adapter folder (``export_adapter``'s, e.g. a shipped default model's) whose
    weights start the adapters instead of peft's zero update: training goes on from that model.
    """
    peft = require("peft", "train")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    backbone = model.backbone
    if gradient_checkpointing:
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    config = peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets), bias="none")
    peft_model = peft.get_peft_model(backbone, config)
    model.backbone = peft_model
    if init_from is not None:
        _load_adapter(peft_model, Path(init_from), peft)
    model.head.weight.requires_grad_(train_head)
    return model


def _load_adapter(peft_model: PeftModel, directory: Path, peft: ModuleType) -> None:
    from safetensors.torch import load_file

    try:
        saved = json.loads((directory / ADAPTER_CONFIG).read_text())
        tensors = load_file(str(directory / ADAPTER_WEIGHTS))
    except (OSError, ValueError) as exc:
        raise LensModelError(f"Cannot read the LoRA adapter to start from in {directory}: {exc}") from exc
    config = cast("LoraConfig", peft_model.peft_config["default"])  # attach_lora's config
    if (saved.get("r"), saved.get("lora_alpha")) != (config.r, config.lora_alpha):
        raise LensModelError(f"The adapter in {directory} has r={saved.get('r')}, alpha={saved.get('lora_alpha')}; "
                             f"this run uses r={config.r}, alpha={config.lora_alpha}: use the same to go on from it.")
    result = peft.set_peft_model_state_dict(peft_model, tensors)
    lora_missing = [k for k in result.missing_keys if "lora_" in k]
    if lora_missing or result.unexpected_keys:
        raise LensModelError(f"The adapter in {directory} does not fit this model's LoRA layers "
                             f"(missing {lora_missing[:3]}, unexpected {list(result.unexpected_keys)[:3]}).")


def export_adapter(model: LensModel, directory: str | Path, *, dtype: torch.dtype = torch.float16) -> Path:
    """Write what a trained model adds to its base: the LoRA adapter, the head (+ cluster map) and config.

    These few tens of MB are all that must be kept or shipped: base weights + this = the model.
    """
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    peft_model = cast("PeftModel", model.backbone)  # attach_lora wrapped the backbone
    weights = {k: v.detach().to("cpu", dtype).contiguous() for k, v in get_peft_model_state_dict(peft_model).items()}
    save_file(weights, str(directory / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    config = peft_model.peft_config["default"].to_dict()
    config = {k: sorted(v) if isinstance(v, set) else v for k, v in config.items()}
    (directory / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
    head = {"weight": model.head.weight.detach().to("cpu", dtype).contiguous()}
    if model.cluster_map is not None:
        head |= model.cluster_map.tensors(token_dtype=torch.int32)
    save_file(head, str(directory / HEAD_NAME), metadata={"format": "lens-vdb"})
    model.config.replace(has_cluster_map=model.cluster_map is not None).save(directory)
    return directory


def merge_trained(model: LensModel) -> LensModel:
    """A plain :class:`LensModel` with the LoRA updates merged into the backbone (no peft at load time)."""
    backbone = model.backbone
    merge_and_unload = getattr(backbone, "merge_and_unload", None)  # peft's wrapper has it, a plain backbone not
    if merge_and_unload is not None:
        backbone = merge_and_unload()
    if getattr(backbone, "is_gradient_checkpointing", False):
        backbone.gradient_checkpointing_disable()
    head = model.head.weight.detach().clone()
    merged = LensModel(backbone, head, model.config, model.tokenizer, model.cluster_map)
    return merged.eval()
