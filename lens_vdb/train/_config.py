"""What a training run is asked to do (:class:`TrainConfig`) and what it did (:class:`TrainResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._errors import LensInputError
from .._model.lens_model import LensModel
from .._vocabulary import TRAIN_PRECISIONS, TrainPrecision, check_choice
from ._adapters import LORA_TARGETS

__all__ = ["TrainConfig", "TrainResult", "RESUME_KEYS"]

# fields that change what a step computes: a checkpoint made under other values cannot be resumed
RESUME_KEYS = ("batch_size", "negatives", "temperature", "seed", "lora_r", "lora_alpha", "lora_dropout", "lora_targets",
                "train_head", "center_head", "attention", "query_max_length", "doc_max_length", "init_adapter",
                "train_layers", "backbone_layers")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """The LENS recipe (paper defaults) and the run's size. Frozen; copy with ``dataclasses.replace``.

    Attributes:
        epochs / max_steps: passes over the data, or a fixed number of optimizer steps (wins if set).
        batch_size: examples per step, all from one dataset.
        negatives: hard negatives drawn per example (up to; the paper uses 7).
        temperature: InfoNCE temperature over cosine similarities (0.02).
        learning_rate, warmup_steps, weight_decay, max_grad_norm: AdamW with linear warmup and decay.
        lora_r, lora_alpha, lora_dropout, lora_targets: the LoRA adapters (32, 64, 0.1, attention + MLP).
        train_head: also train the centroid head (it is small and shipped with the adapter).
        init_adapter: a LoRA adapter folder to start from (a trained model's; ``None``: a fresh LoRA).
        center_head: subtract the mean row from the head before a fresh run. A k-means head over
            anisotropic token embeddings (SmolLM2's) gives every cluster a positive logit almost
            everywhere: all vectors point the same way (cosines ~0.999) and InfoNCE collapses.
            Centred, a logit says "above the average cluster" and the vectors start sparse.
        attention: override the model's attention (``None`` keeps it; the paper trains bidirectional).
        query_max_length, doc_max_length: token limits, special tokens included.
        gradient_checkpointing: recompute activations in the backward pass to save memory.
        precision: ``"auto"`` = bf16 autocast on CUDA (fp16 where bf16 is missing), fp32 on the CPU.
        device: ``None`` picks CUDA when available.
        save_every: steps between checkpoints (0: only at the end).
        seed: data order, negative draws and dropout all derive from it and the step.
        train_layers: the cheap mode for a CPU (``None``: off, LoRA on every layer). Only the top
            ``train_layers`` decoder layers (fully, no LoRA) and the head train; the layers below
            run once per distinct text and their output is cached on disk, so a step costs a
            fraction of a full one. ``0`` trains the head alone. See :mod:`lens_vdb.train._cached`.
        backbone_layers: with ``train_layers``, keep only the backbone's first layers (a
            shallower, faster model; ``None``: all).
        cache_dir: where the hidden-state cache lives (``None``: ``$LENS_VDB_HOME/hidden-states``);
            runs on the same model and texts share it.
        cache_precision: the cache's dtype; ``"auto"`` = bf16 on CUDA or a CPU with native bf16
            (AVX512-BF16 / AMX), else fp32.
    """

    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 32
    negatives: int = 7
    temperature: float = 0.02
    learning_rate: float = 1e-4
    warmup_steps: int = 50
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] = field(default=LORA_TARGETS)
    train_head: bool = True
    init_adapter: str | None = None
    center_head: bool = True
    attention: Literal["bidirectional", "causal"] | None = None
    query_max_length: int = 128
    doc_max_length: int = 256
    gradient_checkpointing: bool = True
    precision: TrainPrecision = "auto"
    device: str | None = None
    save_every: int = 500
    log_every: int = 10
    seed: int = 0
    train_layers: int | None = None
    backbone_layers: int | None = None
    cache_dir: str | None = None
    cache_precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "lora_r", "lora_alpha", "log_every"):
            if getattr(self, name) < 1:
                raise LensInputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise LensInputError(f"max_steps must be at least 1 (or None), got {self.max_steps}")
        if self.negatives < 0 or self.save_every < 0 or self.warmup_steps < 0:
            raise LensInputError("negatives, save_every and warmup_steps must not be negative")
        if not self.temperature > 0 or not self.learning_rate > 0:
            raise LensInputError("temperature and learning_rate must be positive")
        check_choice(self.precision, TRAIN_PRECISIONS, "precision")
        if self.train_layers is not None and self.train_layers < 0:
            raise LensInputError(f"train_layers must be at least 0 (or None), got {self.train_layers}")
        if self.backbone_layers is not None and (self.train_layers is None or self.backbone_layers < 1):
            raise LensInputError("backbone_layers needs train_layers and must be at least 1, got "
                                 f"{self.backbone_layers}")
        check_choice(self.cache_precision, ("auto", "bf16", "fp16", "fp32"), "cache_precision")
        if self.attention not in (None, "bidirectional", "causal"):
            raise LensInputError(f"attention must be None, 'bidirectional' or 'causal', got {self.attention!r}")


@dataclass(frozen=True)
class TrainResult:
    """What a call to :func:`train` did: the steps reached, this call's losses, and where things are."""

    step: int
    losses: list[float]
    output_dir: Path
    adapter_dir: Path
    model_dir: Path | None
    model: LensModel


