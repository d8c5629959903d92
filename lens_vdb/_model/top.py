"""A model's trained top: the tensors the CPU training mode trains (top decoder layers, head), loaded into a start model.

``lens_vdb.train``'s cheap mode (``TrainConfig(train_layers=N)``) trains only the top ``N`` decoder
layers and the head, optionally of a shallower backbone (its first layers), and saves just those
tensors (``trained.safetensors``, fp16) with ``top.json`` saying what they apply to. The core needs
to read them back without the train extra: a shipped default version is a base version plus such a
top (:mod:`lens_vdb._model.default`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .._errors import LensInputError, LensModelError
from .lens_model import LensModel

__all__ = ["TOP_WEIGHTS", "TOP_INFO", "apply_trained", "backbone_layers", "decoder_layers", "shorten_backbone"]

TOP_WEIGHTS = "trained.safetensors"
TOP_INFO = "top.json"


def decoder_layers(backbone: nn.Module) -> nn.ModuleList:
    """The backbone's decoder layers (``backbone.layers`` for Llama/Mistral/Qwen2-style models)."""
    layers = getattr(backbone, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise LensInputError(f"{type(backbone).__name__} has no 'layers' list of decoder layers; the cached-layer "
                             "training mode supports Llama, Mistral and Qwen2-style decoders.")
    return layers


def backbone_layers(model: LensModel) -> int:
    """How many decoder layers the model's backbone has."""
    return len(decoder_layers(model.backbone))


def shorten_backbone(model: LensModel, layers: int) -> None:
    """Keep the first ``layers`` decoder layers of the backbone (in place); the config follows."""
    total = backbone_layers(model)
    if not 1 <= layers <= total:
        raise LensInputError(f"backbone_layers must be between 1 and {total} (the model's layers), got {layers}.")
    if layers < total:
        model.backbone.layers = torch.nn.ModuleList(list(decoder_layers(model.backbone))[:layers])
        model.backbone.config.num_hidden_layers = layers
        if hasattr(model.backbone.config, "layer_types") and model.backbone.config.layer_types:
            model.backbone.config.layer_types = model.backbone.config.layer_types[:layers]


def apply_trained(model: LensModel, weights: str | Path) -> LensModel:
    """Load trained tensors (a checkpoint's ``trainable.safetensors`` or ``top/trained.safetensors``) into
    ``model`` in place, shortening its backbone first if they were trained on a shallower one."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(weights)
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise LensModelError(f"Cannot read the trained tensors {path}: {exc}") from exc
    info = path.parent / TOP_INFO
    if info.is_file():
        shorten_backbone(model, json.loads(info.read_text())["backbone_layers"])
    params = dict(model.named_parameters())
    unknown = sorted(set(tensors) - set(params))
    if unknown:
        raise LensModelError(f"{path} holds tensors this model lacks ({unknown[:3]}): trained on another model?")
    with torch.no_grad():
        for name, value in tensors.items():
            if params[name].shape != value.shape:
                raise LensModelError(f"{path}: {name} has shape {tuple(value.shape)}, the model "
                                     f"{tuple(params[name].shape)}.")
            params[name].copy_(value.to(params[name].dtype))
    return model
