"""Training data: JSONL examples (query, positive, hard negatives, task) and same-dataset batches.

One JSON object per line::

    {"query": "bank", "pos": "a financial institution ...", "neg": ["...", "..."],
     "task": "definition", "dataset": "wordnet-word2def"}

``task`` names an instruction in the registry (:data:`lens_vdb.TASKS`); ``instruction`` gives
free text instead. ``dataset`` groups examples into batches (default: the task or instruction).
``kind`` is ``"retrieval"`` (in-batch negatives), ``"classification"`` or ``"clustering"``
(hard negatives only, as in the official LENS code); by default it follows the task, and for a
symmetric task documents are embedded like queries, exactly as :class:`LensEncoder` does.
``pos`` may be a list (one is drawn per epoch); ``neg`` may be longer than the negatives used
per example (a seeded draw). Files may be gzip-compressed (``.jsonl.gz``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .._errors import LensInputError
from .._instructions import get_task
from .._jsonl import read_jsonl

__all__ = ["Example", "Kind", "load_examples", "parse_example", "make_batches", "Batch"]

Kind = Literal["retrieval", "classification", "clustering"]
KINDS: tuple[str, ...] = ("retrieval", "classification", "clustering")
_NO_IN_BATCH_TASKS = {"classification": "classification", "news-topic": "classification", "clustering": "clustering"}
_FIELDS = {"query", "pos", "neg", "task", "instruction", "dataset", "kind", "symmetric"}


@dataclass(frozen=True, kw_only=True)
class Example:
    """One training example: a query with its instruction, positives and hard negatives."""

    query: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...]
    instruction: str
    dataset: str
    kind: Kind
    symmetric: bool

    @property
    def in_batch_negatives(self) -> bool:
        return self.kind == "retrieval"


@dataclass(frozen=True)
class Batch:
    """Examples of one dataset, trained on together; ``index`` is its place in the epoch."""

    index: int
    examples: tuple[Example, ...]


def parse_example(record: object, *, where: str = "example") -> Example:
    """Validate one decoded JSON record; errors name ``where`` (file and line) and the bad field."""
    if not isinstance(record, dict):
        raise LensInputError(f"{where}: expected a JSON object, got {type(record).__name__}.")
    unknown = set(record) - _FIELDS
    if unknown:
        raise LensInputError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}.")
    query = _text(record.get("query"), f"{where}: 'query'")
    raw_pos = record.get("pos")
    positives = [raw_pos] if isinstance(raw_pos, str) else raw_pos
    if not isinstance(positives, list) or not positives:
        raise LensInputError(f"{where}: 'pos' must be a non-empty string or list of strings.")
    positives = [_text(p, f"{where}: 'pos'[{i}]") for i, p in enumerate(positives)]
    negatives = record.get("neg", [])
    if not isinstance(negatives, list):
        raise LensInputError(f"{where}: 'neg' must be a list of strings.")
    negatives = [_text(n, f"{where}: 'neg'[{i}]") for i, n in enumerate(negatives)]
    instruction, task_name, symmetric = _instruction(record, where)
    kind = record.get("kind", _NO_IN_BATCH_TASKS.get(task_name or "", "retrieval"))
    if kind not in KINDS:
        raise LensInputError(f"{where}: 'kind' must be one of {KINDS}, got {kind!r}.")
    dataset = record.get("dataset", task_name or instruction[:80])
    if not isinstance(dataset, str) or not dataset:
        raise LensInputError(f"{where}: 'dataset' must be a non-empty string.")
    if kind != "retrieval" and not negatives:
        raise LensInputError(f"{where}: {kind} examples get no in-batch negatives, so they need 'neg'.")
    return Example(query=query, positives=tuple(positives), negatives=tuple(negatives), instruction=instruction,
                   dataset=dataset, kind=kind, symmetric=symmetric)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LensInputError(f"{what} must be a non-empty string, got {value!r:.60}.")
    return value


def _instruction(record: dict, where: str) -> tuple[str, str | None, bool]:
    if "instruction" in record:
        if "task" in record:
            raise LensInputError(f"{where}: give 'task' or 'instruction', not both.")
        instruction = record["instruction"]
        if not isinstance(instruction, str):
            raise LensInputError(f"{where}: 'instruction' must be a string.")
        symmetric = record.get("symmetric", False)
        if not isinstance(symmetric, bool):
            raise LensInputError(f"{where}: 'symmetric' must be true or false.")
        return instruction, None, symmetric
    try:
        task = get_task(record.get("task"))
    except ValueError as exc:
        raise LensInputError(f"{where}: {exc}") from None
    return task.instruction, task.name, bool(record.get("symmetric", task.symmetric))


def load_examples(paths: str | Path | Iterable[str | Path]) -> list[Example]:
    """Read and validate JSONL files (``.jsonl`` or ``.jsonl.gz``); the first bad line stops with its number."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    examples: list[Example] = []
    for path in map(Path, paths):
        for number, record in read_jsonl(path, what="Training data file"):
            examples.append(parse_example(record, where=f"{path}:{number}"))
    if not examples:
        raise LensInputError(f"No training examples in {[str(p) for p in paths]}.")
    return examples


def make_batches(examples: list[Example], batch_size: int, *, seed: int, epoch: int) -> list[Batch]:
    """Same-dataset batches in a seeded order: shuffle within each dataset, cut, then shuffle the batches.

    The order depends only on ``seed`` and ``epoch``, so a resumed run sees the same batches.
    A dataset's last, smaller batch is kept.
    """
    rng = random.Random(f"{seed}:{epoch}")
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(example.dataset, []).append(example)
    chunks: list[tuple[Example, ...]] = []
    for name in sorted(groups):
        members = groups[name][:]
        rng.shuffle(members)
        chunks.extend(tuple(members[i : i + batch_size]) for i in range(0, len(members), batch_size))
    rng.shuffle(chunks)
    return [Batch(index, chunk) for index, chunk in enumerate(chunks)]
