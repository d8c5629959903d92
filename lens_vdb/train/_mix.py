"""A training mix: a seeded sample of each source's examples, written as one JSONL file.

The trainer batches by ``dataset`` and shuffles the batches, so the share of each dataset in the
file is its share of the training steps. :func:`write_mix` takes each file's examples (all of
them, or a seeded sample of ``count``), keeps their records as they are, and writes one file
atomically; the same inputs and seed give the same bytes.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path

from .._errors import LensInputError
from .._jsonl import read_jsonl
from ._pairs import _write_jsonl

__all__ = ["write_mix", "count_by_dataset"]


def _records(path: Path) -> list[dict]:
    return [record for _, record in read_jsonl(path, what="Training data file")]


def write_mix(sources: Mapping[str | Path, int | None], path: str | Path, *, seed: int = 0,
              datasets: Mapping[str, int] | None = None) -> dict[str, int]:
    """Write ``path`` with up to ``count`` examples of each source file (``None``: all); return counts by dataset.

    ``datasets`` caps single datasets inside a file (WordNet's file holds four); a source or a
    dataset asked for but absent is an error, not an empty share.
    """
    chosen: list[dict] = []
    for source, count in sources.items():
        records = _records(Path(source))
        rng = random.Random(f"{seed}:{Path(source).name}")
        by_dataset: dict[str, list[dict]] = {}
        for record in records:
            by_dataset.setdefault(record.get("dataset", Path(source).name), []).append(record)
        picked: list[dict] = []
        for name in sorted(by_dataset):
            group = by_dataset[name]
            cap = (datasets or {}).get(name)
            picked += rng.sample(group, min(cap, len(group))) if cap is not None else group
        if count is not None:
            picked = rng.sample(picked, min(count, len(picked)))
        chosen += picked
    missing = set(datasets or {}) - {r.get("dataset") for r in chosen}
    if missing:
        raise LensInputError(f"Datasets {sorted(missing)} are in none of {[str(s) for s in sources]}.")
    random.Random(seed).shuffle(chosen)
    path = Path(path)
    os.replace(_write_jsonl(path, chosen), path)
    return count_by_dataset(chosen)


def count_by_dataset(records: list[dict]) -> dict[str, int]:
    """How many records each dataset has (sorted by name)."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record.get("dataset", "?")] = counts.get(record.get("dataset", "?"), 0) + 1
    return dict(sorted(counts.items()))
