"""Evaluation on your own data: BM25, a dense model, LENS models and their hybrids side by side.

    >>> from lens_vdb import LensEncoder
    >>> from lens_vdb.eval import LensSystem, MiniLMSystem, evaluate, load_beir
    >>> corpus = load_beir("my-corpus/")            # corpus.jsonl, queries.jsonl, qrels/test.tsv (graded)
    >>> report = evaluate(corpus, [LensSystem("LENS", LensEncoder(max_length=256))], dense=MiniLMSystem())
    >>> print(report.table()); report.to_json("eval.json"); report.plot("eval.png")

Corpora: a BEIR folder (:func:`load_beir`), known-item pairs with distractors
(:meth:`Corpus.known_item`), BBC News (:func:`bbc_corpus`) or the Perl FAQ
(:func:`perl_faq_corpus`, question -> answer, in no training source). Measures (MRR@10, graded nDCG@10,
Recall@10/100, MAP) come from ir-measures, with bootstrap intervals; hybrids fuse as the
connectors do (RRF, DBSF, weighted), and ``lens_vdb.connectors.ConnectorRetriever`` measures a
real engine's hybrid search. Needs ``lens-vdb[eval]`` (and ``lens-vdb[dense]`` for MiniLM).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY = {
    "Corpus": "._corpus",
    "bbc_corpus": "._corpus",
    "perl_faq_corpus": "._corpus",
    "named_corpus": "._corpus",
    "load_beir": "._beir",
    "write_beir": "._beir",
    "load_bbc_news": ".._datasets",
    "EvalReport": "._report",
    "EvalRow": "._report",
    "Retriever": "._harness",
    "evaluate": "._harness",
    "rank_by_similarity": "._harness",
    "Embedder": "._systems",
    "LensSystem": "._systems",
    "MiniLMSystem": "._systems",
    "CachedEmbedder": "._systems",
    "bm25_scores": "._systems",
    "vector_identity": "._systems",
    "Ranking": "._metrics",
    "top_ranking": "._metrics",
    "query_metrics": "._metrics",
    "retrieval_metrics": "._metrics",
    "bootstrap_interval": "._metrics",
    "FUSIONS": "._fusion",
    "fuse": "._fusion",
    "rrf_scores": "._fusion",
}

__all__ = [
    "FUSIONS",
    "CachedEmbedder",
    "Corpus",
    "Embedder",
    "EvalReport",
    "EvalRow",
    "LensSystem",
    "MiniLMSystem",
    "Ranking",
    "Retriever",
    "bbc_corpus",
    "bm25_scores",
    "bootstrap_interval",
    "evaluate",
    "fuse",
    "load_bbc_news",
    "load_beir",
    "perl_faq_corpus",
    "named_corpus",
    "query_metrics",
    "rank_by_similarity",
    "retrieval_metrics",
    "rrf_scores",
    "top_ranking",
    "vector_identity",
    "write_beir",
]

if TYPE_CHECKING:
    from .._datasets import load_bbc_news
    from ._beir import load_beir, write_beir
    from ._corpus import Corpus, bbc_corpus, named_corpus, perl_faq_corpus
    from ._fusion import FUSIONS, fuse, rrf_scores
    from ._harness import Retriever, evaluate, rank_by_similarity
    from ._metrics import Ranking, bootstrap_interval, query_metrics, retrieval_metrics, top_ranking
    from ._report import EvalReport, EvalRow
    from ._systems import CachedEmbedder, Embedder, LensSystem, MiniLMSystem, bm25_scores, vector_identity


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
