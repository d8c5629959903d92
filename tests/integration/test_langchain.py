"""LangChain: the standard embeddings suites, sparse embeddings in QdrantVectorStore, the retriever, a RAG chain."""

from __future__ import annotations

import asyncio
import subprocess
import sys

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

    texts = [f"The Bank of England raised rates by {i} points." for i in range(64)]  # distinct: none is cached
    vectors, ticks = run_counting_ticks(lambda: embeddings.aembed_documents(texts), period=0.002)
    # a call that blocked the loop would let the ticker run 0 times; how many more depends on the machine's load
    assert len(vectors) == 64 and ticks >= 2


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


def test_lens_embeddings_from_the_package_root():
    import lens_vdb

    assert lens_vdb.LensEmbeddings is LensEmbeddings and "LensEmbeddings" in dir(lens_vdb)
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'langchain_core':\n"
        "            raise ImportError('blocked for the test: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from lens_vdb import *\n"  # a bare install star-imports fine: the optional name is not in __all__
        "try:\n"
        "    from lens_vdb import LensEmbeddings\n"
        "except ImportError as exc:\n"
        "    assert type(exc).__name__ == 'LensDependencyError' and 'lens-vdb[langchain]' in str(exc), exc\n"
        "    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_model_name_repr_and_pickling_keep_settings_not_weights():
    import pickle

    from lens_vdb import LensInputError

    embeddings = LensEmbeddings(model_name=str(tiny_lens_dir()), task="sts", max_length=64, batch_size=3)
    assert embeddings.model_name == str(tiny_lens_dir())
    text = repr(embeddings)
    assert text.startswith(f"LensEmbeddings(model_name={str(tiny_lens_dir())!r}, task='sts'") and len(text) < 400
    blob = pickle.dumps(embeddings)
    assert len(blob) < 5_000  # settings only: the tiny model's weights alone are ~200 KB
    restored = pickle.loads(blob)
    assert restored == embeddings and restored.max_length == 64 and restored.batch_size == 3
    assert restored.embed_query("interest rates") == embeddings.embed_query("interest rates")
    sparse = pickle.loads(pickle.dumps(LensSparseEmbeddings(str(tiny_lens_dir()), top_k=4)))
    assert sparse.top_k == 4 and len(sparse.embed_query("interest rates").indices) == 4
    assert LensEmbeddings(sparse.encoder).model_name == str(tiny_lens_dir())  # a ready encoder names its model
    with pytest.raises(LensInputError, match="Name the model once"):
        LensEmbeddings(str(tiny_lens_dir()), model_name="default")
    with pytest.raises(ValueError, match="top_k"):
        LensSparseEmbeddings(str(tiny_lens_dir()), top_k=0)


def test_show_progress_reports_while_a_store_is_built(capsys):
    from langchain_core.documents import Document
    from langchain_qdrant import QdrantVectorStore

    embeddings = LensEmbeddings(str(tiny_lens_dir()), batch_size=2, show_progress=True)
    docs = [Document(page_content=f"Article {i} about the bank and its interest rates.") for i in range(6)]
    QdrantVectorStore.from_documents(docs, embeddings, location=":memory:", collection_name="progress")
    assert "LENS encode" in capsys.readouterr().err
    LensEmbeddings(str(tiny_lens_dir()), batch_size=2).embed_documents(["Silent by default, another text."])
    assert "LENS encode" not in capsys.readouterr().err


def test_minilm_embeddings_are_the_connectors_default_dense_model(minilm):
    from lens_vdb import default_dense_model_dir
    from lens_vdb.integrations.langchain import MiniLMEmbeddings

    assert (default_dense_model_dir() / "modules.json").is_file()
    dense = MiniLMEmbeddings()
    vectors = np.array(dense.embed_documents(["The central bank raised interest rates."]))
    assert vectors.shape == (1, 384)
    assert np.allclose(vectors[0], minilm.embed_documents(["The central bank raised interest rates."])[0], atol=1e-5)


@pytest.mark.parametrize("engine", ["qdrant-edge", "milvus-lite"])
def test_as_retriever_takes_langchain_search_kwargs(tmp_path, minilm, engine):
    from lens_vdb import LensInputError
    from tests.integration.engines import open_connector

    rows = [{"id": "a", "text": "The central bank raised interest rates.", "topic": "business"},
            {"id": "b", "text": "The striker scored twice in the derby.", "topic": "sport"},
            {"id": "c", "text": "The bank cut interest rates again.", "topic": "business"}]
    with open_connector(engine, tmp_path, encoder=str(tiny_lens_dir()), dense=minilm) as store:
        store.ingest(rows, show_progress=False)
        retriever = store.as_retriever(search_type="similarity", search_kwargs={"k": 4, "filter": {"topic": "sport"}})
        assert [d.metadata["doc_id"] for d in retriever.invoke("interest rates")] == ["b"]
        two = store.as_retriever(search_kwargs={"k": 2, "fusion": "weighted"}, tags=["lens"])
        assert len(two.invoke("interest rates")) == 2 and two.tags == ["lens"]
        assert len(two.invoke("interest rates", k=1)) == 1  # one call's override, as VectorStoreRetriever allows
        best = store.search("interest rates", limit=3, fusion="weighted")
        threshold = store.as_retriever(search_type="similarity_score_threshold",
                                       search_kwargs={"score_threshold": best[1].score, "fusion": "weighted"})
        assert [d.metadata["doc_id"] for d in threshold.invoke("interest rates")] == [h.doc_id for h in best[:2]]
        with pytest.raises(LensInputError, match=r"Unknown search_kwargs keyword\(s\) \['lmit'\]"):
            store.as_retriever(search_kwargs={"lmit": 3})
        with pytest.raises(LensInputError, match="mmr"):
            store.as_retriever(search_type="mmr")
        with pytest.raises(LensInputError, match="score_threshold"):
            store.as_retriever(search_type="similarity_score_threshold")
        with pytest.raises(LensInputError, match="given twice"):
            store.as_retriever(k=2, search_kwargs={"k": 3})
