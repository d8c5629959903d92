"""The offline default model (SmolLM2-135M-Instruct + LENS head) builds, loads and encodes real text."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from lens_vdb import LensEncoder
from lens_vdb._datasets import load_bbc_news
from lens_vdb._model.default import DEFAULT_VERSION, default_model_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoder():
    return LensEncoder(max_length=128)


def test_default_model_encodes_real_news_with_explanations(encoder):
    articles = load_bbc_news(limit=6)
    docs = encoder.encode_documents([a.text for a in articles])
    queries = encoder.encode_queries([a.title for a in articles])
    assert docs.shape == queries.shape == (6, 4000) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    explained = encoder.explain(docs[0], top=3)
    assert len(explained) == 3 and all(item.tokens for item in explained)
    assert encoder.tokenizer.eos_token == "<|im_end|>"  # the GGUF tokenizer's EOS is fixed from the config


def test_the_default_model_starts_every_text_with_bos_as_it_was_trained(encoder):
    """transformers 4.x prepends BOS to SmolLM2's GGUF tokenizer and the shipped head was trained so; 5.x follows
    the file's add_bos_token=False. Both defaults must tokenize as trained, whichever version built them."""
    from lens_vdb._inference.features import tokenize_documents, tokenize_queries

    tokenizer = encoder.tokenizer
    assert tokenizer.bos_token_id == 1
    assert tokenize_documents(tokenizer, ["Rates rose."], 128).ids[0][0] == tokenizer.bos_token_id
    assert tokenize_queries(tokenizer, ["rates"], "find news", 128).ids[0][:2] == [1, tokenizer.convert_tokens_to_ids(
        "<instruct>")]
    untrained = LensEncoder(default_model_dir(trained=False), max_length=128).tokenizer
    assert untrained("Rates rose.").input_ids == tokenizer("Rates rose.").input_ids
    # saved as plain float weights: no GGUF quantization_config (5.x keeps one; 4.57 warns on every load)
    config = json.loads((default_model_dir() / "config.json").read_text())
    assert "quantization_config" not in config and config["rope_theta"] == 100000.0


def test_bbc_corpus_is_deduplicated_in_a_fixed_order():
    everything = load_bbc_news(deduplicate=False)
    distinct = load_bbc_news()
    assert len(everything) == 2225
    assert 2000 < len(distinct) < 2225 and len({a.text for a in distinct}) == len(distinct)
    assert distinct[0].id == "business/001" and distinct[0].title and distinct[0].body
    assert {a.topic for a in distinct} == {"business", "entertainment", "politics", "sports", "tech"}


# tokens of the clusters that sit in nearly every document's top dimensions (measured on the Debian held-out split)
GENERIC_TOKENS = {"the", "a", "an", "it", "this", "is", "in", "at", "on", "has", "have", "had", "present", "current",
                  "source", "origin", "of", "and", "to", "p", "b", "h", "l", "d", "n", "m"}


def test_the_main_job_ingests_real_news_then_resumes(tmp_path, capsys):
    """`make demo` at small scale: the default model on the backend measured fastest on this CPU (which one
    is this CPU's business), BBC articles into embedded Qdrant, hybrid queries with explanations; a re-run
    resumes."""
    from lens_vdb._inference.auto_cache import find_graph
    from lens_vdb._inference.candidates import CANDIDATES
    from lens_vdb.cli import main
    from lens_vdb.export import Manifest

    assert main(["demo", "--documents", "10", "--location", str(tmp_path / "data")]) == 0
    first = capsys.readouterr().out
    assert "ingested 10, skipped 0" in first and "holds 10 articles" in first
    (chosen,) = [name for name in CANDIDATES if f"({name}; ready in" in first]
    assert f"backend={CANDIDATES[chosen][0]} " in first and f"backend choice: {chosen}: " in first
    if chosen == "onnx-int8":  # a graph auto exported passed every check, MRR@10 included
        manifest = Manifest.load(find_graph(LensEncoder().fingerprint, "int8"))
        assert manifest.retrieval["articles"] == 200 and manifest.retrieval["relative_change"] >= -0.01
    assert first.count("query: ") == 4 and "shared LENS clusters:" in first
    assert "fusion: weighted 0.4:0.6 (the model's own, measured on perl-faq-calibration-152)" in first
    assert "into embedded Qdrant at " in first and f"/bbc-default-{DEFAULT_VERSION}\n" in first  # one per version
    # the shared clusters say why this article matched: weighted by the model's cluster specificity, the generic
    # ones that every article shares (function words, letters, 'present/current') drop out
    for line in re.findall(r"shared LENS clusters: (.+)", first):
        tokens = {token.lower() for cluster in line.split("; ") for token in cluster.rsplit(" ", 1)[0].split("/")}
        assert not tokens & GENERIC_TOKENS, line
    for block in first.split("\nquery: ")[1:]:  # each article once, by its best chunk; 3 but where a filter
        titles = re.findall(r"^  \d\. \[\w+\] (.+)  \(chunk \d+; weighted ", block, re.M)  # leaves fewer
        assert len(set(titles)) == len(titles) == (len(titles) if "filter:" in block else 3) > 0, block
    assert main(["demo", "--documents", "10", "--location", str(tmp_path / "data"), "--backend", "torch"]) == 0
    second = capsys.readouterr().out
    assert "backend=torch" in second and "ingested 0, skipped 10" in second  # resumed: nothing encoded twice


def test_framework_classes_with_no_argument_use_the_default_model(encoder):
    from lens_vdb.integrations.langchain import LensEmbeddings
    from lens_vdb.integrations.llamaindex import LensEmbedding

    langchain, llamaindex = LensEmbeddings(), LensEmbedding()  # on backend="auto": the fastest here
    assert langchain.encoder.fingerprint == llamaindex.encoder.fingerprint == encoder.fingerprint
    expected = encoder.encode_queries(["interest rates"])[0]
    for got in (langchain.embed_query("interest rates"), llamaindex.get_query_embedding("interest rates")):
        assert len(got) == 4000 and float(np.dot(got, expected)) >= 0.99  # auto's bar for every candidate
