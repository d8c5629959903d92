"""4-D attention masks that make a decoder attend bidirectionally (or causally) over real tokens.

A pre-built 4-D mask is passed to the HF backbone as ``attention_mask``; transformers (>= 4.53)
uses a 4-D mask as given for every attention implementation (eager, sdpa). This is what makes
attention bidirectional for Mistral, Llama and Qwen2 alike, without patching attention classes
(the official ``MistralBiForCausalLM`` is silently causal on transformers >= 4.50), and it keeps
ONNX tracing on a plain tensor path.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["attention_bias", "position_ids_from_mask"]


def attention_bias(attention_mask: Tensor, dtype: torch.dtype, *, causal: bool) -> Tensor:
    """Additive ``[batch, 1, tokens, tokens]`` mask: 0 where attention is allowed, dtype-min elsewhere.

    Every position (padding included) may attend to every real token, so no row is fully masked
    and no NaN can appear; padding keys are never attended to.
    """
    keys = attention_mask.bool()[:, None, None, :]
    tokens = attention_mask.shape[1]
    allowed = keys.expand(-1, 1, tokens, -1)
    if causal:
        # index comparisons rather than tril/eye: they export to ONNX ops every runtime implements
        index = torch.arange(tokens, device=attention_mask.device)
        lower = index[None, :] <= index[:, None]
        # a padding row with no real key at or before it would be empty: let it see itself
        allowed = (allowed & lower) | (index[None, :] == index[:, None])
    zero = torch.zeros((), dtype=dtype, device=attention_mask.device)
    blocked = torch.full((), torch.finfo(dtype).min, dtype=dtype, device=attention_mask.device)
    return torch.where(allowed, zero, blocked)


def position_ids_from_mask(attention_mask: Tensor) -> Tensor:
    """Positions counted over real tokens only, so the padding side and amount never shift RoPE."""
    return (torch.cumsum(attention_mask.long(), dim=1) - 1).clamp(min=0)
