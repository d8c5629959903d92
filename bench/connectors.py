"""Connector figures, side by side in one run (ratios are the figures to compare across machines).

1. ingest throughput: lens-vdb's pipelined ingest (LENS + MiniLM, embedded Qdrant) divided by
   encode-only throughput of the same two encoders (goal >= 0.9); the same for Milvus Lite; and
   langchain-qdrant's ``QdrantVectorStore.from_texts`` in HYBRID mode with the same two
   encoders (MiniLM dense + LENS top-256 sparse), sequential where lens-vdb pipelines.
2. query latency: one hybrid Query API call (two prefetches + RRF) vs a single-vector query,
   vectors pre-encoded, p50/p95 over the headlines.
3. storage per document and recall@10 against exact float32 search, for ``lens`` float32,
   ``lens`` int8 (scalar quantization), and ``lens_sparse`` top-256, plus binary quantization
   (refused by lens-vdb; measured here to show why).

Model: the offline default (SmolLM2-135M LENS, k=4000), max_length 256 for ingestion.

    python bench/connectors.py [--docs 48] [--corpus 400]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench import parse_args  # bench/ is the script's folder, so on sys.path

from lens_vdb import LensEncoder, to_sparse
from lens_vdb._datasets import load_bbc_news
from lens_vdb.connectors import MilvusConnector, QdrantConnector
from lens_vdb.connectors._dense import MiniLMEmbedder


def ingest_figures(encoder: LensEncoder, dense: MiniLMEmbedder, texts: list[str], work: Path) -> None:
    encoder.encode_documents(texts[:4])  # warm-up, so no path pays first-call costs
    dense.embed_documents(texts[:4])
    start = time.perf_counter()
    encoder.encode_documents(texts, batch_size=16)
    dense.embed_documents(texts)
    encode_rate = len(texts) / (time.perf_counter() - start)
    rows = [("encode only (LENS + MiniLM)", encode_rate)]
    for name, make in (("lens-vdb ingest, embedded Qdrant (edge)", lambda: QdrantConnector(work / "q", encoder=encoder, dense=dense)),
                       ("lens-vdb ingest, Milvus Lite", lambda: MilvusConnector(work / "m.db", encoder=encoder, dense=dense))):
        with make() as store:
            report = store.ingest(texts, batch_size=16, show_progress=False)
            rows.append((name, report.docs_per_second))
    from langchain_core.embeddings import Embeddings
    from langchain_qdrant import QdrantVectorStore, RetrievalMode

    from lens_vdb.integrations.langchain import LensSparseEmbeddings

    class MiniLM(Embeddings):
        def embed_documents(self, items):
            return dense.embed_documents(items).tolist()

        def embed_query(self, text):
            return dense.embed_query(text).tolist()

    start = time.perf_counter()
    QdrantVectorStore.from_texts(texts, MiniLM(), sparse_embedding=LensSparseEmbeddings(encoder, top_k=256),
                                 retrieval_mode=RetrievalMode.HYBRID, location=":memory:", collection_name="lc",
                                 batch_size=16)
    rows.append(("langchain-qdrant from_texts, HYBRID (MiniLM + LENS sparse)", len(texts) / (time.perf_counter() - start)))
    from lens_vdb._machine import cpu_info

    print(f"CPU: {cpu_info().describe()}; encoder {encoder.chosen_backend.name}")
    print(f"\n1. ingest throughput, {len(texts)} BBC articles, max_length {encoder.max_length}")
    print("| path | docs/s | ratio to encode-only |\n|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.2f} | {rate / encode_rate:.2f} |")


def latency_and_storage(encoder: LensEncoder, dense: MiniLMEmbedder, corpus: list, work: Path) -> None:
    texts = [a.text for a in corpus]
    lens_docs = encoder.encode_documents(texts, batch_size=16)
    dense_docs = dense.embed_documents(texts)
    lens_queries = encoder.encode_queries([a.title for a in corpus])
    dense_queries = dense.embed_documents([a.title for a in corpus])
    import qdrant_edge as qe

    from lens_vdb.connectors._base import CollectionSpec, Document, Record, point_id
    from lens_vdb.connectors._qdrant.edge import EdgeStore
    from lens_vdb.connectors._store import QueryVectors

    sparse = to_sparse(lens_docs, top_k=256)
    records = [Record(point_id(str(i), t), Document(str(i), t), lens_docs[i].tolist(), dense_docs[i].tolist(),
                      sparse[i].indices.tolist(), sparse[i].values.tolist()) for i, t in enumerate(texts)]

    exact = np.argsort(-(lens_queries @ lens_docs.T), axis=1)[:, :10]
    variants = {"lens float32": CollectionSpec(k=encoder.k, dense_dim=dense.dim, sparse_top=256),
                "lens int8": CollectionSpec(k=encoder.k, dense_dim=dense.dim, int8=True)}
    ids = [r.id for r in records]
    print(f"\n2. query latency on {len(corpus)} BBC articles (embedded engines, vectors pre-encoded; ratio within engine)")
    print("| query | p50 ms | p95 ms | ratio p50 to single-vector |\n|---|---|---|---|")
    recalls = {}
    for name, spec in variants.items():
        store = EdgeStore(work / name.replace(" ", "_"))
        store.create(spec)
        store.upsert(records if spec.sparse_top else [Record(r.id, r.document, r.lens, r.dense) for r in records])
        store.shard.optimize()
        found = [[ids.index(str(p.id)) for p in store.shard.query(qe.QueryRequest(
            limit=10, query=qe.Query.Nearest(q.tolist(), using="lens")))] for q in lens_queries]
        recalls[name] = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])
        if name == "lens float32":
            single, hybrid = [], []
            for lq, dq in zip(lens_queries, dense_queries):
                t = time.perf_counter()
                store.shard.query(qe.QueryRequest(limit=10, query=qe.Query.Nearest(lq.tolist(), using="lens")))
                single.append(time.perf_counter() - t)
                t = time.perf_counter()
                store.query(QueryVectors(lq.tolist(), dq.tolist()), limit=10, prefetch_limits=(50, 50), fusion="rrf",
                            weights=(1.0, 1.0), rrf_k=60, lens_route="lens", filter=None)
                hybrid.append(time.perf_counter() - t)
            base = np.percentile(single, 50)
            for label, samples in (("single vector (lens)", single), ("hybrid: 2 prefetches + RRF, with vectors", hybrid)):
                p50, p95 = np.percentile(samples, 50) * 1e3, np.percentile(samples, 95) * 1e3
                print(f"| {label} | {p50:.2f} | {p95:.2f} | {np.percentile(samples, 50) / base:.2f} |")
            query_sparse = to_sparse(lens_queries, top_k=256)
            found = [[ids.index(str(p.id)) for p in store.shard.query(qe.QueryRequest(
                limit=10, query=qe.Query.Nearest(qe.SparseVector(s.indices.tolist(), s.values.tolist()),
                                                 using="lens_sparse")))] for s in query_sparse]
            recalls["lens_sparse top-256"] = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])
        store.close()
    milvus_latency(records, lens_queries, dense_queries, encoder.k, dense.dim, work)
    signs = (lens_docs > 0).astype(np.uint8)
    codes = signs @ signs.T  # binary codes of non-negative vectors: all ones
    self_hit = np.mean(np.argmax(codes, axis=1) == np.arange(len(corpus)))
    recalls["lens binary (refused)"] = float(self_hit)
    k = encoder.k
    sizes = {"lens float32": 4 * k, "lens int8": k + 4 * k, "lens_sparse top-256": 256 * 8,
             "lens binary (refused)": k / 8}
    print(f"\n3. storage per document and recall@10 vs exact float32 search ({len(corpus)} docs, k={k})")
    print("| variant | bytes per doc for LENS | recall@10 |\n|---|---|---|")
    for name in sizes:
        label = "self-hit@1" if "binary" in name else "recall@10"
        print(f"| {name} | {sizes[name]:.0f} | {recalls[name]:.3f} ({label}) |")
    print("(int8 keeps the float32 originals for rescoring: 1 byte/dim searched in RAM, 4 on disk)")


def milvus_latency(records, lens_queries, dense_queries, k: int, dense_dim: int, work: Path) -> None:
    from lens_vdb.connectors._base import CollectionSpec, Record
    from lens_vdb.connectors._milvus.store import MilvusStore
    from lens_vdb.connectors._store import QueryVectors

    store = MilvusStore(str(work / "milvus.db"), "bench")
    store.create(CollectionSpec(k=k, dense_dim=dense_dim))
    store.upsert([Record(r.id, r.document, r.lens, r.dense) for r in records])
    single, hybrid = [], []
    for lq, dq in zip(lens_queries, dense_queries):
        t = time.perf_counter()
        store.client.search("bench", [lq.tolist()], anns_field="lens", limit=10, search_params={"metric_type": "COSINE"})
        single.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.query(QueryVectors(lq.tolist(), dq.tolist()), limit=10, prefetch_limits=(50, 50), fusion="rrf",
                    weights=(1.0, 1.0), rrf_k=60, lens_route="lens", filter=None)
        hybrid.append(time.perf_counter() - t)
    store.close()
    base = np.percentile(single, 50)
    for label, samples in (("Milvus Lite single vector (lens)", single),
                           ("Milvus Lite hybrid_search: 2 AnnSearchRequests + RRFRanker, with vectors", hybrid)):
        print(f"| {label} | {np.percentile(samples, 50) * 1e3:.2f} | {np.percentile(samples, 95) * 1e3:.2f} | "
              f"{np.percentile(samples, 50) / base:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=48, help="articles for the ingest comparison")
    parser.add_argument("--corpus", type=int, default=300, help="articles for latency and storage")
    parser.add_argument("--model", default=None, help="LENS model dir (default: the offline default model)")
    args = parse_args(parser, quick={"docs": 16, "corpus": 60})
    encoder = LensEncoder(args.model, max_length=256)
    dense = MiniLMEmbedder(device="cpu")
    articles = load_bbc_news(limit=args.corpus)
    with tempfile.TemporaryDirectory() as work:
        ingest_figures(encoder, dense, [a.text for a in articles[: args.docs]], Path(work) / "ingest")
        encoder.max_length = 128
        latency_and_storage(encoder, dense, articles, Path(work) / "query")


if __name__ == "__main__":
    main()
