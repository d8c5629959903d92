"""Hybrid index builds through the frameworks: one LENS forward per text, side by side with dense-only builds.

A hybrid index needs two views of each chunk's LENS vector: the whole vector (dense route) and its
top-256 dimensions (sparse route). lens-vdb's integration objects of one model share an encoder and
a bounded LRU of its recent vectors, so the second view reads what the first computed. Measured
here, in one run on the same texts:

- langchain-qdrant ``QdrantVectorStore.from_texts`` on ``:memory:``: DENSE with ``LensEmbeddings``,
  HYBRID with ``LensEmbeddings`` + ``LensSparseEmbeddings`` sharing one encoder, and HYBRID with two
  separate encoders (what every build did before the sharing: the model ran twice per text);
- LlamaIndex ``VectorStoreIndex`` over llama-index-vector-stores-qdrant on ``:memory:``: dense only
  with ``LensEmbedding``, ``enable_hybrid=True`` with ``lens_sparse_functions`` sharing its encoder,
  and with separate encoders.

The goal: hybrid build time / dense-only build time <= 1.15 (it was about 2). Besides the time,
the table gives the texts the model encoded per indexed text (rows through the encoder's backend).

    python bench/integrations.py [--docs 32] [--model DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from _bench import cpu_line, parse_args  # bench/ is the script's folder, so on sys.path

from lens_vdb import LensEncoder
from lens_vdb._datasets import load_bbc_news
from lens_vdb.integrations._shared import shared_over


class CountingBackend:
    """The encoder's real backend, counting the texts (rows) it runs."""

    def __init__(self, inner) -> None:
        self.inner, self.rows = inner, 0

    def run(self, input_ids, attention_mask):
        self.rows += len(input_ids)
        return self.inner.run(input_ids, attention_mask)


def langchain_builds(texts: list[str], a: LensEncoder, b: LensEncoder) -> dict[str, Callable[[], object]]:
    from langchain_qdrant import QdrantVectorStore, RetrievalMode

    from lens_vdb.integrations.langchain import LensEmbeddings, LensSparseEmbeddings

    def build(dense, sparse=None):
        mode = RetrievalMode.HYBRID if sparse is not None else RetrievalMode.DENSE
        return lambda: QdrantVectorStore.from_texts(texts, dense, sparse_embedding=sparse, location=":memory:",
                                                    collection_name="bench", retrieval_mode=mode)

    return {"dense only (LensEmbeddings)": build(LensEmbeddings(a)),
            "HYBRID, shared encoder (LensEmbeddings + LensSparseEmbeddings)":
                build(LensEmbeddings(a), LensSparseEmbeddings(a, top_k=256)),
            "HYBRID, two encoders (before: the model runs twice)":
                build(LensEmbeddings(a), LensSparseEmbeddings(b, top_k=256))}


def llamaindex_builds(texts: list[str], a: LensEncoder, b: LensEncoder) -> dict[str, Callable[[], object]]:
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    from lens_vdb.integrations.llamaindex import LensEmbedding, lens_sparse_functions

    def build(sparse_encoder=None):
        def run():
            hybrid = {}
            if sparse_encoder is not None:
                doc_fn, query_fn = lens_sparse_functions(sparse_encoder, top_k=256)
                hybrid = {"enable_hybrid": True, "sparse_doc_fn": doc_fn, "sparse_query_fn": query_fn}
            store = QdrantVectorStore(collection_name="bench", client=QdrantClient(location=":memory:"), **hybrid)
            return VectorStoreIndex([TextNode(text=t) for t in texts], embed_model=LensEmbedding(a),
                                    storage_context=StorageContext.from_defaults(vector_store=store))
        return run

    return {"dense only (LensEmbedding)": build(),
            "hybrid, shared encoder (LensEmbedding + lens_sparse_functions)": build(a),
            "hybrid, two encoders (before: the model runs twice)": build(b)}


def measure(framework: str, builds: dict[str, Callable[[], object]], texts: list[str],
            counters: list[CountingBackend], encoders: list[LensEncoder], rounds: int) -> None:
    """Run the builds ``rounds`` times, interleaved (a busy machine's load drifts), and print their medians."""
    next(iter(builds.values()))()  # warm-up: the framework's own first-call costs
    seconds: dict[str, list[float]] = {name: [] for name in builds}
    per_text: dict[str, float] = {}
    for _ in range(rounds):
        for name, build in builds.items():
            for encoder in encoders:
                shared_over(encoder).clear()  # every build starts with nothing cached
            before = sum(c.rows for c in counters)
            start = time.perf_counter()
            build()
            seconds[name].append(time.perf_counter() - start)
            per_text[name] = (sum(c.rows for c in counters) - before) / len(texts)
    print(f"\n{framework}: index {len(texts)} BBC articles (max_length {encoders[0].max_length}), Qdrant :memory:, "
          f"median of {rounds} interleaved rounds")
    print("| build | seconds (median) | texts encoded per text | ratio to dense-only |\n|---|---|---|---|")
    base = statistics.median(next(iter(seconds.values())))
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {per_text[name]:.2f} | {median / base:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=32, help="BBC articles to index")
    parser.add_argument("--model", default="default", help="LENS model (default: the offline default model)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions of every build")
    parser.add_argument("--threads", type=int, default=None, help="encoder threads (default: the runtime's)")
    args = parse_args(parser, quick={"docs": 8, "rounds": 1, "max_length": 128})
    print(cpu_line())
    texts = [a.text for a in load_bbc_news(limit=args.docs)]
    encoders = [LensEncoder(args.model, max_length=args.max_length, threads=args.threads)
                for _ in range(2)]  # two copies of the model: the second is the separate sparse encoder
    counters = []
    for encoder in encoders:
        encoder.encode_documents(texts[:2])  # warm-up: no build pays first-call costs
        counters.append(CountingBackend(encoder._backend))
        encoder._backend = counters[-1]
    print(f"torch threads: {torch.get_num_threads()}; langchain-qdrant also encodes one 'dummy_text' to size "
          "its collection (hence 1/docs more texts per text)")
    measure("langchain-qdrant", langchain_builds(texts, *encoders), texts, counters, encoders, args.rounds)
    measure("LlamaIndex", llamaindex_builds(texts, *encoders), texts, counters, encoders, args.rounds)


if __name__ == "__main__":
    main()
