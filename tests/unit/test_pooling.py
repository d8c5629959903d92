"""Shift-by-one masks, chunked pooling equal to the literal formula, and the pooling options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lens_vdb._model.pooling as _pooling
from lens_vdb import LensEncoder, LensModel
from lens_vdb._model.pooling import lexicon_pool, naive_lexicon_pool, pooling_mask

QUERY_ID = 99


def test_document_mask_drops_the_last_two_real_positions_for_any_padding_side():
    ids = torch.tensor([[1, 10, 11, 12, 2, 0, 0], [0, 0, 1, 10, 11, 12, 2]])
    attention = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 1]])
    mask = pooling_mask(ids, attention, QUERY_ID)
    assert mask.int().tolist() == [[1, 1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 0, 0]]


def test_query_mask_starts_at_the_last_query_token_as_the_official_code():
    # <s> <instruct> a \n <query> q1 q2 <query-in-text> q3 </s>, then the same left-padded, then a document
    ids = torch.tensor([[1, 97, 5, 6, QUERY_ID, 20, 21, QUERY_ID, 22, 2],
                        [0, 0, 1, 97, QUERY_ID, 20, QUERY_ID, 22, 23, 2],
                        [1, 20, 21, 22, 23, 24, 25, 26, 27, 2]])
    attention = torch.tensor([[1] * 10, [0, 0] + [1] * 8, [1] * 10])
    mask = pooling_mask(ids, attention, QUERY_ID)
    assert mask.int().tolist() == [[0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
                                   [0, 0, 0, 0, 0, 0, 1, 1, 0, 0],
                                   [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]]


def test_last_pooling_keeps_only_the_eos_output():
    ids = torch.tensor([[1, 10, 11, 2, 0]])
    mask = pooling_mask(ids, torch.tensor([[1, 1, 1, 1, 0]]), QUERY_ID, "last")
    assert mask.int().tolist() == [[0, 0, 0, 1, 0]]


@pytest.mark.parametrize("reduction", ["max", "sum"])
def test_chunked_pool_equals_the_literal_formula(monkeypatch, reduction):
    torch.manual_seed(0)
    hidden, head = torch.randn(3, 37, 16), torch.randn(50, 16)
    mask = torch.rand(3, 37) > 0.3
    mask[2] = False  # a row with nothing to pool
    monkeypatch.setattr(_pooling, "_CHUNK_ELEMENTS", 3 * 50 * 5)  # 5 positions per chunk
    chunked = lexicon_pool(hidden, head, mask, reduction)
    literal = naive_lexicon_pool(hidden, head, mask.float(), reduction)
    assert torch.allclose(chunked, literal, atol=1e-5)
    assert chunked[2].abs().max() == 0


@pytest.mark.parametrize("pooling", ["sum", "last"])
def test_pooling_options_give_normalised_distinct_vectors(built_dirs, pooling):
    base = LensEncoder(built_dirs["llama"]).encode_documents(["Stocks fell sharply as investors worried."])
    model = LensModel.from_pretrained(built_dirs["llama"])
    model.config = model.config.replace(pooling=pooling)
    other = LensEncoder(model).encode_documents(["Stocks fell sharply as investors worried."])
    assert np.isclose(np.linalg.norm(other), 1.0, atol=1e-5)
    assert np.abs(other - base).max() > 1e-3
