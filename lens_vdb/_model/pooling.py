"""LENS pooling: which positions are pooled, and a memory-bounded lexicon max/sum.

The LM head of a decoder predicts the *next* token, so the output at position ``i-1`` is the
feature of token ``i`` ("shift by one"). A text is fed as ``[prefix...] t_1 ... t_n EOS``; the
pooled positions are those whose next token is a content token: every real position except the
last two (the output at ``t_n`` predicts EOS, and EOS itself predicts nothing). Queries are
pooled only from their ``<query>`` token on, so the instruction never leaks into the vector.
This is exactly the official mask ``[<query>:-2]`` / ``attention_mask[:, -2:] = 0`` under left
padding, written so that it holds for any padding side.

``log(1 + relu(x))`` is monotonic, so the max over positions of the saturated logits equals the
saturation of the max logit: :func:`lexicon_pool` takes the masked max of the raw logits chunk by
chunk over the sequence and never materialises a ``[batch, tokens, k]`` tensor.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["pooling_mask", "lexicon_pool", "naive_lexicon_pool"]

# About 64 MiB of float32 logits per chunk: bounded memory at k=8000, batch 32, 512 tokens.
_CHUNK_ELEMENTS = 1 << 24


def pooling_mask(
    input_ids: Tensor, attention_mask: Tensor, query_token_id: int | None, pooling: str = "max"
) -> Tensor:
    """Boolean ``[batch, tokens]`` mask of the positions whose outputs are pooled.

    Rows holding ``query_token_id`` are queries, pooled from their last ``<query>`` token on, as
    the official code does (``special_pos[-1]``), so a ``<query>`` string typed inside a query
    moves the start exactly as it does there. For ``pooling="last"`` only the final real
    position (the EOS output) is kept, as in the official ``cls-pooling``.
    """
    real = attention_mask.bool()
    rank = torch.cumsum(real.long(), dim=1)  # 1-based index among real tokens
    length = rank[:, -1:]
    if pooling == "last":
        return real & (rank == length)
    mask = real & (rank <= length - 2)
    if query_token_id is not None:
        is_anchor = (input_ids == query_token_id) & real
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
        # -1 where a row has no anchor (a document): every position passes
        last_anchor = torch.where(is_anchor, positions, torch.full_like(positions, -1)).amax(dim=1, keepdim=True)
        mask = mask & (positions >= last_anchor)
    return mask


def lexicon_pool(
    hidden: Tensor, head_weight: Tensor, mask: Tensor, pooling: str = "max", *, chunked: bool = True
) -> Tensor:
    """Pooled ``log(1 + relu(hidden @ head_weight.T))`` over masked positions, as float32 ``[batch, k]``.

    The head is applied to a chunk of positions at a time; for max pooling only the running max
    of the raw logits is kept. A row with no pooled position gives the zero vector.
    ``chunked=False`` applies the head in one step: the graph exporters trace that form, since a
    Python loop over the sequence would be frozen at the trace-time length.
    """
    batch, tokens, _ = hidden.shape
    k = head_weight.shape[0]
    step = max(1, _CHUNK_ELEMENTS // max(1, batch * k)) if chunked else None
    if step is None:
        logits = torch.nn.functional.linear(hidden, head_weight).float()
        if pooling == "sum":
            return torch.where(mask[:, :, None], torch.log1p(torch.relu(logits)), 0.0).sum(dim=1)
        best = torch.where(mask[:, :, None], logits, float("-inf")).amax(dim=1)
        return torch.log1p(torch.relu(best))
    if pooling == "sum":
        total = hidden.new_zeros((batch, k), dtype=torch.float32)
        for start in range(0, tokens, step):
            logits = torch.nn.functional.linear(hidden[:, start : start + step], head_weight).float()
            chunk_mask = mask[:, start : start + step, None]
            total += torch.where(chunk_mask, torch.log1p(torch.relu(logits)), 0.0).sum(dim=1)
        return total
    best = hidden.new_full((batch, k), float("-inf"), dtype=torch.float32)
    for start in range(0, tokens, step):
        logits = torch.nn.functional.linear(hidden[:, start : start + step], head_weight).float()
        chunk_mask = mask[:, start : start + step, None]
        best = torch.maximum(best, torch.where(chunk_mask, logits, float("-inf")).amax(dim=1))
    return torch.log1p(torch.relu(best))


def naive_lexicon_pool(hidden: Tensor, head_weight: Tensor, mask: Tensor, pooling: str = "max") -> Tensor:
    """The literal official formula, materialising ``[batch, tokens, k]``; for tests and the bench."""
    saturated = torch.log(1 + torch.relu(torch.nn.functional.linear(hidden, head_weight).float()))
    weighted = saturated * mask.unsqueeze(-1)
    return weighted.sum(dim=1) if pooling == "sum" else weighted.max(dim=1).values
