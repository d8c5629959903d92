"""LangChain: the standard embeddings suites, sparse embeddings in QdrantVectorStore, the retriever, a RAG chain."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from lens_vdb.integrations.langchain import LensEmbeddings, LensSparseEmbeddings
from tests.tiny import tiny_lens_dir


class TestLensEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self):
        return LensEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": str(tiny_lens_dir())}


class TestLensEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self):
        return LensEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": str(tiny_lens_dir())}


@pytest.fixture(scope="module")
def embeddings():
    return LensEmbeddings(str(tiny_lens_dir()), batch_size=4)


class MiniLM(Embeddings):
    """The real all-MiniLM-L6-v2 as a LangChain dense embedding."""

    def __init__(self, minilm):
        self.minilm = minilm

    def embed_documents(self, texts):
        return self.minilm.embed_documents(texts).tolist()

    def embed_query(self, text):
        return self.minilm.embed_query(text).tolist()


def test_inputs_as_frameworks_send_them(embeddings):
    assert embeddings.embed_documents([]) == []
    texts = ["Ünïcödé naïve café – 東京 🚀", "same", "same", " ".join(["long text"] * 2000)]
    with pytest.warns(UserWarning, match="max_length"):
        vectors = np.array(embeddings.embed_documents(texts))
    assert vectors.shape == (4, 32) and np.array_equal(vectors[1], vectors[2])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType"):
        embeddings.embed_documents(["ok", None])
    with pytest.raises(TypeError, match="embed_query takes a str"):
        embeddings.embed_query(["not", "a", "str"])
    query = np.array(embeddings.embed_query("same"))
    assert np.abs(query - vectors[1]).max() > 1e-4  # queries carry the instruction, documents do not


def test_async_embedding_does_not_block_the_event_loop(embeddings):
    from tests.event_loop import run_counting_ticks

    start = time.perf_counter()
    vectors, ticks = run_counting_ticks(lambda: embeddings.aembed_documents(["The Bank of England raised rates."] * 64),
                                        period=0.002)
    assert len(vectors) == 64 and ticks >= min(5, int((time.perf_counter() - start) / 0.004))


def test_sparse_embeddings_in_a_hybrid_qdrant_vector_store(minilm):
    from langchain_qdrant import QdrantVectorStore, RetrievalMode, SparseEmbeddings

    sparse = LensSparseEmbeddings(str(tiny_lens_dir()), top_k=8)
    assert isinstance(sparse, SparseEmbeddings)
    vector = sparse.embed_query("interest rates")
    assert len(vector.indices) == 8 and sorted(vector.indices) == vector.indices
    texts = ["The central bank raised interest rates.", "The striker scored twice.", "A faster phone chip."]
    store = QdrantVectorStore.from_texts(texts, embedding=MiniLM(minilm), sparse_embedding=sparse,
                                         location=":memory:", collection_name="hybrid",
                                         retrieval_mode=RetrievalMode.HYBRID)
    found = store.similarity_search("Who scored the goals?", k=1)
    assert found[0].page_content == texts[1]


def test_missing_framework_names_the_extra():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('langchain_core', 'llama_index'):\n"
        "            raise ImportError('blocked for the test: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "for module, extra in (('lens_vdb.integrations.langchain', 'langchain'),"
        " ('lens_vdb.integrations.llamaindex', 'llamaindex')):\n"
        "    try:\n"
        "        __import__(module)\n"
        "    except ImportError as exc:\n"
        "        assert type(exc).__name__ == 'LensDependencyError' and f'lens-vdb[{extra}]' in str(exc), exc\n"
        "    else:\n"
        "        raise SystemExit('imported without the framework')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("module, other", [("langchain", "llama_index"), ("llamaindex", "langchain_core")])
def test_each_integration_imports_without_the_other_framework(module, other):
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] == {other!r}:\n"
        "            raise ImportError('blocked for the test: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"import lens_vdb.integrations.{module} as integration\n"
        "print(sorted(integration.__all__))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "Lens" in out.stdout, out.stderr


def test_rag_chain_over_the_hybrid_retriever_finds_the_article_for_its_headline(tmp_path, minilm):
    from langchain_core.language_models import FakeListLLM
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from lens_vdb._datasets import load_bbc_news
    from lens_vdb.connectors import QdrantConnector

    articles = load_bbc_news(limit=30)
    splitter = RecursiveCharacterTextSplitter(chunk_size=600, chunk_overlap=60)
    chunks = [{"id": f"{a.id}#{i}", "text": chunk, "article": a.id, "title": a.title}
              for a in articles for i, chunk in enumerate(splitter.split_text(a.text))]
    with QdrantConnector(tmp_path, "bbc", encoder=str(tiny_lens_dir()), dense=minilm) as store:
        assert store.ingest(chunks, show_progress=False).ingested == len(chunks)
        # the weighted sum of cosines (the paper's concatenation at 1:1); the tiny LENS model is random, so RRF
        # would give its noisy ranking as much say as MiniLM's
        retriever = store.as_retriever(k=4, fusion="weighted", weights=(1.0, 1.0))
        prompt = ChatPromptTemplate.from_template("Answer from the context.\n{context}\nQuestion: {question}")
        llm = FakeListLLM(responses=["an answer"] * len(articles))
        seen = {}

        def context(documents):
            seen["articles"] = [d.metadata["article"] for d in documents]
            return "\n\n".join(d.page_content for d in documents)

        chain = {"context": retriever | context, "question": RunnablePassthrough()} | prompt | llm | StrOutputParser()
        hits = 0
        for article in articles[:10]:
            assert chain.invoke(article.title) == "an answer"
            hits += article.id in seen["articles"]
        assert hits >= 8, f"the right article was retrieved for {hits}/10 headlines"


@pytest.mark.parametrize("engine", ["qdrant-edge", "milvus-lite"])
def test_retriever_documents_carry_scores_and_respect_filters(tmp_path, minilm, engine):
    from tests.integration.engines import open_connector

    rows = [{"id": "a", "text": "The central bank raised interest rates.", "topic": "business"},
            {"id": "b", "text": "The striker scored twice in the derby.", "topic": "sport"}]
    with open_connector(engine, tmp_path, encoder=str(tiny_lens_dir()), dense=minilm) as store:
        store.ingest(rows, show_progress=False)
        documents = store.as_retriever(k=2, filter={"topic": "sport"}).invoke("interest rates")
        assert [d.metadata["doc_id"] for d in documents] == ["b"]
        assert set(documents[0].metadata["scores"]) == {"lens", "dense"} and documents[0].metadata["topic"] == "sport"
        documents = asyncio.run(store.as_retriever(k=1, fusion="weighted").ainvoke("interest rates and the bank"))
        assert documents[0].page_content == rows[0]["text"]
