"""The LENS training loop: InfoNCE, LoRA, same-dataset batches, resumable checkpoints, merge at the end."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from tqdm.auto import tqdm

from .._errors import LensInputError, LensModelError
from .._model.lens_model import LensModel
from .._vocabulary import TRAIN_PRECISIONS, TrainPrecision, check_choice
from ._adapters import LORA_TARGETS, attach_lora, export_adapter, merge_trained
from ._checkpoint import CHECKPOINT_DIR, TrainerState, load_checkpoint, save_checkpoint
from ._data import Example, load_examples, make_batches
from ._loss import collate, info_nce

__all__ = ["TrainConfig", "TrainResult", "train"]

logger = logging.getLogger(__name__)

# fields that change what a step computes: a checkpoint made under other values cannot be resumed
_RESUME_KEYS = ("batch_size", "negatives", "temperature", "seed", "lora_r", "lora_alpha", "lora_dropout", "lora_targets",
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


def train(
    model: LensModel | str | Path,
    data: str | Path | Sequence[str | Path] | Sequence[Example],
    output_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    resume: bool = True,
    merge: bool = True,
    show_progress: bool = False,
    stop_after_step: int | None = None,
) -> TrainResult:
    """Fine-tune a LENS model with InfoNCE and LoRA; resume from ``output_dir``'s checkpoint if there is one.

    With ``config.train_layers`` set, only the top layers and the head train, over cached
    lower-layer outputs (the cheap mode for a CPU); ``adapter_dir`` is then ``output_dir/top``:
    the trained layers and head (fp16), the small part to keep.

    Writes ``output_dir/checkpoint`` (every ``save_every`` steps and at the end),
    ``output_dir/adapter`` (LoRA adapter + head + config, fp16: the small artifacts) and, with
    ``merge``, ``output_dir/model``: a plain LENS model that :class:`LensEncoder` loads like any other.
    ``stop_after_step`` pauses the run there (checkpoint written; the schedule still aims at the
    full length): call again with the same arguments to go on.
    """
    config = config or TrainConfig()
    output_dir = Path(output_dir)
    examples = list(data) if _is_examples(data) else load_examples(data)  # type: ignore[arg-type]
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    amp = _amp_dtype(config.precision, device)
    if not isinstance(model, LensModel):  # a folder, a hub id, or a name: "default", "default-wordnet-v1"...
        from .._model.default import resolve_model_name

        model = LensModel.from_pretrained(resolve_model_name(model))
    if config.attention is not None:
        model.config = model.config.replace(attention=config.attention)
    if config.center_head:  # on a resumed run the checkpoint's head replaces this anyway
        with torch.no_grad():
            model.head.weight -= model.head.weight.mean(dim=0, keepdim=True)
    if config.train_layers is not None:
        from ._cached import train_cached

        return train_cached(model, examples, output_dir, config, device, amp, resume=resume, merge=merge,
                            show_progress=show_progress, stop_after_step=stop_after_step)
    torch.manual_seed(config.seed)  # the LoRA initialisation: the same run for the same seed
    model = attach_lora(model.to(device), r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout,
                        targets=config.lora_targets, train_head=config.train_head,
                        gradient_checkpointing=config.gradient_checkpointing, init_from=config.init_adapter)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    run = _Run(model, optimizer, scaler, config, examples, device, amp, output_dir)
    if resume and (output_dir / CHECKPOINT_DIR).is_dir():
        run.restore()
    losses = run.loop(show_progress, stop_after_step)
    adapter_dir = export_adapter(model, output_dir / "adapter")
    merged = merge_trained(model)
    model_dir = merged.save_pretrained(output_dir / "model") if merge else None
    return TrainResult(run.step, losses, output_dir, adapter_dir, model_dir, merged)


def _is_examples(data: object) -> bool:
    return isinstance(data, Sequence) and not isinstance(data, str) and bool(data) and isinstance(data[0], Example)


def _amp_dtype(precision: str, device: str) -> torch.dtype | None:
    """The autocast dtype, or ``None`` for plain fp32; master weights stay fp32 either way."""
    cuda = device.startswith("cuda")
    if precision == "fp32" or (precision == "auto" and not cuda):
        return None
    if precision == "fp16" and not cuda:
        raise LensInputError("fp16 training needs CUDA; on the CPU use precision='fp32' or 'bf16'.")
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


class _Run:
    """The mutable state of one training run: step counter, position in the data, checkpoints."""

    def __init__(self, model, optimizer, scaler, config: TrainConfig, examples: list[Example], device: str,
                 amp: torch.dtype | None, output_dir: Path, embed=None) -> None:
        self.model, self.optimizer, self.scaler, self.config = model, optimizer, scaler, config
        self.embed = embed or model  # the cheap mode embeds through the cache and the top stack
        self.examples, self.device, self.amp, self.output_dir = examples, device, amp, output_dir
        self.per_epoch = len(make_batches(examples, config.batch_size, seed=config.seed, epoch=0))
        self.total = config.max_steps or config.epochs * self.per_epoch
        self.step = self.epoch = self.batch_in_epoch = 0
        self.fingerprint = _fingerprint(examples)

    def _state_config(self) -> dict:
        data = asdict(self.config)
        data["lora_targets"] = list(self.config.lora_targets)
        return {**data, "examples": len(self.examples), "data_sha1": self.fingerprint}

    def restore(self) -> None:
        state = load_checkpoint(self.output_dir / CHECKPOINT_DIR, self.model, self.optimizer)
        saved, now = state.config, self._state_config()
        changed = [k for k in (*_RESUME_KEYS, "data_sha1") if saved.get(k) != now.get(k)]
        if changed:
            raise LensInputError(
                f"The checkpoint in {self.output_dir} was made with other settings or data ({', '.join(changed)}). "
                "Use the same ones to resume, or another output directory (or resume=False) to start over.")
        if self.scaler is not None and state.scaler:
            self.scaler.load_state_dict(state.scaler)
        self.step, self.epoch, self.batch_in_epoch = state.step, state.epoch, state.batch_in_epoch
        logger.info("Resuming from step %d (epoch %d, batch %d).", self.step, self.epoch, self.batch_in_epoch)

    def save(self) -> None:
        scaler = self.scaler.state_dict() if self.scaler is not None else None
        state = TrainerState(step=self.step, epoch=self.epoch, batch_in_epoch=self.batch_in_epoch,
                             config=self._state_config(), scaler=scaler)
        save_checkpoint(self.output_dir / CHECKPOINT_DIR, self.model, self.optimizer, state)

    def loop(self, show_progress: bool, stop_after_step: int | None = None) -> list[float]:
        self.model.train()
        losses: list[float] = []
        log = _Log(self.output_dir / "train_log.jsonl")
        bar = tqdm(total=self.total, initial=self.step, disable=not show_progress, desc="LENS train", unit="step")
        end = min(self.total, stop_after_step or self.total)
        while self.step < end:
            batches = make_batches(self.examples, self.config.batch_size, seed=self.config.seed, epoch=self.epoch)
            while self.batch_in_epoch < len(batches) and self.step < end:
                loss = self._train_step(batches[self.batch_in_epoch])
                self.step += 1
                self.batch_in_epoch += 1
                losses.append(loss)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if self.step % self.config.log_every == 0 or self.step == self.total:
                    log.write(self.step, self.epoch, losses[-self.config.log_every:], self._lr(self.step - 1))
                if self.config.save_every and self.step % self.config.save_every == 0:
                    self.save()
            if self.batch_in_epoch >= len(batches):
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        bar.close()
        self.save()
        self.model.eval()
        return losses

    def _lr(self, step: int) -> float:
        warmup = min(self.config.warmup_steps, max(1, self.total // 10))
        if step < warmup:
            return self.config.learning_rate * (step + 1) / warmup
        return self.config.learning_rate * max(0.0, (self.total - step) / max(1, self.total - warmup))

    def _train_step(self, batch) -> float:
        config = self.config
        torch.manual_seed(config.seed * 1_000_003 + self.step)  # dropout: the same on a resumed run
        rng = random.Random(f"{config.seed}:{self.epoch}:{batch.index}")
        tensors = collate(batch, self.model.tokenizer, negatives=config.negatives, rng=rng,
                          query_max_length=config.query_max_length, doc_max_length=config.doc_max_length)
        tensors = tensors.to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr(self.step)
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.autocast(device_type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            queries = self.embed(tensors.query_ids, tensors.query_mask)
            documents = self.embed(tensors.doc_ids, tensors.doc_mask)
            loss = info_nce(queries, documents, tensors.positive, tensors.allowed, config.temperature)
        if not torch.isfinite(loss):
            raise LensModelError(f"The loss became {loss.item()} at step {self.step}; lower the learning rate "
                                 "or use precision='bf16' / 'fp32'.")
        self.optimizer.zero_grad(set_to_none=True)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            self.optimizer.step()
        return float(loss.detach())


class _Log:
    """Appends one JSON line per ``log_every`` steps: step, epoch, mean loss, learning rate, wall time."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.start = path, time.perf_counter()

    def write(self, step: int, epoch: int, losses: list[float], lr: float) -> None:
        row = {"step": step, "epoch": epoch, "loss": sum(losses) / len(losses), "lr": lr,
               "seconds": round(time.perf_counter() - self.start, 2)}
        logger.info("step %(step)d epoch %(epoch)d loss %(loss).4f lr %(lr).2e", row)
        with self.path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


def _fingerprint(examples: list[Example]) -> str:
    digest = hashlib.sha1()
    for example in examples:
        digest.update(example.query.encode())
        digest.update(example.positives[0].encode())
        digest.update(example.dataset.encode())
    return digest.hexdigest()
