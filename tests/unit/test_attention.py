"""Bidirectional attention really is bidirectional, causal really is causal, and padding never leaks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lens_vdb import LensEncoder, LensModel

FAMILIES = ["mistral", "llama", "qwen2"]


def _hidden(model: LensModel, ids: list[list[int]]) -> torch.Tensor:
    width = max(map(len, ids))
    input_ids = torch.full((len(ids), width), model.tokenizer.eos_token_id)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    with torch.no_grad():
        return model.hidden_states(input_ids, mask)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])  # eager is what the ONNX export traces
@pytest.mark.parametrize("family", FAMILIES)
def test_a_later_token_changes_an_earlier_position_only_when_bidirectional(built_dirs, family, attn):
    """Fails if transformers (4.x or 5.x) stops passing the 4-D mask through and attends causally anyway."""
    model = LensModel.from_pretrained(built_dirs[family], attn_implementation=attn)
    assert model.backbone.config._attn_implementation == attn
    ids = model.tokenizer("The Bank of England raised rates").input_ids
    changed = list(ids)
    changed[-1] = (changed[-1] + 7) % len(model.tokenizer)
    before, after = _hidden(model, [ids, changed])
    assert (before[1] - after[1]).abs().max() > 1e-4  # position 1 sees the last token

    model.config = model.config.replace(attention="causal")
    before, after = _hidden(model, [ids, changed])
    assert (before[:-1] - after[:-1]).abs().max() < 1e-6  # earlier positions cannot see it
    assert (before[-1] - after[-1]).abs().max() > 1e-4


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("attention", ["bidirectional", "causal"])
def test_padding_never_changes_a_real_tokens_output(built_dirs, family, attention):
    model = LensModel.from_pretrained(built_dirs[family])
    model.config = model.config.replace(attention=attention)
    short = model.tokenizer("fox").input_ids
    long = model.tokenizer("The quick brown fox jumps over the lazy dog near the river bank").input_ids
    alone = _hidden(model, [short])[0]
    padded = _hidden(model, [short, long])[0, : len(short)]
    assert (alone - padded).abs().max() < 1e-5
    encoder = LensEncoder(model, batch_size=8)
    together = encoder.encode_documents(["fox", "The quick brown fox jumps over the lazy dog"])
    assert np.abs(together[0] - encoder.encode_documents(["fox"])[0]).max() < 1e-5


def test_bidirectional_and_causal_embeddings_differ(built_dirs):
    bi = LensEncoder(built_dirs["llama"]).encode_documents(["The film won three awards at the festival."])
    model = LensModel.from_pretrained(built_dirs["llama"])
    model.config = model.config.replace(attention="causal")
    causal = LensEncoder(model).encode_documents(["The film won three awards at the festival."])
    assert np.abs(bi - causal).max() > 1e-3
