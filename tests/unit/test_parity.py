"""lens-vdb matches the official LENS procedure within 1e-5 on an official-layout checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from lens_vdb import LensEncoder
from tests.official_reference import OfficialLens

# the last one types the <query> token itself: both implementations pool from the last one
QUERIES = ["bank rates", "who won the cup final at Wembley after extra time", "fox", "tax on fuel budget debate",
           "rates <query> inflation outlook"]
DOCS = [
    "The Bank of England raised interest rates to curb inflation.",
    "Chelsea won.",
    "Hybrid search fuses sparse and dense scores with reciprocal rank fusion, and the quick brown fox jumps.",
    "Paris",
    "Stocks fell sharply as investors worried about growth.",
]
INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query."


@pytest.fixture(scope="module")
def reference(official_dir_plain_tokenizer):
    return OfficialLens(official_dir_plain_tokenizer, INSTRUCTION)


@pytest.mark.parametrize("tokenizer_appends_eos", [False, True])
def test_queries_and_documents_match_official(reference, official_dir, official_dir_plain_tokenizer,
                                              tokenizer_appends_eos):
    source = official_dir if tokenizer_appends_eos else official_dir_plain_tokenizer
    encoder = LensEncoder(source, batch_size=3)  # mixed lengths in each batch
    ours_q = encoder.encode_queries(QUERIES)
    ours_d = encoder.encode_documents(DOCS)
    ref_q = reference.encode_queries(QUERIES)
    ref_d = reference.encode_corpus(DOCS)
    assert ours_q.shape == ref_q.shape == (len(QUERIES), 48)
    assert np.abs(ours_q - ref_q).max() < 1e-5
    assert np.abs(ours_d - ref_d).max() < 1e-5
    # the vectors are not trivially equal to each other
    assert np.abs(ours_d[0] - ours_d[1]).max() > 1e-3


def test_one_batch_per_text_gives_the_same_vectors(official_dir):
    batched = LensEncoder(official_dir, batch_size=8).encode_documents(DOCS)
    single = LensEncoder(official_dir, batch_size=1).encode_documents(DOCS)
    assert np.abs(batched - single).max() < 1e-5


def test_official_head_pitfall_two_eos_would_change_vectors(reference, official_dir):
    """Sanity: the hub tokenizer + the official suffix gives two EOS and a different query vector."""
    tokenizer = LensEncoder(official_dir).tokenizer
    ids = tokenizer(f"<instruct>{INSTRUCTION}\n<query>bank rates</s>").input_ids
    assert ids[-2:] == [tokenizer.eos_token_id] * 2


def test_a_query_without_instruction_matches_official_with_an_empty_instruction(official_dir_plain_tokenizer):
    """`instruction=""` is the official prompt with nothing between <instruct> and the newline, pooled from <query>."""
    encoder = LensEncoder(official_dir_plain_tokenizer, batch_size=3)
    ours = encoder.encode_queries(QUERIES, instruction="")
    official = OfficialLens(official_dir_plain_tokenizer, "").encode_queries(QUERIES)
    assert np.abs(ours - official).max() < 1e-5
    assert np.abs(ours - encoder.encode_queries(QUERIES)).max() > 1e-4  # the instruction does condition the query


def test_the_reference_itself_attends_to_later_tokens(reference):
    """Parity with a causal reference would prove nothing: its padding-only 4-D mask must reach the eager
    attention unchanged (transformers 4.x and 5.x alike), so a later token moves every earlier position."""
    import torch

    ids = reference.tokenizer("Chelsea won the cup final at Wembley", return_tensors="pt")["input_ids"]
    changed = ids.clone()
    changed[0, -1] = reference.tokenizer.convert_tokens_to_ids("▁fox")
    assert (ids != changed).sum() == 1
    inputs = {"input_ids": torch.cat([ids, changed]), "attention_mask": torch.ones(2, ids.shape[1], dtype=torch.long)}
    with torch.no_grad():
        logits = reference._logits(inputs)
    assert (logits[0, :-1] - logits[1, :-1]).abs().amax(dim=-1).min() > 1e-5  # every earlier position moved
