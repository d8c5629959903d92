"""The harness' measures, fusions and intervals against hand-computed cases and the IR library."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lens_vdb.eval as ev
from lens_vdb import LensInputError
from lens_vdb.eval import (
    Corpus,
    Ranking,
    bootstrap_interval,
    fuse,
    query_metrics,
    retrieval_metrics,
    top_ranking,
)

EVAL_PUBLIC = {
    "FUSIONS", "CachedEmbedder", "Corpus", "Embedder", "EvalReport", "EvalRow", "LensSystem", "MiniLMSystem",
    "Ranking", "Retriever", "bbc_corpus", "bm25_scores", "bootstrap_interval", "evaluate", "fuse", "load_bbc_news",
    "load_beir", "named_corpus", "perl_faq_corpus", "query_metrics", "rank_by_similarity", "retrieval_metrics",
    "rrf_scores", "top_ranking", "vector_identity", "write_beir",
}


def test_the_eval_api_is_pinned_and_resolvable():
    assert set(ev.__all__) == EVAL_PUBLIC
    for name in EVAL_PUBLIC:
        assert getattr(ev, name) is not None


def _graded() -> Corpus:
    return Corpus(name="hand", query_ids=["q1", "q2"], queries=["first", "second"],
                  doc_ids=["d1", "d2", "d3", "d4"], documents=["a", "b", "c", "d"],
                  qrels={"q1": {"d1": 2, "d2": 1, "d3": 0}, "q2": {"d2": 1}})


def test_graded_measures_match_the_hand_computed_values():
    # q1 ranks d3 (judged 0), d1 (grade 2), d4 (unjudged), d2 (grade 1); q2 ranks d1, d2, then d3, d4
    scores = np.array([[2.0, 0.5, 3.0, 1.0], [2.0, 1.0, -1.0, -2.0]])
    got = query_metrics(scores, _graded(), k=10, depth=100)
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert got["ndcg@10"] == pytest.approx([dcg / ideal, 1 / math.log2(3)])  # linear gains, as trec_eval/BEIR
    assert got["mrr@10"] == pytest.approx([1 / 2, 1 / 2])
    assert got["map@100"] == pytest.approx([(1 / 2 + 2 / 4) / 2, 1 / 2])
    assert got["recall@10"] == pytest.approx([1.0, 1.0])
    cut = query_metrics(scores, _graded(), k=1, depth=2)
    assert cut["recall@1"] == pytest.approx([0.0, 0.0]) and cut["recall@2"] == pytest.approx([0.5, 1.0])
    assert cut["map@2"] == pytest.approx([(1 / 2) / 2, 1 / 2])  # AP over the top 2, over all relevant


def test_the_measures_are_the_librarys_on_the_same_run():
    import ir_measures

    rng = np.random.default_rng(3)
    doc_ids = [f"d{i}" for i in range(40)]
    qrels = {f"q{q}": {doc_ids[d]: int(rng.integers(0, 3)) for d in rng.choice(40, 6, replace=False)}
             for q in range(12)}
    for judged in qrels.values():
        judged[next(iter(judged))] = 2  # every query has a relevant document
    corpus = Corpus(name="random", query_ids=list(qrels), queries=["x"] * 12, doc_ids=doc_ids,
                    documents=["y"] * 40, qrels=qrels)
    scores = rng.normal(size=(12, 40))
    run = {q: {d: float(s) for d, s in zip(doc_ids, row)} for q, row in zip(qrels, scores)}
    library = ir_measures.calc_aggregate([ir_measures.RR @ 10, ir_measures.nDCG @ 10, ir_measures.R @ 10,
                                          ir_measures.AP @ 20], qrels, run)
    ours = retrieval_metrics(scores, corpus, depth=20)
    assert ours["mrr@10"] == pytest.approx(library[ir_measures.RR @ 10])
    assert ours["ndcg@10"] == pytest.approx(library[ir_measures.nDCG @ 10])
    assert ours["recall@10"] == pytest.approx(library[ir_measures.R @ 10])
    assert ours["map@20"] == pytest.approx(library[ir_measures.AP @ 20])


def test_known_item_follows_the_gold_rank_and_takes_distractors():
    scores = np.array([[0.9, 0.1, 0.0], [0.8, 0.5, 0.1], [0.1, 0.2, 0.3]])  # gold ranks 1, 2, 1
    metrics = retrieval_metrics(scores)
    assert metrics["mrr@10"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / np.log2(3) + 1) / 3)
    assert metrics["recall@10"] == 1.0 and retrieval_metrics(scores, k=1)["recall@1"] == pytest.approx(2 / 3)
    # two distractor documents: query 0 now finds one above its own
    wide = np.hstack([scores, [[0.95, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    assert retrieval_metrics(wide)["mrr@10"] == pytest.approx((0.5 + 0.5 + 1) / 3)
    with pytest.raises(LensInputError, match="3 queries, 2 documents"):
        retrieval_metrics(scores[:, :2])
    with pytest.raises(LensInputError, match="do not fit"):
        retrieval_metrics(wide, _graded())


def test_ties_go_to_the_earlier_document():
    ranking = top_ranking(np.array([[0.5, 0.7, 0.5, 0.7]]), 4)
    assert ranking.indices.tolist() == [[1, 3, 0, 2]]


def _routes() -> tuple[Ranking, Ranking]:
    lens = Ranking(np.array([[0, 1, 2]]), np.array([[0.9, 0.5, 0.4]]))
    dense = Ranking(np.array([[2, 3, 0]]), np.array([[0.8, 0.6, 0.1]]))
    return lens, dense


def test_rrf_is_one_over_k_plus_rank_from_one():
    fused = fuse("rrf", _routes(), depth=4, prefetch=3)
    expected = {0: 1 / 61 + 1 / 63, 1: 1 / 62, 2: 1 / 63 + 1 / 61, 3: 1 / 62}
    assert fused.indices.tolist() == [[0, 2, 1, 3]]  # ties: the earlier document first
    assert fused.scores[0] == pytest.approx([expected[i] for i in (0, 2, 1, 3)])
    weighted = fuse("rrf", _routes(), depth=4, prefetch=3, weights=(2.0, 1.0))  # Qdrant's weighted RRF
    by_doc = dict(zip(weighted.indices[0].tolist(), weighted.scores[0]))
    assert by_doc[0] == pytest.approx(1 / (1 / 2 + 60) + 1 / (3 + 60)) and weighted.indices[0, 0] == 2


def test_dbsf_normalises_each_route_over_its_candidates_as_qdrant_does():
    fused = fuse("dbsf", _routes(), depth=4, prefetch=3)

    def norm(values):
        values = np.asarray(values)
        low, std = values.mean() - 3 * values.std(ddof=1), values.std(ddof=1)
        return (values - low) / (6 * std)

    lens, dense = norm([0.9, 0.5, 0.4]), norm([0.8, 0.6, 0.1])
    expected = {0: lens[0] + dense[2], 1: lens[1], 2: lens[2] + dense[0], 3: dense[1]}
    assert dict(zip(fused.indices[0].tolist(), fused.scores[0])) == pytest.approx(expected)
    lone = fuse("dbsf", (Ranking(np.array([[4]]), np.array([[0.3]])), Ranking(np.array([[5]]), np.array([[0.2]]))),
                depth=2, prefetch=1)
    assert lone.scores[0].tolist() == [0.5, 0.5]  # a lone candidate scores 0.5


def test_weighted_adds_nothing_for_a_route_that_missed_and_prefetch_cuts_candidates():
    fused = fuse("weighted", _routes(), depth=4, prefetch=2, weights=(1.0, 0.5))
    # prefetch 2: lens offers 0, 1; dense offers 2, 3; nothing is in both
    assert dict(zip(fused.indices[0].tolist(), fused.scores[0])) == pytest.approx({0: 0.9, 1: 0.5, 2: 0.4, 3: 0.3})
    short = fuse("weighted", _routes(), depth=6, prefetch=1)
    assert short.indices.tolist() == [[0, 2, -1, -1, -1, -1]]  # fewer candidates than depth: -1 after them
    with pytest.raises(LensInputError, match="fusion must be one of"):
        fuse("max", _routes(), depth=4, prefetch=3)


def test_bootstrap_interval_brackets_the_mean_and_is_seeded():
    values = np.random.default_rng(0).random(200)
    low, high = bootstrap_interval(values)
    assert low < values.mean() < high and high - low < 0.2
    assert bootstrap_interval(values) == (low, high)
    assert bootstrap_interval(np.ones(10)) == (1.0, 1.0)


def test_rrf_scores_is_deprecated_but_still_fuses_full_rankings():
    scores = np.array([[0.9, 0.1, 0.0], [0.8, 0.5, 0.1], [0.1, 0.2, 0.3]])
    with pytest.warns(DeprecationWarning, match="0.3"):
        fused = ev.rrf_scores(scores, scores[:, ::-1])
    assert fused.shape == (3, 3) and fused[0, 0] == pytest.approx(1 / 61 + 1 / 63)
