"""Building a LENS model from any causal LM: k-means over the LM head, centroids as the new head."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch

from .._errors import LensInputError, LensModelError
from .._instructions import SPECIAL_TOKENS
from .cluster_map import ClusterMap
from .config import Attention, LensConfig, Pooling
from .lens_model import LensModel

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["build_lens_model", "cluster_token_embeddings", "recluster_head", "KMeansResult"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KMeansResult:
    """Centroids ``[k, hidden]``, each token's cluster and distance, and the wall time taken."""

    centroids: np.ndarray
    assignments: np.ndarray
    distances: np.ndarray
    seconds: float

    def cluster_map(self) -> ClusterMap:
        """Which rows (by position in the clustered matrix) each cluster holds, nearest to its centroid first."""
        return ClusterMap.from_assignments(torch.from_numpy(self.assignments),
                                           torch.from_numpy(self.distances.astype(np.float64)), len(self.centroids))


def cluster_token_embeddings(
    token_embeddings: np.ndarray, k: int, *, seed: int = 0, niter: int = 20, verbose: bool = False
) -> KMeansResult:
    """Seeded, deterministic faiss k-means of the LM head rows into ``k`` clusters."""
    import faiss

    vectors = np.ascontiguousarray(token_embeddings, dtype=np.float32)
    if vectors.ndim != 2 or not 1 <= k <= vectors.shape[0]:
        raise LensInputError(f"Cannot cluster {vectors.shape} token embeddings into k={k} clusters.")
    if not np.isfinite(vectors).all():
        raise LensModelError("The LM head holds NaN or infinite values; the checkpoint is corrupt.")
    start = time.perf_counter()
    kmeans = faiss.Kmeans(
        vectors.shape[1], k, niter=niter, seed=seed, verbose=verbose, max_points_per_centroid=vectors.shape[0]
    )
    kmeans.train(vectors)
    distances, assignments = kmeans.index.search(vectors, 1)
    seconds = time.perf_counter() - start
    centroids = kmeans.centroids
    if centroids is None:  # faiss sets them in train(); typed Optional before it
        raise LensModelError("faiss k-means returned no centroids.")
    return KMeansResult(centroids.copy(), assignments[:, 0].astype(np.int64), distances[:, 0], seconds)


def build_lens_model(
    base_model: str | Path,
    *,
    k: int = 4000,
    seed: int = 0,
    niter: int = 20,
    gguf_file: str | None = None,
    pooling: Pooling = "max",
    attention: Attention = "bidirectional",
    max_length: int = 512,
    dtype: torch.dtype = torch.float32,
    trust_remote_code: bool = False,
) -> LensModel:
    """Turn a causal LM (hub id, local dir, or a dir + ``gguf_file``) into an untrained LENS model.

    The LM head's token embeddings are clustered into ``k`` clusters; the centroids become the
    head, so each output dimension is a cluster of related tokens. ``<instruct>``, ``<query>`` and
    ``<response>`` are added to the tokenizer, their input embeddings set to the mean embedding.
    The cluster-to-token map is kept for :meth:`LensEncoder.explain`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    load_args = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(base_model, trust_remote_code=trust_remote_code, **load_args)
    causal_lm = AutoModelForCausalLM.from_pretrained(
        base_model, dtype=torch.float32, attn_implementation="sdpa", trust_remote_code=trust_remote_code, **load_args
    )
    head_rows = causal_lm.get_output_embeddings().weight.detach().float().cpu().numpy()
    result = cluster_token_embeddings(head_rows, k, seed=seed, niter=niter)
    logger.info("k-means of %d tokens into k=%d took %.1f s", head_rows.shape[0], k, result.seconds)

    _normalise_special_tokens(tokenizer, causal_lm)
    # the causal LM without its LM head: a PreTrainedModel (transformers types base_model as a plain Module)
    backbone = cast("PreTrainedModel",
                    causal_lm.get_decoder() if hasattr(causal_lm, "get_decoder") else causal_lm.base_model)
    backbone.config.use_cache = False
    config = LensConfig(
        k=k,
        hidden_size=backbone.config.hidden_size,
        pooling=pooling,
        attention=attention,
        base_model=f"{base_model}/{gguf_file}" if gguf_file else str(base_model),
        max_length=max_length,
        has_cluster_map=True,
    )
    cluster_map = result.cluster_map()
    # transformers wraps PreTrainedModel.to in a decorator whose type keeps only the self argument
    model = LensModel(backbone.to(dtype),  # type: ignore[arg-type]
                      torch.from_numpy(result.centroids).to(dtype), config, tokenizer, cluster_map)
    return model.eval()


def recluster_head(model: LensModel, k: int, *, seed: int = 0, niter: int = 20) -> LensModel:
    """The same backbone under a head of ``k`` clusters, keeping what the current head learned.

    A tied LM head is the input embedding matrix, so it survives in the backbone and can be
    clustered again at another ``k`` (a wider head separates tokens a narrow one merges) without
    the base checkpoint; the LENS tokens (``<instruct>``, ...), added after the first clustering,
    stay out. Training a head moves its rows far from their centroids (the WordNet default: cosine
    0.59) but almost only by one linear map of the hidden space (the centroids through a fitted
    576 x 576 map + bias reach cosine 0.998 with the trained rows). So the new head is the new
    centroids through the least-squares map from the current head's centroids (each cluster's mean
    token row) to its rows: an untrained head maps to itself, a trained one carries its training over.
    """
    if not getattr(model.backbone.config, "tie_word_embeddings", False):
        raise LensModelError(f"{model.config.base_model!r} does not tie its LM head to its input embeddings, "
                             "so the head cannot be clustered again from the backbone; build the model anew "
                             f"from its base with build_lens_model(..., k={k}).")
    if model.cluster_map is None:
        raise LensModelError("The model has no cluster map, so its head's training cannot be carried to new "
                             f"clusters; build the model anew from its base with build_lens_model(..., k={k}).")
    rows = model.backbone.get_input_embeddings().get_parameter("weight").detach().float().cpu().numpy()
    kept = np.setdiff1d(np.arange(rows.shape[0]), model.tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS)))
    result = cluster_token_embeddings(rows[kept], k, seed=seed, niter=niter)
    rows_map = result.cluster_map()
    cluster_map = ClusterMap(torch.from_numpy(kept)[rows_map.tokens], rows_map.offsets)  # rows -> token ids
    learned = _learned_map(model.cluster_map, rows, model.head.weight.detach().float().cpu().numpy())
    head = torch.from_numpy(learned(result.centroids)).to(model.head.weight.dtype)
    return LensModel(model.backbone, head, model.config.replace(k=k, has_cluster_map=True), model.tokenizer,
                     cluster_map).eval()


def _learned_map(clusters: ClusterMap, rows: np.ndarray, head: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The affine map (least squares) that takes each cluster's mean token row to its head row."""
    tokens, offsets = clusters.tokens.numpy(), clusters.offsets.numpy()
    counts = np.diff(offsets)
    filled = counts > 0  # an empty cluster has no mean; the next filled one starts where it would have
    if filled.sum() <= rows.shape[1] + 1:
        raise LensModelError(f"The head has {int(filled.sum())} filled clusters for a hidden size of {rows.shape[1]}: "
                             "too few to fit the map its training learned; build the model anew with more clusters.")
    sums = np.add.reduceat(rows[tokens].astype(np.float64), offsets[:-1][filled], axis=0)
    centroids = np.hstack([sums / counts[filled][:, None], np.ones((len(sums), 1))])
    solution = np.linalg.lstsq(centroids, head[filled].astype(np.float64), rcond=None)[0]
    return lambda points: (np.hstack([points, np.ones((len(points), 1))]) @ solution).astype(np.float32)


def _normalise_special_tokens(tokenizer: PreTrainedTokenizerBase, causal_lm: PreTrainedModel) -> None:
    """Add the LENS tokens, fix EOS/pad from the model config, and grow the input embeddings."""
    eos_id = causal_lm.config.eos_token_id
    eos_id = eos_id[0] if isinstance(eos_id, list) else eos_id
    if eos_id is not None and tokenizer.eos_token_id != eos_id:
        # GGUF tokenizers may report BOS as EOS; the model config knows the real one
        tokenizer.eos_token = tokenizer.convert_ids_to_tokens(eos_id)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    embeddings = causal_lm.get_input_embeddings().get_parameter("weight")
    old_rows = embeddings.shape[0]
    if len(tokenizer) > old_rows:
        mean = embeddings.detach().mean(dim=0)
        causal_lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        with torch.no_grad():
            causal_lm.get_input_embeddings().get_parameter("weight")[old_rows:] = mean
