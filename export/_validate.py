"""Validation of an exported graph against the torch model it came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lens_vdb import LensModel, LensModelError
from lens_vdb._files import GRAPH_NAME
from lens_vdb._inference.backends import TorchBackend
from lens_vdb._inference.features import pad_batch, tokenize_documents, tokenize_queries
from lens_vdb._inference.onnx_runtime import open_graph

__all__ = ["validate_export", "ValidationReport", "VALIDATION_QUERIES", "VALIDATION_DOCUMENTS"]

VALIDATION_QUERIES = ["bank rates", "who won the cup final at Wembley after extra time and penalties", "fox"]
VALIDATION_DOCUMENTS = [
    "The Bank of England raised interest rates to curb inflation, the third rise this year.",
    "Chelsea won.",
    " ".join(["Hybrid search fuses sparse and dense scores with reciprocal rank fusion."] * 6),
    "Stocks fell sharply as investors worried about growth, oil prices and the strength of the dollar.",
]
LONG_DOCUMENT = " ".join(["The quick brown fox jumps over the lazy dog near the river bank at dawn."] * 60)
FP32_MAX_ABS_DIFF = 1e-4
LOSSY_MIN_COSINE = 0.99
BIDIRECTIONAL_MIN_CHANGE = 1e-5


@dataclass(frozen=True)
class ValidationReport:
    max_abs_diff: float
    min_cosine: float
    texts: int


def validate_export(model: LensModel, directory: Path, *, texts: list[str] | None = None,
                    fp32: bool) -> ValidationReport:
    """Encode fixed queries and documents (and ``texts``) with torch and ONNX Runtime; raise if they disagree.

    The documents run from two words to ``max_length`` tokens (where fp16 overflows would show),
    in batches of several sizes other than the trace's. A bidirectional model's graph must also
    react to a later token at earlier positions (see :func:`_check_bidirectional`).
    """
    reference = TorchBackend(model, "cpu", model.head.weight.dtype)
    exported = open_graph(directory / GRAPH_NAME, k=model.k)
    documents = VALIDATION_DOCUMENTS + [LONG_DOCUMENT] + list(texts or [])
    batches = [tokenize_queries(model.tokenizer, VALIDATION_QUERIES, model.config.query_instruction, 128),
               tokenize_documents(model.tokenizer, documents, model.config.max_length),
               tokenize_documents(model.tokenizer, documents[-1:], model.config.max_length)]  # a batch of one
    pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else model.tokenizer.eos_token_id
    expected, got = [], []
    for batch in batches:  # batch sizes and lengths other than the trace-time ones
        input_ids, attention_mask = pad_batch(batch.ids, pad)
        expected.append(reference.run(input_ids, attention_mask))
        got.append(exported.run(input_ids, attention_mask))
    want, have = np.vstack(expected), np.vstack(got)
    max_abs_diff = float(np.abs(want - have).max())
    norms = np.linalg.norm(want, axis=1) * np.linalg.norm(have, axis=1)
    min_cosine = float(((want * have).sum(axis=1) / np.maximum(norms, 1e-12)).min())
    if fp32 and max_abs_diff > FP32_MAX_ABS_DIFF:
        raise LensModelError(f"The fp32 graph differs from torch by {max_abs_diff:.2e} (> {FP32_MAX_ABS_DIFF}); "
                             "not written.")
    if min_cosine < LOSSY_MIN_COSINE:
        raise LensModelError(f"The exported graph's cosine to torch fell to {min_cosine:.4f} "
                             f"(< {LOSSY_MIN_COSINE}); not written.")
    if model.config.attention == "bidirectional":
        _check_bidirectional(exported, model.tokenizer, VALIDATION_DOCUMENTS[0])
    return ValidationReport(max_abs_diff, min_cosine, len(want))


def _check_bidirectional(exported: Any, tokenizer: Any, text: str) -> None:
    """Change only a document's last content token: it is never pooled itself (shift by one), so only
    attention to it from earlier positions can move the vector. A causal graph would not move.

    Torch and the graph share the 4-D mask path, so comparing them cannot show a backbone that
    ignores the mask; this probe of the graph alone can.
    """
    (ids,) = tokenize_documents(tokenizer, [text], 64).ids
    changed = list(ids)
    changed[-2] = ids[1] if ids[1] != ids[-2] else ids[2]
    input_ids = np.array([ids, changed], dtype=np.int64)
    vectors = exported.run(input_ids, np.ones_like(input_ids))
    if np.abs(vectors[0] - vectors[1]).max() <= BIDIRECTIONAL_MIN_CHANGE:
        raise LensModelError("The exported graph is causal: a later token does not change earlier positions, "
                             "but the model is bidirectional (the backbone ignored the 4-D attention mask); "
                             "not written.")
