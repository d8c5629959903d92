"""The main job on the embedded default: the default model, BBC News in embedded Qdrant, hybrid queries."""

from __future__ import annotations

import time
from pathlib import Path

from lens_vdb import LensEncoder, LensError, LensInputError
from lens_vdb._datasets import load_bbc_news
from lens_vdb._model.default import versioned_name
from lens_vdb._vocabulary import BackendName

from ._qdrant.connector import QdrantConnector

__all__ = ["run_demo", "demo_encoder"]

QUERIES = [
    ("interest rates and inflation", None),
    ("mobile phone technology", None),
    ("election campaign promises", {"topic": "politics"}),
    ("football match result", None),
]


def demo_encoder(backend: BackendName, max_length: int) -> LensEncoder:
    """The default model on ``backend``: ``"auto"`` (the fastest here, measured; torch when measuring
    fails), ``"torch"``, or ``"onnx"`` (its int8 graph, exported once into the cache if missing; a
    clear error where it cannot be exported, e.g. without the export toolchain under transformers 5)."""
    if backend == "auto":
        try:
            return LensEncoder(max_length=max_length, backend="auto")
        except LensError as exc:  # e.g. a broken onnxruntime: torch is exact and always there
            print(f"backend='auto' could not measure the candidates ({exc}); running on torch")
            return LensEncoder(max_length=max_length)
    if backend == "torch":
        return LensEncoder(max_length=max_length)
    if backend != "onnx":
        raise LensInputError(f"backend must be 'auto', 'torch' or 'onnx', got {backend!r}")
    return LensEncoder(_int8_graph(), backend="onnx", max_length=max_length)


def _int8_graph() -> Path:
    """The default model's int8 graph where backend='auto' keeps it, exported and checked once if missing."""
    from lens_vdb import LensModel
    from lens_vdb._inference.auto_cache import find_graph, graph_dir
    from lens_vdb._model.default import default_model_dir
    from lens_vdb._model.identity import model_fingerprint
    from lens_vdb.export import export_onnx

    model = LensModel.from_pretrained(default_model_dir())
    fingerprint = model_fingerprint(model)
    graph = find_graph(fingerprint, "int8")
    if graph is None:
        graph = graph_dir(fingerprint, "int8")
        print(f"exporting the default model to an int8 ONNX graph at {graph} (once, about 3 minutes on 2 "
              "CPU cores: export, then validation and the MRR@10 check against torch)")
        export_onnx(model, graph, quantize="int8", overwrite=True)
    return graph


def run_demo(*, documents: int | None = 200, location: str = "./lens-vdb-data", max_length: int = 256,
             backend: BackendName = "auto") -> None:
    """Ingest ``documents`` BBC articles (all with ``None``) with LENS + dense vectors and run hybrid queries.

    A re-run resumes: articles already in the collection are skipped. ``backend="auto"`` takes
    the fastest one here, measured (see :func:`demo_encoder`).
    """
    start = time.perf_counter()
    encoder = demo_encoder(backend, max_length)
    print(f"model: k={encoder.k}, base={encoder.config.base_model}, backend={encoder.backend} "
          f"({encoder.chosen_backend.name}; ready in {time.perf_counter() - start:.1f} s)")
    print(f"backend choice: {encoder.chosen_backend}")
    articles = load_bbc_news(limit=documents)
    rows = [{"id": a.id, "text": a.text, "topic": a.topic, "title": a.title} for a in articles]
    # one collection per default version: a demo re-run after the default moved on starts a new one, not an error
    collection = f"bbc-{versioned_name('default')}"
    with QdrantConnector(location, collection, encoder=encoder, sparse_top=256) as store:
        print(f"ingesting {len(rows)} BBC News articles into embedded Qdrant at {location}/{collection}")
        report = store.ingest(rows, batch_size=16)
        print(f"ingest report: {report}; the collection holds {store.count()} articles")
        record = encoder.fusion
        fusion = record.label if record is not None else "rrf 1:1"
        print(f"fusion: {fusion}" + (f" (the model's own, measured on {record.measured_on.split(':')[0]})"
                                     if record is not None else ""))
        for query, where in QUERIES:
            print(f"\nquery: {query!r}" + (f"  filter: {where}" if where else ""))
            # one hit an article (its best chunk), as a RAG application lists sources: a long article has several
            # chunks, and without grouping two of them may take two of the three places; the fusion is the
            # model's own (search's default)
            hits = store.search(query, limit=3, filter=where, explain=True, group_by_document=True, group_size=1)
            for rank, hit in enumerate(hits, 1):
                routes = ", ".join(f"{name} {score:.3f}" for name, score in hit.scores.items())
                print(f"  {rank}. [{hit.metadata['topic']}] {hit.metadata['title']}  "
                      f"(chunk {hit.chunk}; {fusion.split()[0]} {hit.score:.4f}; {routes})")
                if rank == 1 and hit.explanation:
                    shared = "; ".join(f"{'/'.join(tokens[:3])} {weight:.1e}" for _, weight, tokens in hit.explanation[:3])
                    print(f"     shared LENS clusters: {shared}")
