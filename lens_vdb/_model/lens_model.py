"""The LENS model: a HF decoder backbone, bidirectional attention, a centroid head and lexicon pooling."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from .._errors import LensModelError
from .._files import HEAD_NAME
from .._instructions import QUERY_TOKEN
from .attention import attention_bias, position_ids_from_mask
from .checkpoint import read_checkpoint
from .cluster_map import ClusterMap
from .config import LensConfig
from .pooling import lexicon_pool, pooling_mask

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["LensModel", "load_model"]


class LensModel(nn.Module):
    """A LENS lexicon embedder over a HF decoder backbone.

    ``forward(input_ids, attention_mask)`` returns the ``[batch, k]`` embedding: bidirectional
    (or causal) attention over real tokens, the centroid head, shift-by-one max (or sum/last)
    pooling of ``log(1 + relu(logits))`` restricted to the query tokens for queries, then L2
    normalisation. Queries are recognised by their ``<query>`` token, so one graph serves both
    sides and exports as is.

    Build one with :func:`lens_vdb.build_lens_model`, or load one with :meth:`from_pretrained`.
    """

    def __init__(
        self,
        backbone: PreTrainedModel,
        head_weight: Tensor,
        config: LensConfig,
        tokenizer: PreTrainedTokenizerBase,
        cluster_map: ClusterMap | None = None,
    ) -> None:
        super().__init__()
        hidden = backbone.config.hidden_size
        if head_weight.ndim != 2 or head_weight.shape != (config.k, hidden):
            raise LensModelError(
                f"The centroid head has shape {tuple(head_weight.shape)}, expected ({config.k}, {hidden}): "
                f"k={config.k} rows by the backbone's hidden size {hidden}. Is it the head of another model?"
            )
        if cluster_map is not None and cluster_map.k != config.k:
            raise LensModelError(f"The cluster map has {cluster_map.k} clusters but the head has k={config.k}.")
        self.backbone = backbone
        self.head = nn.Linear(hidden, config.k, bias=False, dtype=head_weight.dtype, device=head_weight.device)
        with torch.no_grad():
            self.head.weight.copy_(head_weight)
        self.config = config
        self.tokenizer = tokenizer
        self.cluster_map = cluster_map
        self.query_token_id = _special_token_id(tokenizer, QUERY_TOKEN)
        embeddings = backbone.get_input_embeddings().get_parameter("weight").shape[0]
        if len(tokenizer) > embeddings:
            raise LensModelError(
                f"The tokenizer has {len(tokenizer)} tokens but the backbone embeds only {embeddings}; "
                "the tokenizer and weights come from different models."
            )

    @property
    def k(self) -> int:
        return self.config.k

    def forward(self, input_ids: Tensor, attention_mask: Tensor, *, chunked: bool = True) -> Tensor:
        """``[batch, k]`` LENS embeddings; ``chunked=False`` is the traceable form the exporters use."""
        hidden = self.hidden_states(input_ids, attention_mask)
        mask = pooling_mask(input_ids, attention_mask, self.query_token_id, self.config.pooling)
        reduction = "sum" if self.config.pooling == "sum" else "max"
        pooled = lexicon_pool(hidden, self.head.weight, mask, reduction, chunked=chunked)
        if self.config.normalize:
            pooled = nn.functional.normalize(pooled, p=2, dim=1)
        return pooled

    def hidden_states(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """The backbone's last hidden states (final norm applied) under the LENS attention mask."""
        bias = attention_bias(attention_mask, self.head.weight.dtype, causal=self.config.attention == "causal")
        out = self.backbone(
            input_ids=input_ids,
            attention_mask=bias,
            position_ids=position_ids_from_mask(attention_mask),
            use_cache=False,
        )
        return out.last_hidden_state

    # ---- persistence -------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the lens-vdb format: HF backbone + tokenizer, ``lens_head.safetensors``, ``lens_config.json``."""
        from safetensors.torch import save_file

        from .compat import write_portable_files

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        write_portable_files(directory)  # readable alike by transformers 4.5x and 5.x
        tensors = {"weight": self.head.weight.detach().cpu().contiguous()}
        if self.cluster_map is not None:
            tensors |= self.cluster_map.tensors()
        save_file(tensors, str(directory / HEAD_NAME), metadata={"format": "lens-vdb"})
        self.config.replace(has_cluster_map=self.cluster_map is not None).save(directory)
        return directory

    @classmethod
    def from_pretrained(
        cls,
        source: str | Path,
        *,
        dtype: torch.dtype = torch.float32,
        attn_implementation: str = "sdpa",
        trust_remote_code: bool = False,
        revision: str | None = None,
        token: str | None = None,
    ) -> LensModel:
        """Load a LENS model: the one documented way (:func:`load_model` is an alias of it).

        ``source`` is a lens-vdb model folder, a folder in the official LENS layout, or a hub id
        (``yibinlei/LENS-d4000`` / ``-d8000``); the format is detected from the files
        (``lens_config.json``: lens-vdb's own, ``lm_head.pth``: the official one).

        Args:
            dtype: the weights' torch dtype (the head is cast alike).
            attn_implementation: transformers' attention kernel (``"sdpa"``, ``"eager"``...).
            trust_remote_code: run a hub model's own code; off by default, and lens-vdb's own
                formats never need it.
            revision: the hub revision (branch, tag or commit) of a hub id.
            token: a hub access token for a private model; never logged.
        """
        parts = read_checkpoint(source, dtype=dtype, attn_implementation=attn_implementation,
                                trust_remote_code=trust_remote_code, revision=revision, token=token)
        return cls(parts.backbone, parts.head, parts.config, parts.tokenizer, parts.cluster_map)


def load_model(source: str | Path, **options: Any) -> LensModel:
    """Alias of :meth:`LensModel.from_pretrained` (same source, same keywords), kept for existing code."""
    return LensModel.from_pretrained(source, **options)


def _special_token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise LensModelError(
            f"The tokenizer has no {token!r} token. LENS tokenizers carry <instruct>, <query> and "
            "<response>; build the model with lens_vdb.build_lens_model() to add them."
        )
    return int(token_id)
