"""The small JSON config saved beside every lens-vdb model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

from .._errors import LensInputError, LensModelError, LensTypeError
from .._files import CONFIG_NAME
from .._instructions import DEFAULT_TASK, TASKS

__all__ = ["LensConfig", "Pooling", "Attention"]

FORMAT_VERSION = 1

Pooling = Literal["max", "sum", "last"]
Attention = Literal["bidirectional", "causal"]
POOLINGS: tuple[str, ...] = ("max", "sum", "last")
ATTENTIONS: tuple[str, ...] = ("bidirectional", "causal")


# the JSON types each field takes (bool is checked apart: it is an int in Python)
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "k": (int,), "hidden_size": (int,), "max_length": (int,), "format_version": (int,),
    "normalize": (bool,), "has_cluster_map": (bool,),
    "pooling": (str,), "attention": (str,), "query_instruction": (str,), "source_format": (str,),
    "base_model": (str, type(None)),
}


@dataclass(frozen=True, kw_only=True)
class LensConfig:
    """What a LENS model is, beyond its backbone weights.

    Attributes:
        k: number of lexicon dimensions (rows of the centroid head).
        hidden_size: the backbone's hidden size (columns of the head).
        pooling: ``"max"`` (the paper's), ``"sum"`` or ``"last"`` (Table 5 ablations).
        attention: ``"bidirectional"`` (the paper's) or ``"causal"`` (ablation).
        normalize: L2-normalise embeddings (the paper does).
        query_instruction: the instruction used when no task is given.
        base_model: where the backbone came from (hub id, path or GGUF file).
        max_length: default truncation length in tokens, special tokens included.
        has_cluster_map: whether the head file holds the cluster-to-token map.
        source_format: ``"lens-vdb"`` or ``"official"``.
    """

    k: int
    hidden_size: int
    pooling: Pooling = "max"
    attention: Attention = "bidirectional"
    normalize: bool = True
    query_instruction: str = field(default_factory=lambda: TASKS[DEFAULT_TASK].instruction)
    base_model: str | None = None
    max_length: int = 512
    has_cluster_map: bool = False
    source_format: str = "lens-vdb"
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        for name, kinds in _FIELD_TYPES.items():
            value = getattr(self, name)
            if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
                wanted = " or ".join("null" if kind is type(None) else kind.__name__ for kind in kinds)
                raise LensTypeError(f"{name} must be {wanted}, got {value!r} ({type(value).__name__})")
        if self.pooling not in POOLINGS:
            raise LensInputError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.attention not in ATTENTIONS:
            raise LensInputError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if self.k < 1 or self.hidden_size < 1:
            raise LensInputError(f"k and hidden_size must be positive, got k={self.k}, hidden_size={self.hidden_size}")
        if self.max_length < 8:
            raise LensInputError(f"max_length must be at least 8 tokens, got {self.max_length}")

    def replace(self, **changes: object) -> LensConfig:
        """A copy with some fields changed (validated again)."""
        return LensConfig(**{**asdict(self), **changes})

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / CONFIG_NAME
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> LensConfig:
        path = Path(directory) / CONFIG_NAME
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:  # ValueError: bad JSON or bad UTF-8
            raise LensModelError(f"Cannot read the LENS config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise LensModelError(f"{path} must hold a JSON object, got {type(data).__name__} {data!r:.40}.")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise LensModelError(f"{path} has unknown keys {sorted(unknown)}; was it written by a newer lens-vdb?")
        if data.get("format_version", 0) > FORMAT_VERSION:
            raise LensModelError(
                f"{path} has format_version {data['format_version']}; this lens-vdb reads up to {FORMAT_VERSION}."
            )
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise LensModelError(f"Invalid LENS config {path}: {exc}") from exc
