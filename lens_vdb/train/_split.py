"""A LENS forward pass cut in two: the frozen lower decoder layers, and the top layers + head that train.

``LensModel.forward`` is embeddings -> every decoder layer (bidirectional 4-D mask, positions
counted over real tokens) -> final norm -> centroid head -> shift-by-one pooling -> L2 norm. Here
the same HF backbone runs as two *views* that share its modules: :func:`lower_hidden` stops
after the first ``start`` layers (no final norm), and :class:`TopStack` takes those hidden states
as ``inputs_embeds`` through layers ``start:end`` and the final norm, then pools exactly as the
model does. Both halves call the backbone's own ``forward`` with the model's own mask and
position ids, so rotary embeddings and attention are those of full inference: for a decoder
whose inputs are plain token embeddings (Llama, Mistral, Qwen2; SmolLM2 is a Llama), lower +
top equals the full model. ``end < layers`` is a shallower backbone: its first ``end`` layers.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from .._errors import LensInputError
from .._model.attention import attention_bias, position_ids_from_mask
from .._model.lens_model import LensModel
from .._model.pooling import lexicon_pool, pooling_mask
from .._model.top import backbone_layers, decoder_layers

__all__ = ["LowerStack", "TopStack", "backbone_layers", "decoder_layers", "lower_hidden"]


def _view(backbone: nn.Module, start: int, end: int, *, final_norm: bool) -> nn.Module:
    """The backbone with only layers ``start:end`` (and the final norm or none), sharing its parameters."""
    view = copy.copy(backbone)
    view._modules = dict(backbone._modules)
    view.layers = nn.ModuleList(list(decoder_layers(backbone))[start:end])
    if not final_norm:
        view.norm = nn.Identity()
    return view


class LowerStack(nn.Module):
    """Frozen layers ``start:end`` of a LENS model's backbone, without the final norm, in ``dtype``.

    ``start=0`` begins at the token embeddings (``forward(input_ids, attention_mask)``); a later
    ``start`` continues from another stack's output (``forward(attention_mask=..., hidden=...)``),
    so one pass can stop at several layers. A ``dtype`` other than the model's makes a copy of
    just these modules in that dtype (bf16 where the CPU has native bf16); the model is untouched.
    """

    def __init__(self, model: LensModel, end: int, *, start: int = 0, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        total = backbone_layers(model)
        if not 0 <= start <= end <= total:
            raise LensInputError(f"Layers {start}:{end} are not a lower stack of a {total}-layer backbone.")
        view = _view(model.backbone, start, end, final_norm=False)
        if start > 0:
            view.embed_tokens = None  # type: ignore[assignment]  # never used: it starts from hidden states
        dtype = dtype or model.head.weight.dtype
        if dtype != model.head.weight.dtype:
            view = copy.deepcopy(view).to(dtype)
        self.view, self.dtype, self.start, self.end = view.requires_grad_(False), dtype, start, end
        self.causal = model.config.attention == "causal"

    @torch.no_grad()
    def forward(self, input_ids: Tensor | None, attention_mask: Tensor, hidden: Tensor | None = None) -> Tensor:
        args = {"attention_mask": attention_bias(attention_mask, self.dtype, causal=self.causal),
                "position_ids": position_ids_from_mask(attention_mask), "use_cache": False}
        if self.start == 0:
            return self.view(input_ids=input_ids, **args).last_hidden_state
        if hidden is None:
            raise LensInputError(f"A stack starting at layer {self.start} takes the hidden states of layer "
                                 f"{self.start} (hidden=...), not token ids.")
        return self.view(inputs_embeds=hidden.to(self.dtype), **args).last_hidden_state


def lower_hidden(model: LensModel, input_ids: Tensor, attention_mask: Tensor, end: int) -> Tensor:
    """``[batch, tokens, hidden]`` output of the first ``end`` decoder layers (before the final norm)."""
    return LowerStack(model, end)(input_ids, attention_mask)


class TopStack(nn.Module):
    """Layers ``start:end`` of a LENS model's backbone, its final norm and head: hidden states in, vectors out.

    Shares the modules of ``model`` (training it trains the model). ``forward(hidden, input_ids,
    attention_mask)`` takes :func:`lower_hidden`'s output for those ids and returns the model's
    ``[batch, k]`` embeddings (for ``end`` = all layers, those of ``model.forward``).
    """

    def __init__(self, model: LensModel, start: int, end: int | None = None) -> None:
        super().__init__()
        total = backbone_layers(model)
        end = total if end is None else end
        if not 0 <= start <= end <= total or end == 0:
            raise LensInputError(f"Layers {start}:{end} are not a top stack of a {total}-layer backbone; "
                                 f"need 0 <= start <= end <= {total} and end >= 1.")
        self.lens, self.start, self.end = model, start, end
        self.view = _view(model.backbone, start, end, final_norm=True)

    def forward(self, hidden: Tensor, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        model = self.lens
        causal = model.config.attention == "causal"
        args = {"attention_mask": attention_bias(attention_mask, model.head.weight.dtype, causal=causal),
                "position_ids": position_ids_from_mask(attention_mask), "use_cache": False}
        final = self.view(inputs_embeds=hidden.to(model.head.weight.dtype), **args).last_hidden_state
        mask = pooling_mask(input_ids, attention_mask, model.query_token_id, model.config.pooling)
        reduction = "sum" if model.config.pooling == "sum" else "max"
        pooled = lexicon_pool(final, model.head.weight, mask, reduction)
        return nn.functional.normalize(pooled, p=2, dim=1) if model.config.normalize else pooled
