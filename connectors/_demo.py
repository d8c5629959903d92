"""The main job on the embedded default: the default model, BBC News in embedded Qdrant, hybrid queries."""

from __future__ import annotations

import time
from pathlib import Path

from lens_vdb import LensDependencyError, LensEncoder, LensModelError
from lens_vdb._datasets import load_bbc_news
from lens_vdb._files import MANIFEST_NAME
from lens_vdb._model.default import default_model_dir

from ._qdrant import QdrantConnector

__all__ = ["run_demo", "fastest_encoder", "default_int8_graph_dir"]

QUERIES = [
    ("interest rates and inflation", None),
    ("mobile phone technology", None),
    ("election campaign promises", {"topic": "politics"}),
    ("football match result", None),
]


def fastest_encoder(max_length: int) -> LensEncoder:
    """The default model on the fastest backend here: torch on a GPU; on a CPU, the int8 ONNX graph
    (1.75-2x torch, MRR within 0.2%; see the README) when onnxruntime is installed and the graph
    passes the export's checks on this CPU, else torch; also torch when the graph is not in the cache
    and cannot be exported here (no export toolchain, e.g. under transformers 5)."""
    import importlib.util

    import torch

    if torch.cuda.is_available() or importlib.util.find_spec("onnxruntime") is None:
        return _encoder("torch", max_length)
    try:
        return _encoder("onnx", max_length)
    except LensModelError as exc:  # the int8 graph failed its checks on this CPU: torch is exact
        print(f"the int8 graph was refused ({exc}); running on torch")
    except LensDependencyError as exc:  # no graph yet and no export toolchain here (e.g. transformers 5)
        print(f"the int8 graph cannot be exported here ({exc}); running on torch")
    return _encoder("torch", max_length)


def _encoder(backend: str, max_length: int) -> LensEncoder:
    if backend == "torch":
        return LensEncoder(max_length=max_length)
    if backend != "onnx":
        raise ValueError(f"backend must be 'auto', 'torch' or 'onnx', got {backend!r}")
    from lens_vdb.export import export_onnx

    source, graph = default_model_dir(), default_int8_graph_dir()
    if not _validated_int8(graph):  # exported, validated and moved into place once
        print(f"exporting the default model to an int8 ONNX graph at {graph} (once, about 3 minutes on 2 "
              "CPU cores: export, then validation and the MRR@10 check against torch)")
        export_onnx(source, graph, quantize="int8", overwrite=True)
    return LensEncoder(graph, backend="onnx", max_length=max_length)


def default_int8_graph_dir() -> Path:
    """Where the demo keeps the default model's int8 ONNX graph: beside the model, in the cache."""
    source = default_model_dir()
    return source.with_name(f"{source.name}-onnx-int8")


def _validated_int8(graph: Path) -> bool:
    """Whether ``graph`` holds an int8 export that passed every check of this lens-vdb, the MRR@10 one included."""
    if not (graph / MANIFEST_NAME).is_file():
        return False
    from lens_vdb.export import Manifest

    return Manifest.load(graph).retrieval is not None


def run_demo(*, documents: int | None = 200, location: str = "./lens-vdb-data", max_length: int = 256,
             backend: str = "auto") -> None:
    """Ingest ``documents`` BBC articles (all with ``None``) with LENS + dense vectors and run hybrid queries.

    A re-run resumes: articles already in the collection are skipped. ``backend="auto"`` takes
    the fastest one here (see :func:`fastest_encoder`).
    """
    start = time.perf_counter()
    encoder = fastest_encoder(max_length) if backend == "auto" else _encoder(backend, max_length)
    print(f"model: k={encoder.k}, base={encoder.config.base_model}, backend={encoder.backend} "
          f"(ready in {time.perf_counter() - start:.1f} s)")
    articles = load_bbc_news(limit=documents)
    rows = [{"id": a.id, "text": a.text, "topic": a.topic, "title": a.title} for a in articles]
    collection = f"bbc-{Path(str(encoder.config.base_model)).name.split('.')[0].lower()}-k{encoder.k}"
    with QdrantConnector(location, collection, encoder=encoder, sparse_top=256) as store:
        print(f"ingesting {len(rows)} BBC News articles into embedded Qdrant at {location}/{collection}")
        report = store.ingest(rows, batch_size=16)
        print(f"ingest report: {report}; the collection holds {store.count()} articles")
        for query, where in QUERIES:
            print(f"\nquery: {query!r}" + (f"  filter: {where}" if where else ""))
            for rank, hit in enumerate(store.search(query, limit=3, fusion="rrf", filter=where, explain=True), 1):
                routes = ", ".join(f"{name} {score:.3f}" for name, score in hit.scores.items())
                print(f"  {rank}. [{hit.metadata['topic']}] {hit.metadata['title']}  (rrf {hit.score:.4f}; {routes})")
                if rank == 1 and hit.explanation:
                    shared = "; ".join(f"{'/'.join(tokens[:3])} {weight:.1e}" for _, weight, tokens in hit.explanation[:3])
                    print(f"     shared LENS clusters: {shared}")
