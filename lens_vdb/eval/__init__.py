"""Evaluation harness on real offline data (BBC News): BM25, all-MiniLM-L6-v2, LENS and their hybrids.

    >>> from lens_vdb import LensEncoder
    >>> from lens_vdb.eval import LensSystem, MiniLMSystem, bbc_corpus, evaluate
    >>> report = evaluate(bbc_corpus(limit=500), [LensSystem("LENS", LensEncoder(max_length=256))],
    ...                   dense=MiniLMSystem())
    >>> print(report.table()); report.to_json("eval.json")

Needs rank-bm25 and scikit-learn (``lens-vdb[train]``) and sentence-transformers (``lens-vdb[dense]``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "Corpus": "._harness",
    "EvalReport": "._harness",
    "EvalRow": "._harness",
    "bbc_corpus": "._harness",
    "load_bbc_news": ".._datasets",
    "evaluate": "._harness",
    "LensSystem": "._systems",
    "MiniLMSystem": "._systems",
    "CachedEmbedder": "._systems",
    "bm25_scores": "._systems",
    "retrieval_metrics": "._metrics",
    "rrf_scores": "._metrics",
}

__all__ = [
    "CachedEmbedder",
    "Corpus",
    "EvalReport",
    "EvalRow",
    "LensSystem",
    "MiniLMSystem",
    "bbc_corpus",
    "bm25_scores",
    "evaluate",
    "load_bbc_news",
    "retrieval_metrics",
    "rrf_scores",
]

if TYPE_CHECKING:
    from .._datasets import load_bbc_news
    from ._harness import Corpus, EvalReport, EvalRow, bbc_corpus, evaluate
    from ._metrics import retrieval_metrics, rrf_scores
    from ._systems import CachedEmbedder, LensSystem, MiniLMSystem, bm25_scores


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lens_vdb.eval' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
