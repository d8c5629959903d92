"""The LENS training loop: InfoNCE, LoRA, same-dataset batches, resumable checkpoints, merge at the end."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TypeGuard

import torch
from tqdm.auto import tqdm

from .._errors import LensInputError, LensModelError
from .._model.lens_model import LensModel
from ._adapters import attach_lora, export_adapter, merge_trained
from ._checkpoint import CHECKPOINT_DIR, TrainerState, load_checkpoint, save_checkpoint
from ._config import RESUME_KEYS, TrainConfig, TrainResult
from ._data import Batch, Example, make_batches
from ._loss import collate, info_nce

__all__ = ["train_lora", "amp_dtype", "is_examples", "Run"]

logger = logging.getLogger(__name__)


def train_lora(model: LensModel, examples: list[Example], output_dir: Path, config: TrainConfig, device: str,
               amp: torch.dtype | None, *, resume: bool, merge: bool, show_progress: bool,
               stop_after_step: int | None) -> TrainResult:
    """The paper's recipe: LoRA on the backbone (and the head, if asked), InfoNCE, resumable; see :func:`train`."""
    torch.manual_seed(config.seed)  # the LoRA initialisation: the same run for the same seed
    model = attach_lora(model.to(device), r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout,
                        targets=config.lora_targets, train_head=config.train_head,
                        gradient_checkpointing=config.gradient_checkpointing, init_from=config.init_adapter)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    run = Run(model, optimizer, scaler, config, examples, device, amp, output_dir)
    if resume and (output_dir / CHECKPOINT_DIR).is_dir():
        run.restore()
    losses = run.loop(show_progress, stop_after_step)
    adapter_dir = export_adapter(model, output_dir / "adapter")
    merged = merge_trained(model)
    model_dir = merged.save_pretrained(output_dir / "model") if merge else None
    return TrainResult(run.step, losses, output_dir, adapter_dir, model_dir, merged)




def is_examples(data: object) -> TypeGuard[Sequence[Example]]:
    return isinstance(data, Sequence) and not isinstance(data, str) and bool(data) and isinstance(data[0], Example)


def amp_dtype(precision: str, device: str) -> torch.dtype | None:
    """The autocast dtype, or ``None`` for plain fp32; master weights stay fp32 either way."""
    cuda = device.startswith("cuda")
    if precision == "fp32" or (precision == "auto" and not cuda):
        return None
    if precision == "fp16" and not cuda:
        raise LensInputError("fp16 training needs CUDA; on the CPU use precision='fp32' or 'bf16'.")
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


class Run:
    """The mutable state of one training run: step counter, position in the data, checkpoints."""

    def __init__(self, model: LensModel, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
                 config: TrainConfig, examples: list[Example], device: str, amp: torch.dtype | None,
                 output_dir: Path, embed: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> None:
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
        changed = [k for k in (*RESUME_KEYS, "data_sha1") if saved.get(k) != now.get(k)]
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

    def _train_step(self, batch: Batch) -> float:
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
