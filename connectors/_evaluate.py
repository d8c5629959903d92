"""Evaluate through a real engine: ingest a corpus with a connector, rank every query with its hybrid search.

    >>> from lens_vdb.connectors import ConnectorRetriever, QdrantConnector
    >>> from lens_vdb.eval import evaluate, load_beir
    >>> corpus = load_beir("my-corpus/")
    >>> with QdrantConnector("./eval-qdrant", "my_corpus", encoder=encoder) as store:
    ...     report = evaluate(corpus, retrievers=[ConnectorRetriever(store, name="LENS + MiniLM, Qdrant")])

What is measured is what users run: the connector's own encoding and ingestion pipeline, the
engine's prefetch and its fusion (RRF, DBSF on Qdrant, weighted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from lens_vdb import LensInputError
from lens_vdb._vocabulary import Fusion
from lens_vdb.eval import Corpus, Ranking

from ._connector import LensConnector
from ._search import SearchOptions

__all__ = ["ConnectorRetriever", "engine_fusions"]

_LABELS = {"rrf": "RRF", "dbsf": "DBSF", "weighted": "weighted"}


def engine_fusions(connector: LensConnector) -> tuple[Fusion, ...]:
    """The fusions the connector's engine runs (its store says): all three on Qdrant, RRF and weighted on Milvus."""
    return connector.collection.fusions


class ConnectorRetriever:
    """A :class:`lens_vdb.eval.Retriever` over a connector: one row per fusion.

    ``rankings`` ingests the corpus (idempotent: documents already stored are skipped, so a
    reused collection is not written twice), then runs the connector's hybrid search for every
    query and fusion with ``limit=depth``, the connector's default prefetch, and ``weights`` /
    ``rrf_k``: each query encoded once (as ``search`` encodes it), the engine queried once per
    fusion. Queries use ``task`` (the retrieval instruction, as the harness' LENS systems do).
    Hits are documents: a long document is ingested in chunks (``chunking``, as ``ingest`` does)
    and ranked by its best chunk (the engine's ``group_by_document``); ``chunking=False`` cuts it
    at the encoder's window, as the harness' in-memory systems do.
    """

    def __init__(self, connector: LensConnector, *, name: str = "connector", fusions: Sequence[Fusion] | None = None,
                 weights: tuple[float, float] = (1.0, 1.0), rrf_k: int = 60, task: str = "retrieval",
                 batch_size: int = 32, chunking: bool = True, show_progress: bool = False) -> None:
        supported = engine_fusions(connector)
        chosen = tuple(fusions) if fusions is not None else supported
        refused = [f for f in chosen if f not in supported]
        if refused:
            raise LensInputError(f"{type(connector).__name__} does not run fusion {refused}; it runs {supported}.")
        self.connector, self.name, self.fusions = connector, name, chosen
        self.weights, self.rrf_k, self.task = cast(tuple[float, float], tuple(weights)), rrf_k, task
        self.batch_size, self.chunking, self.show_progress = batch_size, chunking, show_progress

    def rankings(self, corpus: Corpus, *, depth: int) -> dict[str, Ranking]:
        """Ingest ``corpus.documents`` (ids = ``corpus.doc_ids``) and rank each query with each fusion."""
        rows = [{"id": doc_id, "text": text} for doc_id, text in zip(corpus.doc_ids, corpus.documents)]
        report = self.connector.ingest(rows, batch_size=self.batch_size, chunking=self.chunking,
                                       show_progress=self.show_progress)
        if report.failed:
            raise LensInputError(f"{report.failed} documents of {corpus.name!r} could not be stored: {report}")
        position = {doc_id: index for index, doc_id in enumerate(corpus.doc_ids)}
        indices = {f: np.full((corpus.size, depth), -1, dtype=np.int64) for f in self.fusions}
        scores = {f: np.full((corpus.size, depth), -np.inf) for f in self.fusions}
        for row, query in enumerate(corpus.queries):
            # the query is encoded once, as search() does, and sent to the engine once per fusion; hits are
            # documents (a long document's chunks grouped by the engine, its best chunk ranking it)
            request = self.connector._prepare(query, SearchOptions(limit=depth, weights=self.weights, rrf_k=self.rrf_k,
                                                                   task=self.task, group_by_document=True,
                                                                   group_size=1))
            for fusion in self.fusions:
                weights = self.weights if fusion != "dbsf" else (1.0, 1.0)
                options = request.options | {"fusion": fusion, "weights": weights}
                groups = self.connector.collection.query_groups(request.vectors, group_size=1, **options)
                for rank, hit in enumerate(group[0] for group in groups if group):
                    doc_id = hit.payload.get("doc_id")
                    if doc_id not in position:
                        raise LensInputError(f"The collection holds document {doc_id!r}, which is not in "
                                             f"{corpus.name!r}; evaluate on a collection of this corpus only.")
                    indices[fusion][row, rank], scores[fusion][row, rank] = position[doc_id], hit.score
        return {f"{self.name} ({_LABELS[f]})": Ranking(indices[f], scores[f]) for f in self.fusions}
