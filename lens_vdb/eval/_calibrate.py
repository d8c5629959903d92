"""Choosing how a LENS model fuses with a dense model, by measuring every fusion on held-out data.

``calibrate_fusion`` ranks the corpus with each route once, then fuses the two rankings as the
connectors do (:mod:`._fusion`) for every candidate: RRF at several LENS:dense weights, DBSF, and
the weighted sum of cosines at LENS weights 0.1 to 0.9. The candidate with the best MRR@10 wins;
a tie goes to the earlier candidate (plain RRF first, then the weights nearest 1:1). The data must
not be what the model's figures are reported on, or the figures would be tuned on themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._errors import LensInputError
from .._model.fusion import FusionRecord
from ._corpus import Corpus
from ._fusion import RRF_K, default_prefetch, fuse
from ._harness import rank_by_similarity
from ._metrics import Ranking, query_metrics
from ._systems import CachedEmbedder, Embedder

__all__ = ["calibrate_fusion", "held_out_corpus", "FUSION_CANDIDATES"]

# (fusion, LENS weight, dense weight): plain RRF first, so that a tie keeps today's default
FUSION_CANDIDATES: tuple[tuple[str, float, float], ...] = (
    ("rrf", 1.0, 1.0),
    *(("rrf", lens, 1.0) for lens in (0.75, 0.5, 0.25, 1.5, 2.0)),
    ("dbsf", 1.0, 1.0),
    *(("weighted", round(lens, 1), round(1 - lens, 1)) for lens in (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.1, 0.9)),
)


def calibrate_fusion(corpus: Corpus, lens: Embedder, dense: Embedder, *, dense_model: str, depth: int = 100,
                     candidates: Sequence[tuple[str, float, float]] = FUSION_CANDIDATES,
                     cache_dir: str | None = None) -> FusionRecord:
    """The fusion of ``lens`` with ``dense`` that ranks ``corpus`` best (MRR@10), with every candidate's score.

    ``dense_model`` names the dense model as a connector records it (its ``dense`` name): a connector
    uses the record only with that dense model. Save it beside the model with ``record.save(model_dir)``.
    """
    if corpus.size < 20:
        raise LensInputError(f"Calibrating a fusion needs at least 20 queries to tell fusions apart; "
                             f"{corpus.name!r} has {corpus.size}.")
    prefetch = default_prefetch(depth)
    routes = tuple(_route(CachedEmbedder(system, cache_dir), corpus, max(depth, prefetch)) for system in (lens, dense))
    scores = {"LENS alone": _mrr(routes[0], corpus, depth), "dense alone": _mrr(routes[1], corpus, depth)}
    best: tuple[float, FusionRecord] | None = None
    for fusion, lens_weight, dense_weight in candidates:
        record = FusionRecord(fusion=fusion, weights=(lens_weight, dense_weight), rrf_k=RRF_K,
                              dense_model=dense_model, measured_on="")
        ranking = fuse(fusion, routes, depth=depth, prefetch=prefetch, weights=record.weights
                       if fusion != "dbsf" else (1.0, 1.0), rrf_k=RRF_K)
        score = scores[record.label] = _mrr(ranking, corpus, depth)
        if best is None or score > best[0]:
            best = (score, record)
    assert best is not None, "no fusion candidates"
    where = f"{corpus.name}: {corpus.size} queries, {len(corpus.documents)} documents"
    return FusionRecord(fusion=best[1].fusion, weights=best[1].weights, rrf_k=RRF_K, dense_model=dense_model,
                        measured_on=where, scores={name: round(value, 4) for name, value in scores.items()})


def _route(system: CachedEmbedder, corpus: Corpus, depth: int) -> Ranking:
    documents = np.asarray(system.embed_documents(corpus.documents), dtype=np.float32)
    queries = np.asarray(system.embed_queries(corpus.queries), dtype=np.float32)
    return rank_by_similarity(queries, documents, min(depth, len(corpus.documents)))


def _mrr(ranking: Ranking, corpus: Corpus, depth: int) -> float:
    return float(query_metrics(ranking, corpus, depth=depth)["mrr@10"].mean())


def held_out_corpus(path: str | Path, limit: int | None = None) -> Corpus:
    """Known-item retrieval over training pairs (``query`` -> ``pos``), e.g. a ``*-pairs`` builder's held-out split:
    query *i* finds pair *i*'s passage among all the passages."""
    from .._jsonl import read_jsonl_objects

    queries, passages = [], []
    for line, row in read_jsonl_objects(path, what="Pairs file"):
        if not isinstance(row.get("query"), str) or not isinstance(row.get("pos"), str):
            raise LensInputError(f"{path}:{line}: a pair needs 'query' and 'pos' strings.")
        queries.append(row["query"])
        passages.append(row["pos"])
        if limit is not None and len(queries) >= limit:
            break
    name = Path(path).name.split(".")[0]
    return Corpus.known_item(f"{name}-{len(queries)}", queries, passages)
