"""The evaluation harness on a real BBC News slice: BM25, all-MiniLM-L6-v2, a LENS model, the hybrids."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lens_vdb.cli import main
from lens_vdb.eval import (
    CachedEmbedder,
    LensSystem,
    MiniLMSystem,
    bbc_corpus,
    evaluate,
    retrieval_metrics,
    rrf_scores,
)


def test_metrics_follow_the_rank_of_the_gold_document():
    scores = np.array([[0.9, 0.1, 0.0], [0.8, 0.5, 0.1], [0.1, 0.2, 0.3]])  # gold ranks 1, 2, 1
    metrics = retrieval_metrics(scores, k=10)
    assert metrics["mrr@10"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / np.log2(3) + 1) / 3)
    assert metrics["recall@10"] == 1.0 and retrieval_metrics(scores, k=1)["recall@1"] == pytest.approx(2 / 3)
    fused = rrf_scores(scores, scores[:, ::-1])
    assert fused.shape == (3, 3) and fused[0, 0] == pytest.approx(1 / 61 + 1 / 63)


@pytest.fixture(scope="module")
def corpus():
    return bbc_corpus(limit=40, doc_words=64)


def test_harness_compares_systems_side_by_side(corpus, llama_encoder, built_dirs, minilm, tmp_path):
    dense = MiniLMSystem()
    dense._model = minilm.model  # the session's loaded all-MiniLM-L6-v2
    report = evaluate(corpus, [LensSystem("tiny LENS", llama_encoder)], dense=dense, cache_dir=tmp_path / "cache")
    names = [row.system for row in report.rows]
    assert names == ["BM25", "MiniLM", "BM25 + MiniLM (RRF)", "tiny LENS", "tiny LENS + MiniLM (sum)",
                     "tiny LENS + MiniLM (RRF)"]
    # real models on real news: headlines find their own articles far above chance (MRR@10 ~0.07)
    assert report.row("BM25").retrieval["mrr@10"] > 0.6
    assert report.row("MiniLM").retrieval["mrr@10"] > 0.6
    assert report.row("MiniLM").classification_accuracy > 0.5
    assert 0.0 <= report.row("tiny LENS").clustering_v_measure <= 1.0
    assert report.row("BM25").classification_accuracy is None
    table = report.table()
    assert "tiny LENS + MiniLM (RRF)" in table and "bbc-news-40" in table
    saved = json.loads(report.to_json(tmp_path / "eval.json").read_text())
    assert saved["size"] == 40 and len(saved["rows"]) == 6
    # a second run reads the cached vectors and encodes nothing
    cached = CachedEmbedder(LensSystem("tiny LENS", llama_encoder), tmp_path / "cache")
    assert np.array_equal(cached.embed_documents(corpus.documents), llama_encoder.encode_documents(corpus.documents))
    assert cached.texts_encoded == 0
    # the same name over other weights is another cache entry, never the old vectors
    from lens_vdb import LensEncoder

    other = CachedEmbedder(LensSystem("tiny LENS", LensEncoder(built_dirs["qwen2"])), tmp_path / "cache")
    other.embed_documents(corpus.documents)
    assert other.texts_encoded == len(corpus.documents)


def test_eval_command_prints_the_table_and_writes_json(built_dirs, tmp_path, capsys):
    out = tmp_path / "eval.json"
    code = main(["eval", "--model", str(built_dirs["llama"]), "--label", "tiny", "--articles", "25",
                 "--no-dense", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "BM25" in printed and "tiny" in printed
    assert [row["system"] for row in json.loads(out.read_text())["rows"]] == ["BM25", "tiny"]
