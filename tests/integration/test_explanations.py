"""Explanations that explain: shared clusters weighted by how specific each is (an IDF kept beside the model),
each with the query's and the document's own tokens; a damaged specificity file is an error naming it."""

from __future__ import annotations

import numpy as np
import pytest

from lens_vdb import LensEncoder, LensInputError, LensModelError
from lens_vdb._model.specificity import (
    SPECIFICITY_FILE,
    measure_specificity,
    read_specificity,
    save_specificity,
)
from tests.tiny import copy_tiny_lens

TEXTS = ["The central bank raised interest rates again.", "The striker scored twice in the derby.",
         "A new phone has a faster chip.", "Rates fell as inflation cooled.", "The club signed a goalkeeper."] * 5


def test_a_cluster_in_every_document_has_no_specificity_and_a_rare_one_the_most():
    vectors = np.random.default_rng(0).random((40, 300)).astype(np.float32)
    vectors[:, 7] = 10.0  # in every document's top
    vectors[:, 9] = -1.0  # in none
    idf = measure_specificity(vectors)
    assert idf.shape == (300,) and idf[7] == 0 and idf[9] == pytest.approx(np.log(40)) and (idf >= 0).all()
    with pytest.raises(LensInputError, match="at least 20 documents"):
        measure_specificity(vectors[:5])


def test_explain_match_ranks_by_specificity_and_shows_the_texts_own_tokens(tmp_path):
    model_dir = copy_tiny_lens(tmp_path / "model")
    plain = LensEncoder(model_dir)
    assert plain.specificity is None
    query, document = plain.encode_queries(["interest rates"])[0], plain.encode_documents([TEXTS[0]])[0]
    shared = plain.explain_match(query, document, top=3)
    assert [e.cluster for e in shared] == [e.cluster for e in plain.explain(query * document, top=3)]

    idf = measure_specificity(plain.encode_documents(TEXTS))
    idf[shared[0].cluster] = 0.0  # as if that cluster were in every document: it drops out
    save_specificity(model_dir, idf, measured_on="tiny test corpus")
    encoder = LensEncoder(model_dir)
    assert np.array_equal(encoder.specificity, idf)
    weighted = encoder.explain_match(query, document, top=3)
    assert shared[0].cluster not in [e.cluster for e in weighted]
    expected = np.argsort(-(query * document * idf), kind="stable")[:3]
    assert [e.cluster for e in weighted] == [int(c) for c in expected if (query * document * idf)[c] > 0]
    with_texts = encoder.explain_match(query, document, top=3, query_text="interest rates", document_text=TEXTS[0])
    for explanation in with_texts:  # the texts' own tokens in the cluster come first
        own = [t for t in explanation.tokens if t.lower() in "interest rates the central bank raised again."]
        assert explanation.tokens[: len(own)] == tuple(own)


def test_with_the_texts_the_clusters_of_their_words_come_before_the_models_expansions(tmp_path):
    encoder = LensEncoder(copy_tiny_lens(tmp_path / "model"))
    query_text, document_text = "interest rates", TEXTS[0]
    query, document = encoder.encode_queries([query_text])[0], encoder.encode_documents([document_text])[0]
    tokenizer, clusters = encoder.tokenizer, encoder.cluster_map

    def holding(text):
        return {int(clusters.cluster_of[t]) for t in tokenizer(text, add_special_tokens=False)["input_ids"]}

    in_texts = [holding(query_text), holding(document_text)]
    shared = np.flatnonzero(query * document > 0)
    seen_in = {int(c): any(int(c) in held for held in in_texts) for c in shared}
    expansion = max((c for c in seen_in if not seen_in[c]), key=lambda c: (query * document)[c])
    idf = np.ones(encoder.k, dtype=np.float32)
    idf[expansion] = 1e6  # the heaviest shared cluster by far, and in neither text
    save_specificity(tmp_path / "model", idf, measured_on="tiny test corpus")
    encoder = LensEncoder(tmp_path / "model")
    assert encoder.explain_match(query, document, top=1)[0].cluster == expansion  # by weight alone it leads
    found = encoder.explain_match(query, document, top=len(shared), query_text=query_text, document_text=document_text)
    weights = query * document * idf
    expected = sorted(seen_in, key=lambda c: (-seen_in[c], -weights[c]))
    assert [e.cluster for e in found] == expected and seen_in[found[0].cluster]
    assert [e.cluster for e in found].index(expansion) == sum(seen_in.values())  # first after the texts' clusters


def test_a_damaged_specificity_file_is_an_error_naming_it(tmp_path):
    model_dir = copy_tiny_lens(tmp_path / "model")
    (model_dir / SPECIFICITY_FILE).write_bytes(b"not safetensors")
    with pytest.raises(LensModelError, match=SPECIFICITY_FILE):
        LensEncoder(model_dir)
    save_specificity(model_dir, np.ones(7, dtype=np.float32), measured_on="x")  # another k
    with pytest.raises(LensModelError, match="does not hold 32 finite cluster weights"):
        read_specificity(model_dir, 32)
