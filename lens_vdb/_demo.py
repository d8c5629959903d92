"""The main job on the embedded default: build (once) the default model, embed real news, query it."""

from __future__ import annotations

import time

import numpy as np

from ._datasets import load_bbc_news
from ._encoder import LensEncoder

__all__ = ["run_demo"]

QUERIES = ["interest rates and inflation", "mobile phone technology", "election campaign", "football match result"]


def run_demo(*, documents: int = 40, max_length: int = 256) -> None:
    """Embed ``documents`` BBC articles and a few queries with the default model; print hits and why."""
    start = time.perf_counter()
    encoder = LensEncoder(max_length=max_length)
    print(f"model: k={encoder.k}, base={encoder.config.base_model} (loaded in {time.perf_counter() - start:.1f} s)")
    articles = load_bbc_news(limit=documents)
    start = time.perf_counter()
    doc_vectors = encoder.encode_documents([a.text for a in articles], show_progress=True)
    seconds = time.perf_counter() - start
    print(f"embedded {len(articles)} BBC articles in {seconds:.1f} s ({len(articles) / seconds:.1f} docs/s)")
    query_vectors = encoder.encode_queries(QUERIES)
    scores = query_vectors @ doc_vectors.T
    for query, query_vector, row in zip(QUERIES, query_vectors, scores):
        best = int(np.argmax(row))
        article = articles[best]
        print(f"\nquery: {query!r}\n  top hit ({row[best]:.3f}) [{article.topic}] {article.title}")
        shared = query_vector * doc_vectors[best]
        for item in encoder.explain(shared, top=3):
            print(f"    shared cluster {item.cluster:5d} weight {item.weight:.4f} tokens {list(item.tokens)}")
