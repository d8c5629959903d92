"""Resumable training checkpoints in safetensors + JSON: no pickle anywhere.

A checkpoint directory holds ``trainable.safetensors`` (every trained parameter, fp32, by
name), ``optimizer.safetensors`` (the AdamW moments, flattened as ``state.{param}.{name}``),
and ``trainer_state.json`` (step, epoch, the optimizer's param groups, the grad scaler and the
training config). It is written to a temporary sibling and renamed into place, so a crash while
saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._errors import LensModelError

__all__ = ["TrainerState", "save_checkpoint", "load_checkpoint", "CHECKPOINT_DIR"]

CHECKPOINT_DIR = "checkpoint"
_TRAINABLE = "trainable.safetensors"
_OPTIMIZER = "optimizer.safetensors"
_STATE = "trainer_state.json"


@dataclass(frozen=True, kw_only=True)
class TrainerState:
    """Where training stands: optimizer steps done, and the epoch and batch position to go on from."""

    step: int
    epoch: int
    batch_in_epoch: int
    config: dict[str, Any]
    scaler: dict[str, Any] | None = None


def save_checkpoint(directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: TrainerState) -> Path:
    """Write the checkpoint atomically to ``directory`` (replacing an older one)."""
    from safetensors.torch import save_file

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        trainable = {name: p.detach().float().cpu().contiguous() for name, p in model.named_parameters()
                     if p.requires_grad}
        save_file(trainable, str(staging / _TRAINABLE))
        tensors, groups = _flatten_optimizer(optimizer.state_dict())
        save_file(tensors, str(staging / _OPTIMIZER))
        payload = {"step": state.step, "epoch": state.epoch, "batch_in_epoch": state.batch_in_epoch,
                   "config": state.config, "scaler": state.scaler, "param_groups": groups}
        (staging / _STATE).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        old = directory.with_name(f".{directory.name}-old")
        if directory.exists():
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
        staging.rename(directory)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def load_checkpoint(directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> TrainerState:
    """Restore parameters and optimizer in place; return the state to continue from."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        payload = json.loads((directory / _STATE).read_text())
        trainable = load_file(str(directory / _TRAINABLE))
        tensors = load_file(str(directory / _OPTIMIZER))
    except (OSError, ValueError, SafetensorError) as exc:
        raise LensModelError(f"Cannot read the training checkpoint {directory}: {exc}. "
                             "Delete it to start over, or point to another output directory.") from exc
    params = dict(model.named_parameters())
    expected = {name for name, p in params.items() if p.requires_grad}
    if set(trainable) != expected:
        missing, extra = sorted(expected - set(trainable))[:3], sorted(set(trainable) - expected)[:3]
        raise LensModelError(f"The checkpoint {directory} was made for another model or LoRA setup "
                             f"(missing {missing}, unexpected {extra}).")
    with torch.no_grad():
        for name, value in trainable.items():
            if params[name].shape != value.shape:
                raise LensModelError(f"Checkpoint tensor {name} has shape {tuple(value.shape)}, "
                                     f"the model expects {tuple(params[name].shape)}.")
            params[name].copy_(value.to(params[name].device, params[name].dtype))
    device = next(model.parameters()).device
    optimizer.load_state_dict(_unflatten_optimizer(tensors, payload["param_groups"], device))
    return TrainerState(step=payload["step"], epoch=payload["epoch"], batch_in_epoch=payload["batch_in_epoch"],
                        config=payload["config"], scaler=payload.get("scaler"))


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], list[dict]]:
    tensors: dict[str, torch.Tensor] = {}
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"state.{index}.{name}"] = tensor.detach().cpu().contiguous()
    return tensors, state_dict["param_groups"]


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: list[dict], device: torch.device) -> dict:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        # AdamW keeps 'step' on the CPU (unless capturable); moments live beside the parameters
        state.setdefault(int(index), {})[name] = value if name == "step" else value.to(device)
    return {"state": state, "param_groups": groups}
