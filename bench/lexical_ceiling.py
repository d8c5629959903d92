"""How much exact-match signal a LENS head of k clusters can hold: BM25 over words, the model's tokens, clusters.

A LENS dimension is a cluster of vocabulary tokens, so a document that shares a query's token
and a document that shares only a token of the same cluster look alike to the head. This script
measures what that costs before any training: BM25 (Okapi, rank-bm25 defaults, as the harness's
BM25) on the same known-item sets, with the text cut into lower-cased words (the harness's BM25),
into the model's tokens, and into the tokens' cluster ids for the shipped head's cluster map and
for fresh k-means heads of the LM head at each ``--k``, side by side in one run. MRR@10.

Read it as a ceiling of the lexical route, not of LENS: a trained model can use context to do
better than its cluster BM25 (the Perl FAQ shows it), but a head whose clusters merge most of a
headline's words with others starts far below word BM25 (``docs/figures.md``).

    python bench/lexical_ceiling.py [--k 4000 8000 16000] [--articles 500] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import time

import numpy as np
from _bench import cpu_line, known_item_mrr, parse_args  # bench/ is the script's folder, so on sys.path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

_WORD = re.compile(r"\w+")  # the harness's BM25 words (lens_vdb.eval._systems)


def bm25_mrr(queries: list[list], documents: list[list]) -> float:
    """MRR@10 of BM25 over already-cut texts (query ``i`` finds document ``i``)."""
    from rank_bm25 import BM25Okapi

    index = BM25Okapi(documents)
    return known_item_mrr(np.stack([index.get_scores(q) for q in queries]).astype(np.float32))


def token_ids(tokenizer, texts: list[str]) -> list[np.ndarray]:
    return [np.asarray(tokenizer(t, add_special_tokens=False)["input_ids"], dtype=np.int64) for t in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="a LENS model (name or folder) with a cluster map")
    parser.add_argument("--k", type=int, nargs="*", default=[4000, 8000, 16000], help="fresh k-means heads")
    parser.add_argument("--articles", type=int, default=500, help="BBC News articles")
    args = parse_args(parser, quick={"k": [500], "articles": 50})

    from lens_vdb import LensModel
    from lens_vdb._model.build import recluster_head
    from lens_vdb._model.default import resolve_model_name
    from lens_vdb.eval import bbc_corpus, named_corpus

    model = LensModel.from_pretrained(resolve_model_name(args.model))
    corpora = {"BBC News": bbc_corpus(limit=args.articles), "Perl FAQ half": named_corpus("perl-faq-evaluation")}
    heads = {f"shipped head (k={model.config.k})": model.cluster_map}
    seconds = {}
    for k in args.k:
        start = time.perf_counter()
        heads[f"k-means k={k}"] = recluster_head(model, k).cluster_map
        seconds[k] = time.perf_counter() - start

    rows: dict[str, dict[str, float]] = {}
    for name, corpus in corpora.items():
        rows.setdefault("words (the harness's BM25)", {})[name] = bm25_mrr(
            [_WORD.findall(q.lower()) for q in corpus.queries], [_WORD.findall(d.lower()) for d in corpus.documents])
        query_ids, doc_ids = token_ids(model.tokenizer, corpus.queries), token_ids(model.tokenizer, corpus.documents)
        rows.setdefault("model tokens", {})[name] = bm25_mrr([q.tolist() for q in query_ids],
                                                             [d.tolist() for d in doc_ids])
        for label, clusters in heads.items():
            lookup = clusters.cluster_of  # text tokens are all vocabulary tokens: every one has a cluster
            rows.setdefault(label, {})[name] = bm25_mrr([lookup[q].tolist() for q in query_ids],
                                                        [lookup[d].tolist() for d in doc_ids])

    print(cpu_line())
    print(f"model {args.model}; BM25 MRR@10, known-item; k-means seconds: "
          + ", ".join(f"k={k} {s:.0f} s" for k, s in seconds.items()))
    header = f"{'text cut into':<30}" + "".join(f"{name:>16}" for name in corpora)
    print(header + "\n" + "-" * len(header))
    for label, scores in rows.items():
        print(f"{label:<30}" + "".join(f"{scores[name]:>16.3f}" for name in corpora))


if __name__ == "__main__":
    main()
