"""How a LENS model is best fused with a dense route: measured once, kept in the model's folder.

LENS and a dense model fuse well or badly depending on how good each route is: plain RRF at 1:1
lets a weak route pull the stronger one down (the wordnet-v1 default: RRF 0.714 MRR@10 on BBC News
against MiniLM's 0.893 alone), a weighted sum or a weighted RRF does not. ``lens-vdb calibrate``
(:func:`lens_vdb.eval.calibrate_fusion`) measures every fusion on held-out data and writes the
winner as ``lens_fusion.json`` beside the model. The encoder reads it (``LensEncoder.fusion``); a
hybrid search with no ``fusion=`` of its own then fuses so, when its dense model is the one the
record was measured with (else the old default, RRF at 1:1).

The record is apart from ``lens_config.json`` on purpose: it changes how results are fused, not
the model, so the model's fingerprint (and every collection that records it) stays the same.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._errors import LensInputError, LensModelError
from .._vocabulary import DEFAULT_FUSION, DEFAULT_RRF_K, FUSIONS, Fusion, check_choice

__all__ = ["FUSION_FILE", "FusionRecord", "read_fusion", "fusion_to_run"]

FUSION_FILE = "lens_fusion.json"
FORMAT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class FusionRecord:
    """The fusion measured best for a LENS model with one dense model.

    Attributes:
        fusion: ``"rrf"``, ``"dbsf"`` or ``"weighted"``, as a connector's ``search(fusion=)`` takes it.
        weights: (LENS, dense) route weights, as ``search(weights=)`` takes them.
        rrf_k: RRF's constant.
        dense_model: the dense model it was measured with (a connector's ``dense`` name, e.g.
            ``"sentence-transformers/all-MiniLM-L6-v2"``); another dense model does not use the record.
        measured_on: the data it was measured on (name, queries, documents): never the data its
            figures are reported on.
        scores: MRR@10 of each fusion tried there, by label (``"weighted 0.3:0.7"``), and of each route alone.
    """

    fusion: Fusion
    weights: tuple[float, float] = (1.0, 1.0)
    rrf_k: int = DEFAULT_RRF_K
    dense_model: str
    measured_on: str
    scores: dict[str, float] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        check_choice(self.fusion, FUSIONS, "fusion")
        weights = tuple(self.weights)
        if len(weights) != 2 or not all(isinstance(w, (int, float)) and math.isfinite(w) and w >= 0 for w in weights) \
                or sum(weights) == 0:
            raise LensInputError(f"weights must be two finite numbers >= 0, not both 0; got {self.weights!r}")
        object.__setattr__(self, "weights", (float(weights[0]), float(weights[1])))
        if not isinstance(self.rrf_k, int) or isinstance(self.rrf_k, bool) or self.rrf_k < 1:
            raise LensInputError(f"rrf_k must be a positive int, got {self.rrf_k!r}")
        if not self.dense_model or not isinstance(self.dense_model, str):
            raise LensInputError("dense_model must name the dense model the record was measured with")

    @property
    def label(self) -> str:
        """``"weighted 0.3:0.7"``, ``"rrf 1:1"``, ``"dbsf"``: the fusion and its weights."""
        if self.fusion == "dbsf":
            return "dbsf"
        return f"{self.fusion} {self.weights[0]:g}:{self.weights[1]:g}"

    def search_options(self) -> dict[str, Any]:
        """The keywords a connector's ``search`` takes for this fusion."""
        options: dict[str, Any] = {"fusion": self.fusion}
        if self.fusion != "dbsf":
            options["weights"] = self.weights
        if self.fusion == "rrf":
            options["rrf_k"] = self.rrf_k
        return options

    def save(self, directory: str | Path) -> Path:
        """Write ``lens_fusion.json`` into ``directory`` (whole, then renamed into place)."""
        path = Path(directory) / FUSION_FILE
        temporary = path.with_name(f".{FUSION_FILE}.tmp")
        data = asdict(self) | {"weights": list(self.weights)}
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        temporary.replace(path)
        return path


def read_fusion(directory: str | Path | None) -> FusionRecord | None:
    """The fusion record in a model folder; ``None`` where there is none (or no folder). A record that
    cannot be read is a :class:`LensModelError` naming the file: a model that says how to fuse must not
    silently fuse otherwise."""
    if directory is None or not (Path(directory) / FUSION_FILE).is_file():
        return None
    path = Path(directory) / FUSION_FILE
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise LensInputError(f"a JSON object is expected, got {type(data).__name__}")
        if data.get("format_version", 0) > FORMAT_VERSION:
            raise LensInputError(f"format_version {data['format_version']} is newer than this lens-vdb reads "
                             f"({FORMAT_VERSION}); upgrade lens-vdb")
        data["weights"] = tuple(data.get("weights", (1.0, 1.0)))
        return FusionRecord(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise LensModelError(f"Cannot read the fusion record {path}: {exc}. Measure it again with "
                             f"`lens-vdb calibrate`, or delete the file to fuse with RRF at 1:1.") from None


def fusion_to_run(record: FusionRecord | None, dense_model: str, *, fusion: Fusion | None = None,
                  weights: tuple[float, float] | None = None, rrf_k: int | None = None
                  ) -> tuple[Fusion, tuple[float, float], int]:
    """The fusion a hybrid search runs, its (LENS, dense) weights and RRF constant: the one rule every hybrid
    route follows (the connectors' ``search``, the LangChain and LlamaIndex retrievers):

    1. ``fusion`` given: that fusion, with the ``weights`` / ``rrf_k`` given (else 1:1 and 60);
    2. else, when the LENS model carries a ``record`` measured with ``dense_model`` and no ``weights`` are
       given: the record's fusion, weights and constant (``rrf_k`` given still wins);
    3. else RRF, with the ``weights`` given (else 1:1).
    """
    k = rrf_k if rrf_k is not None else (record.rrf_k if record is not None else DEFAULT_RRF_K)
    if fusion is None and weights is None and record is not None and record.dense_model == dense_model:
        return record.fusion, record.weights, k
    return fusion or DEFAULT_FUSION, weights if weights is not None else (1.0, 1.0), \
        rrf_k if rrf_k is not None else DEFAULT_RRF_K
