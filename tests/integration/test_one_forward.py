"""Hybrid indexes run the LENS model once per text: the dense and the sparse view share one forward.

Forward passes are counted as rows through the encoder's backend (the real model runs; the
counter only adds up ``input_ids`` rows), with the real frameworks: langchain-qdrant's
``QdrantVectorStore`` in HYBRID mode and LlamaIndex's ``VectorStoreIndex`` over
llama-index-vector-stores-qdrant with ``enable_hybrid=True``, both on Qdrant ``:memory:``.
"""

from __future__ import annotations

import numpy as np
import pytest

from lens_vdb import LensEncoder
from lens_vdb.integrations._shared import SharedLens
from tests.tiny import CORPUS, tiny_lens_dir

TEXTS = sorted(set(CORPUS))  # 12 distinct texts


class CountingBackend:
    """The encoder's real backend, counting the rows (texts) it runs."""

    def __init__(self, inner):
        self.inner, self.rows = inner, 0

    def run(self, input_ids, attention_mask):
        self.rows += len(input_ids)
        return self.inner.run(input_ids, attention_mask)


@pytest.fixture
def counted():
    """Install a counter on an encoder's backend; take it off afterwards (encoders are shared per process)."""
    installed = []

    def install(encoder: LensEncoder) -> CountingBackend:
        counter = CountingBackend(encoder._backend)
        encoder._backend = counter
        installed.append((encoder, counter))
        return counter

    yield install
    for encoder, counter in installed:
        encoder._backend = counter.inner


def test_langchain_hybrid_store_encodes_each_text_once(counted):
    from langchain_qdrant import QdrantVectorStore, RetrievalMode

    from lens_vdb.integrations.langchain import LensEmbeddings, LensSparseEmbeddings

    dense = LensEmbeddings(str(tiny_lens_dir()), batch_size=4)
    sparse = LensSparseEmbeddings(str(tiny_lens_dir()), top_k=8)  # same model and settings: one encoder
    assert sparse.encoder is dense.encoder
    counter = counted(dense.encoder)
    store = QdrantVectorStore.from_texts(TEXTS, embedding=dense, sparse_embedding=sparse, location=":memory:",
                                         collection_name="hybrid", retrieval_mode=RetrievalMode.HYBRID, batch_size=5)
    # + 1: langchain-qdrant embeds "dummy_text" to size the collection; today's main: 2 * len(TEXTS) + 1
    assert counter.rows == len(TEXTS) + 1
    found = store.similarity_search("Who won the cup final?", k=1)
    assert counter.rows == len(TEXTS) + 2  # the query too: once for both routes
    assert found[0].page_content in TEXTS


def test_the_order_of_the_two_views_does_not_matter(counted):
    from lens_vdb.integrations.langchain import LensEmbeddings, LensSparseEmbeddings

    encoder = LensEncoder(tiny_lens_dir(), batch_size=4)
    sparse, dense = LensSparseEmbeddings(encoder, top_k=8), LensEmbeddings(encoder)
    counter = counted(encoder)
    sparse_vectors = sparse.embed_documents(TEXTS)  # sparse first this time
    dense_vectors = np.array(dense.embed_documents(TEXTS))
    assert counter.rows == len(TEXTS)
    assert np.allclose(dense_vectors, encoder.encode_documents(TEXTS), atol=1e-6)
    top = np.argsort(-dense_vectors[0], kind="stable")[:8]
    assert sorted(sparse_vectors[0].indices) == sorted(top.tolist())  # two views of the same LENS vector


def test_llamaindex_hybrid_index_encodes_each_node_once(counted):
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    from lens_vdb.integrations.llamaindex import LensEmbedding, lens_sparse_functions

    embed_model = LensEmbedding(str(tiny_lens_dir()), embed_batch_size=4)
    doc_fn, query_fn = lens_sparse_functions(str(tiny_lens_dir()), top_k=8)  # shares embed_model's encoder
    counter = counted(embed_model.encoder)
    client = QdrantClient(location=":memory:")
    store = QdrantVectorStore(collection_name="hybrid", client=client, enable_hybrid=True, batch_size=5,
                              sparse_doc_fn=doc_fn, sparse_query_fn=query_fn)
    index = VectorStoreIndex.from_documents([Document(text=t) for t in TEXTS], embed_model=embed_model,
                                            storage_context=StorageContext.from_defaults(vector_store=store))
    assert client.count("hybrid").count == len(TEXTS)
    assert counter.rows == len(TEXTS)  # today's main: 2 * len(TEXTS)
    retriever = index.as_retriever(similarity_top_k=1, sparse_top_k=3, vector_store_query_mode="hybrid")
    assert retriever.retrieve("Who won the cup final?")[0].node.get_content() in TEXTS
    assert counter.rows == len(TEXTS) + 1


def test_the_cache_is_bounded_and_keyed_by_side_and_task(counted):
    encoder = LensEncoder(tiny_lens_dir(), batch_size=4)
    counter = counted(encoder)
    shared = SharedLens(encoder, cache_bytes=5 * 4 * encoder.k)  # room for 5 vectors
    assert shared.capacity == 5
    shared.encode(TEXTS, query=False, task=None, batch_size=None)
    assert len(shared) == 5 and counter.rows == len(TEXTS)
    shared.encode(TEXTS[-5:], query=False, task=None, batch_size=None)  # the 5 most recent: all cached
    assert counter.rows == len(TEXTS)
    shared.encode(TEXTS[:1], query=False, task=None, batch_size=None)  # evicted long ago
    assert counter.rows == len(TEXTS) + 1
    query = shared.encode(TEXTS[:1], query=True, task=None, batch_size=None)  # the query side is another vector
    sts = shared.encode(TEXTS[:1], query=False, task="sts", batch_size=None)  # and so is a symmetric task
    assert counter.rows == len(TEXTS) + 3 and not np.allclose(query, sts)
    twice = shared.encode([TEXTS[1], TEXTS[1]], query=False, task=None, batch_size=None)  # duplicates: one row
    assert counter.rows == len(TEXTS) + 4 and np.array_equal(twice[0], twice[1])


def test_other_settings_get_their_own_encoder():
    from lens_vdb.integrations.langchain import LensEmbeddings, LensSparseEmbeddings

    dense = LensEmbeddings(str(tiny_lens_dir()))
    assert LensSparseEmbeddings(str(tiny_lens_dir()), max_length=64).encoder is not dense.encoder
    assert LensSparseEmbeddings(dense).encoder is dense.encoder  # given the embeddings object itself
