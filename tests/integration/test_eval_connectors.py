"""Evaluating through a real engine: the connector's hybrid search ranks as the harness' fusions say."""

from __future__ import annotations

import numpy as np
import pytest

from lens_vdb import LensInputError
from lens_vdb.eval import evaluate, fuse, load_beir, rank_by_similarity
from lens_vdb.eval._fusion import default_prefetch
from tests.integration.engines import open_connector
from tests.integration.test_eval import make_beir_news


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    return load_beir(make_beir_news(tmp_path_factory.mktemp("beir") / "news", size=36))


@pytest.mark.parametrize("engine", ["qdrant-edge", "milvus-lite"])
def test_a_connectors_hybrid_search_scores_as_the_harness_fuses(engine, news, llama_encoder, minilm, tmp_path):
    from lens_vdb.connectors import ConnectorRetriever

    with open_connector(engine, tmp_path, "news", encoder=llama_encoder, dense=minilm) as store:
        # chunking off: the in-memory routes below encode each document whole, cut at the window
        retriever = ConnectorRetriever(store, name=f"tiny via {engine}", chunking=False)
        engine_rankings = retriever.rankings(news, depth=20)
        assert store.count() == len(news.documents)
        report = evaluate(news, bm25=False, retrievers=[retriever], bootstrap=0)  # ingests nothing twice
        assert store.count() == len(news.documents)
    labels = ("RRF", "weighted") if engine.startswith("milvus") else ("RRF", "DBSF", "weighted")
    assert [row.system for row in report.rows] == [f"tiny via {engine} ({f})" for f in labels]
    # the same routes in memory: LENS with the retrieval instruction, MiniLM queries one by one as search() does
    lens = rank_by_similarity(llama_encoder.encode_queries(news.queries, "retrieval"),
                              llama_encoder.encode_documents(news.documents), 100)
    dense = rank_by_similarity(np.stack([minilm.embed_query(q) for q in news.queries]),
                               minilm.embed_documents(news.documents), 100)
    for label in labels:
        fusion = label.lower()
        ours = fuse(fusion, (lens, dense), depth=20, prefetch=default_prefetch(20))
        theirs = engine_rankings[f"tiny via {engine} ({label})"]
        for q in range(news.size):
            # equal scores in the same order; documents tied on a score may come in another order
            assert theirs.scores[q] == pytest.approx(ours.scores[q], rel=1e-5, abs=1e-6), (label, q)
            ours_by_doc = dict(zip(ours.indices[q].tolist(), ours.scores[q]))
            for doc, score in zip(theirs.indices[q].tolist(), theirs.scores[q]):
                assert doc not in ours_by_doc or ours_by_doc[doc] == pytest.approx(score, rel=1e-5, abs=1e-6)


def test_an_engine_without_a_fusion_is_refused_up_front(llama_encoder, minilm, tmp_path):
    from lens_vdb.connectors import ConnectorRetriever

    with open_connector("milvus-lite", tmp_path, "news", encoder=llama_encoder, dense=minilm) as store:
        with pytest.raises(LensInputError, match=r"does not run fusion \['dbsf'\]"):
            ConnectorRetriever(store, fusions=["rrf", "dbsf"])


def test_eval_command_measures_an_embedded_qdrant(built_dirs, tmp_path, capsys):
    from lens_vdb.cli import main

    folder = make_beir_news(tmp_path / "news", size=24)
    code = main(["eval", "--corpus", str(folder), "--model", str(built_dirs["llama"]), "--label", "tiny",
                 "--no-bm25", "--fusion", "rrf", "--connector", "qdrant", "--connector-location",
                 str(tmp_path / "qdrant"), "--no-progress", "--bootstrap", "0"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "tiny + MiniLM (RRF)" in printed and "tiny + MiniLM via qdrant (RRF)" in printed
    assert len(list((tmp_path / "qdrant").iterdir())) == 1  # one collection, named after model and corpus


def test_chunked_documents_rank_once_each(news, llama_encoder, minilm, tmp_path):
    """With chunking on (ingest's default) a long document is several points but one ranked hit."""
    from lens_vdb.connectors import ConnectorRetriever

    with open_connector("qdrant-edge", tmp_path, "news", encoder=llama_encoder, dense=minilm) as store:
        rankings = ConnectorRetriever(store, name="chunked", fusions=["rrf"]).rankings(news, depth=20)
        points = store.store.count(None, heads_only=False)
        assert store.count() == len(news.documents) < points  # some documents were chunked
    indices = rankings["chunked (RRF)"].indices
    assert (indices >= 0).all()  # 20 distinct documents found for every query
    assert all(len(set(row.tolist())) == len(row) for row in indices)
