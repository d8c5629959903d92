"""Cheap training for a CPU: the lower layers run once per text (cached on disk), only the top layers train.

``TrainConfig(train_layers=N)`` selects this mode in :func:`lens_vdb.train.train`. The bottom
``layers - N`` decoder layers are frozen; their output for every distinct query and passage is
computed once (:mod:`._hidden_cache`, bf16 where the CPU has native bf16) and reused by every
step, epoch and later run on the same model and data. A step then costs only the top ``N``
layers, the head and the loss, so batches can be large (more in-batch negatives) and epochs many.
``N=0`` trains the head alone on the cached final hidden states. ``backbone_layers=M`` keeps only
the first ``M`` layers of the backbone (a shallower, faster model), the top ``N`` of those training.

Batches are drawn exactly as the full trainer draws them (same datasets, positives, negatives,
in-batch rules), checkpoints and resume are the same, and the result is a plain LENS model
folder (``model/``) plus the small trained part (``top/``: the trained layers and head).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from .._errors import LensInputError, LensModelError
from .._files import cache_home
from .._inference.features import tokenize_documents, tokenize_queries
from .._model.lens_model import LensModel
from .._model.top import TOP_INFO, TOP_WEIGHTS, apply_trained, backbone_layers, shorten_backbone
from ._config import TrainConfig, TrainResult
from ._data import Example
from ._hidden_cache import STORAGE_DTYPES, HiddenCache, fill_caches
from ._split import TopStack, decoder_layers
from ._trainer import Run

__all__ = ["train_cached", "prepare_cached", "CachedStep", "apply_trained", "save_top", "cache_storage", "texts_to_cache",
           "TOP_DIR", "TOP_WEIGHTS"]

logger = logging.getLogger(__name__)

TOP_DIR = "top"


def cache_storage(precision: str, device: str) -> str:
    """The cache's dtype: bf16 on CUDA or where this CPU computes bf16 natively (AVX512-BF16, AMX), else fp32."""
    if precision in ("bf16", "fp32", "fp16"):
        return precision
    if device.startswith("cuda"):
        return "bf16"
    from .._machine import cpu_info

    return "bf16" if {"avx512_bf16", "amx_bf16"} & set(cpu_info().flags) else "fp32"


def texts_to_cache(model: LensModel, examples: list[Example], *, query_max_length: int, doc_max_length: int
                   ) -> list[list[int]]:
    """The token ids of every query and passage the trainer can draw, tokenized as :func:`collate` does."""
    tokenizer = model.tokenizer
    queries: dict[str, set[str]] = {}
    documents: set[str] = set()
    for example in examples:
        queries.setdefault(example.instruction, set()).add(example.query)
        for text in (*example.positives, *example.negatives):
            if example.symmetric:
                queries[example.instruction].add(text)
            else:
                documents.add(text)
    symmetric = {example.instruction for example in examples if example.symmetric}
    sequences: list[list[int]] = []
    for instruction, texts in sorted(queries.items()):
        ordered = sorted(texts)
        lengths = (query_max_length, doc_max_length) if instruction in symmetric else (query_max_length,)
        for length in lengths:
            for start in range(0, len(ordered), 1024):
                sequences += tokenize_queries(tokenizer, ordered[start : start + 1024], instruction, length).ids
    ordered = sorted(documents)
    for start in range(0, len(ordered), 1024):
        sequences += tokenize_documents(tokenizer, ordered[start : start + 1024], doc_max_length).ids
    return sequences


def prepare_cached(model: LensModel, examples: list[Example], config: TrainConfig, device: str, *, show_progress: bool = False
                   ) -> tuple[TopStack, HiddenCache]:
    """Shorten the backbone if asked, fill the cache, freeze the lower layers; return the top stack and cache."""
    if config.backbone_layers is not None:
        shorten_backbone(model, config.backbone_layers)
    total, layers = backbone_layers(model), config.train_layers
    if layers is None or not 0 <= layers <= total:
        raise LensInputError(f"train_layers must be between 0 and {total} (the backbone's layers), got {layers}.")
    start = total - layers
    storage = cache_storage(config.cache_precision, device)
    root = Path(config.cache_dir) if config.cache_dir else cache_home() / "hidden-states"
    cache = HiddenCache(root, model, start, storage=storage)
    sequences = texts_to_cache(model, examples, query_max_length=config.query_max_length,
                               doc_max_length=config.doc_max_length)
    bar = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"caching layer {start}", unit="text")

    def progress(done: int, total_todo: int) -> None:
        if bar is not None:
            bar.total = total_todo
            bar.n = done
            bar.refresh()

    computed = fill_caches(model, [cache], sequences, dtype=STORAGE_DTYPES[storage], progress=progress)
    if bar is not None:
        bar.close()
    logger.info("Hidden-state cache %s: %d sequences computed, %d stored.", cache.directory, computed, len(cache))
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for block in list(decoder_layers(model.backbone))[start:]:
        block.requires_grad_(True)
    model.head.weight.requires_grad_(config.train_head)
    if not any(p.requires_grad for p in model.parameters()):
        raise LensInputError("train_layers=0 with train_head=False leaves nothing to train.")
    return TopStack(model, start).to(device), cache


class CachedStep:
    """Embeds the padded token ids of a collated batch through the cache and the top stack.

    Rows are embedded independently, so they run in groups of similar length (``rows`` each),
    each padded only to its own longest: a batch of mixed lengths wastes little on padding.
    """

    def __init__(self, top: TopStack, cache: HiddenCache, device: str, *, rows: int = 16) -> None:
        self.top, self.cache, self.device, self.rows = top, cache, device, rows

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        lengths = attention_mask.sum(dim=1).tolist()
        order = sorted(range(len(lengths)), key=lambda row: lengths[row])
        parts = []
        for start in range(0, len(order), self.rows):
            group = order[start : start + self.rows]
            width = max(lengths[row] for row in group)
            hidden = torch.zeros((len(group), width, self.cache.hidden), dtype=torch.float32)
            for slot, row in enumerate(group):
                ids = input_ids[row, : lengths[row]].tolist()
                try:
                    hidden[slot, : lengths[row]] = self.cache.get(ids).float()
                except KeyError:
                    raise LensModelError(f"A {lengths[row]}-token text of this batch is missing from the hidden-state "
                                         f"cache {self.cache.directory}; was the data changed during the run?") from None
            rows, mask = input_ids[group, :width].to(self.device), attention_mask[group, :width].to(self.device)
            parts.append(self.top(hidden.to(self.device), rows, mask))
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        return torch.cat(parts)[inverse.to(self.device)]


def save_top(model: LensModel, top: TopStack, directory: str | Path, *, start_model: str | None = None) -> Path:
    """Write the trained part only: the trainable tensors (fp16), the LENS config and what they apply to."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {name: p.detach().to("cpu", torch.float16).contiguous() for name, p in model.named_parameters()
               if p.requires_grad}
    save_file(tensors, str(directory / TOP_WEIGHTS), metadata={"format": "lens-vdb-top"})
    model.config.save(directory)
    info = {"start_model": start_model, "backbone_layers": backbone_layers(model),
            "trained_layers": [top.start, top.end], "train_head": bool(model.head.weight.requires_grad)}
    (directory / TOP_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return directory


def train_cached(model: LensModel, examples: list[Example], output_dir: Path, config: TrainConfig, device: str,
                 amp: torch.dtype | None, *, resume: bool, merge: bool, show_progress: bool,
                 stop_after_step: int | None) -> TrainResult:
    """The cheap mode: fill the hidden-state cache, then train the top stack with the same loop."""
    from ._checkpoint import CHECKPOINT_DIR

    model = model.to(device)
    top, cache = prepare_cached(model, examples, config, device, show_progress=show_progress)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    run = Run(model, optimizer, scaler, config, examples, device, amp, output_dir, embed=CachedStep(top, cache, device))
    if resume and (output_dir / CHECKPOINT_DIR).is_dir():
        run.restore()
    losses = run.loop(show_progress, stop_after_step)
    top_dir = save_top(model, top, output_dir / TOP_DIR, start_model=model.config.base_model)
    model_dir = model.save_pretrained(output_dir / "model") if merge else None
    return TrainResult(run.step, losses, output_dir, top_dir, model_dir, model.eval())
