"""LlamaIndex: LensEmbedding, and LENS sparse functions in a hybrid QdrantVectorStore index."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from lens_vdb._minilm import MINILM_NAME
from lens_vdb._model.fusion import FusionRecord
from lens_vdb.integrations.llamaindex import (
    LensEmbedding,
    MiniLMEmbedding,
    lens_hybrid_fusion,
    lens_sparse_functions,
)
from tests.tiny import copy_tiny_lens, tiny_lens_dir


@pytest.fixture(scope="module")
def embed_model():
    return LensEmbedding(str(tiny_lens_dir()), embed_batch_size=4)


def test_query_text_batch_and_async_embeddings(embed_model):
    query = np.array(embed_model.get_query_embedding("interest rates"))
    text = np.array(embed_model.get_text_embedding("interest rates"))
    batch = np.array(embed_model.get_text_embedding_batch(["interest rates", "Ünïcödé 東京", "interest rates"]))
    assert query.shape == text.shape == (32,) and batch.shape == (3, 32)
    assert np.allclose(batch[0], text, atol=1e-6) and np.array_equal(batch[0], batch[2])
    assert np.abs(query - text).max() > 1e-4  # the query carries the instruction
    assert np.allclose(asyncio.run(embed_model.aget_query_embedding("interest rates")), query, atol=1e-6)
    assert np.allclose(asyncio.run(embed_model.aget_text_embedding_batch(["interest rates"]))[0], text, atol=1e-6)
    with pytest.raises(TypeError, match=r"texts\[0\] is int"):
        embed_model.get_text_embedding_batch([3])


def test_sparse_functions_shape():
    documents, queries = lens_sparse_functions(str(tiny_lens_dir()), top_k=5)
    indices, values = documents(["one text", "another text"])
    assert len(indices) == len(values) == 2 and all(len(i) == 5 for i in indices)
    q_indices, q_values = queries(["a query"])
    assert len(q_indices[0]) == 5 and all(v > 0 for v in q_values[0])


def test_hybrid_vector_store_index_over_embedded_qdrant(minilm):
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    class MiniLMEmbedding(BaseEmbedding):  # the dense side: the real MiniLM
        @classmethod
        def class_name(cls):
            return "MiniLM"

        def _get_query_embedding(self, query):
            return minilm.embed_query(query).tolist()

        def _get_text_embedding(self, text):
            return minilm.embed_query(text).tolist()

        async def _aget_query_embedding(self, query):
            return self._get_query_embedding(query)

    doc_fn, query_fn = lens_sparse_functions(str(tiny_lens_dir()), top_k=16)
    client = QdrantClient(location=":memory:")
    store = QdrantVectorStore(collection_name="hybrid", client=client, enable_hybrid=True,
                              sparse_doc_fn=doc_fn, sparse_query_fn=query_fn)
    texts = ["The central bank raised interest rates to curb inflation.", "The striker scored twice in the derby.",
             "The new phone has a faster chip and a better camera."]
    index = VectorStoreIndex.from_documents([Document(text=t) for t in texts],
                                            storage_context=StorageContext.from_defaults(vector_store=store),
                                            embed_model=MiniLMEmbedding())
    retriever = index.as_retriever(similarity_top_k=1, sparse_top_k=3, vector_store_query_mode="hybrid")
    assert retriever.retrieve("Who scored the goals?")[0].node.get_content() == texts[1]
    assert client.count("hybrid").count == 3


TEXTS = ["The central bank raised interest rates to curb inflation.", "The striker scored twice in the derby.",
         "The new phone has a faster chip and a better camera.", "Rates on savings accounts rose after the decision."]


@pytest.fixture(scope="module")
def recorded_lens(tmp_path_factory):
    """The tiny model with a fusion record measured with MiniLM: weighted 0.7:0.3."""
    folder = copy_tiny_lens(tmp_path_factory.mktemp("recorded") / "tiny")
    FusionRecord(fusion="weighted", weights=(0.7, 0.3), dense_model=MINILM_NAME, measured_on="a test").save(folder)
    return LensEmbedding(str(folder))


def _hybrid_index(lens: LensEmbedding, fusion_fn):
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    doc_fn, query_fn = lens_sparse_functions(lens, top_k=16)
    store = QdrantVectorStore(collection_name="fused", client=QdrantClient(location=":memory:"), enable_hybrid=True,
                              sparse_doc_fn=doc_fn, sparse_query_fn=query_fn, hybrid_fusion_fn=fusion_fn)
    return VectorStoreIndex.from_documents([Document(text=t) for t in TEXTS], embed_model=MiniLMEmbedding(),
                                           storage_context=StorageContext.from_defaults(vector_store=store))


def _scores(index, mode: str, query: str) -> dict[str, float]:
    hits = index.as_retriever(similarity_top_k=4, sparse_top_k=4, vector_store_query_mode=mode).retrieve(query)
    return {hit.node.get_content(): hit.score for hit in hits}


def test_hybrid_fusion_follows_the_models_record(recorded_lens):
    """The store's own dense and sparse results, fused as the record says: 0.7 x LENS + 0.3 x MiniLM."""
    index = _hybrid_index(recorded_lens, lens_hybrid_fusion(recorded_lens, dense=MiniLMEmbedding()))
    query = "Why did interest rates go up?"
    dense, sparse = _scores(index, "default", query), _scores(index, "sparse", query)
    expected = {text: 0.7 * sparse.get(text, 0.0) + 0.3 * dense.get(text, 0.0) for text in TEXTS}
    fused = _scores(index, "hybrid", query)
    assert list(fused) == sorted(expected, key=lambda t: -expected[t])
    assert all(fused[t] == pytest.approx(expected[t], abs=1e-5) for t in fused)


def test_hybrid_fusion_explicit_or_another_dense_model_is_rrf(recorded_lens):
    """Another dense model than the record's, or an explicit fusion: RRF (k=60), 1:1 unless weights are given."""
    query = "Who scored in the derby?"
    for fusion_fn, weights in [(lens_hybrid_fusion(recorded_lens, dense="intfloat/e5-small-v2"), (1.0, 1.0)),
                               (lens_hybrid_fusion(recorded_lens, fusion="rrf", weights=(2.0, 1.0)), (2.0, 1.0))]:
        index = _hybrid_index(recorded_lens, fusion_fn)
        routes = [_scores(index, mode, query) for mode in ("sparse", "default")]
        expected = {text: sum(w / (w * 60 + list(route).index(text) + 1) for route, w in zip(routes, weights)
                              if text in route) for text in TEXTS}
        fused = _scores(index, "hybrid", query)
        assert all(fused[t] == pytest.approx(expected[t], rel=1e-6) for t in fused)
        assert [expected[t] for t in fused] == sorted(expected.values(), reverse=True)  # best first (ties either way)


def test_inputs_as_llamaindex_sends_them(embed_model):
    """Batches larger than embed_batch_size (4 here), empty lists, long and duplicate texts."""
    assert embed_model.get_text_embedding_batch([]) == []
    texts = ["interest rates", "", "long " * 3000, "Ünïcödé 東京", "interest rates", "fox"]
    batch = np.array(embed_model.get_text_embedding_batch(texts))
    assert batch.shape == (6, 32) and np.allclose(batch[0], batch[4], atol=1e-5) and not batch[1].any()
    assert np.allclose(np.linalg.norm(batch[[0, 2, 3, 5]], axis=1), 1.0, atol=1e-5)
    with pytest.raises(TypeError, match=r"texts\[5\] is NoneType"):  # its index in the whole list, not in a chunk
        embed_model.get_text_embedding_batch(texts[:5] + [None])
    with pytest.raises(TypeError, match=r"texts\[5\] is NoneType"):
        asyncio.run(embed_model.aget_text_embedding_batch(texts[:5] + [None]))


def test_model_name_json_and_pickle_round_trips():
    import pickle

    from lens_vdb import LensEncoder

    model = LensEmbedding(str(tiny_lens_dir()), task="sts", embed_batch_size=3, max_length=64)
    assert model.model_name == str(tiny_lens_dir())  # today: the string 'None' for the default model
    assert LensEmbedding(LensEncoder(tiny_lens_dir())).model_name == str(tiny_lens_dir())
    restored = LensEmbedding.from_json(model.to_json())
    assert (restored.model_name, restored.task, restored.embed_batch_size, restored.max_length) == (
        str(tiny_lens_dir()), "sts", 3, 64)
    assert restored.encoder is model.encoder  # the same settings share the live encoder
    assert restored.get_query_embedding("interest rates") == model.get_query_embedding("interest rates")
    blob = pickle.dumps(model)
    assert len(blob) < 5_000  # settings only, not the weights
    assert pickle.loads(blob).get_text_embedding("fox") == model.get_text_embedding("fox")


def test_minilm_embedding_for_llamaindex(minilm):
    from lens_vdb.integrations.llamaindex import MiniLMEmbedding

    vector = np.array(MiniLMEmbedding().get_text_embedding("The striker scored twice."))
    assert vector.shape == (384,) and np.allclose(vector, minilm.embed_documents(["The striker scored twice."])[0],
                                                  atol=1e-5)
