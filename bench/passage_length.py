"""How the passage length LENS sees moves its retrieval: whole articles at 512 and 256 tokens, chunks of 256 and 128.

A LENS vector is a max over the positions of a text, so a longer passage lights more clusters and
a short query's matches stand out less. This script measures it on BBC News (headline ->
article, known-item MRR@10), side by side in one run: each article encoded whole with LENS cut at
``--windows`` tokens, and cut into consecutive chunks of ``--chunks`` tokens scored by its best
chunk (as a connector's grouped search ranks documents); MiniLM the same way, and the model's
recorded hybrid (``lens_fusion.json``: a weighted sum of the two cosines) on each chunking.

    python bench/passage_length.py [--articles 500] [--windows 512 256] [--chunks 256 128] [--quick]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from _bench import cpu_line, known_item_mrr, parse_args  # bench/ is the script's folder, so on sys.path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def chunked(tokenizer, documents: list[str], size: int) -> tuple[list[str], np.ndarray]:
    """Consecutive chunks of ``size`` tokens of each document, and the document each chunk belongs to."""
    texts, owners = [], []
    for index, document in enumerate(documents):
        ids = tokenizer(document, add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids), size):
            texts.append(tokenizer.decode(ids[start:start + size]))
            owners.append(index)
    return texts, np.asarray(owners)


def best_chunk(scores: np.ndarray, owners: np.ndarray, documents: int) -> np.ndarray:
    """``[queries, chunks]`` -> ``[queries, documents]``: each document's best chunk."""
    out = np.full((scores.shape[0], documents), -np.inf, dtype=np.float32)
    np.maximum.at(out.T, owners, scores.T)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="LENS model (name or folder)")
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--windows", type=int, nargs="*", default=[512, 256], help="whole articles cut at N tokens")
    parser.add_argument("--chunks", type=int, nargs="*", default=[256, 128], help="chunks of N tokens, best chunk")
    args = parse_args(parser, quick={"articles": 20, "windows": [128], "chunks": [64]})

    from lens_vdb import LensEncoder
    from lens_vdb._minilm import load_minilm
    from lens_vdb.eval import bbc_corpus

    corpus = bbc_corpus(limit=args.articles)
    docs, n = list(corpus.documents), len(corpus.documents)
    minilm = load_minilm("cpu")
    dense_queries = minilm.encode(corpus.queries, normalize_embeddings=True)
    lens = LensEncoder(args.model, device="cpu", batch_size=16)
    record = lens.fusion
    weights = record.weights if record is not None and record.fusion == "weighted" else (0.5, 0.5)
    lens_queries = lens.encode_queries(corpus.queries)

    rows = []
    whole_dense = dense_queries @ minilm.encode(docs, normalize_embeddings=True).T  # MiniLM's own window every time
    for window in args.windows:
        encoder = LensEncoder(args.model, device="cpu", batch_size=16, max_length=window)
        lens_scores, dense_scores = lens_queries @ encoder.encode_documents(docs).T, whole_dense
        rows.append((f"whole, LENS cut at {window}", n, lens_scores, dense_scores))
    for size in args.chunks:
        texts, owners = chunked(lens.tokenizer, docs, size)
        encoder = LensEncoder(args.model, device="cpu", batch_size=16, max_length=size + 16)
        lens_scores = best_chunk(lens_queries @ encoder.encode_documents(texts).T, owners, n)
        dense_scores = best_chunk(dense_queries @ minilm.encode(texts, normalize_embeddings=True).T, owners, n)
        rows.append((f"chunks of {size}, best chunk", len(texts), lens_scores, dense_scores))

    print(cpu_line())
    print(f"BBC News {n} (headline -> article), MRR@10; model {args.model}; hybrid: weighted "
          f"{weights[0]:g}:{weights[1]:g} of the two cosines (the model's record)"
          + ("" if record is not None else " (no record: 0.5:0.5)"))
    header = f"{'documents as':<30} {'passages':>8} {'LENS':>7} {'MiniLM':>7} {'hybrid':>7}"
    print(header + "\n" + "-" * len(header))
    for label, passages, lens_scores, dense_scores in rows:
        hybrid = weights[0] * lens_scores + weights[1] * dense_scores
        measured = (known_item_mrr(scores) for scores in (lens_scores, dense_scores, hybrid))
        print(f"{label:<30} {passages:>8} " + " ".join(f"{value:>7.3f}" for value in measured))


if __name__ == "__main__":
    main()
