"""Reading a LENS vector: its heaviest lexicon dimensions and the tokens each cluster stands for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import LensInputError
from .._model.cluster_map import ClusterMap
from .sparse import SparseVector

__all__ = ["ClusterExplanation", "Explaining", "explain_vector", "explain_match"]


@dataclass(frozen=True)
class ClusterExplanation:
    """One lexicon dimension of a vector: its cluster id, weight, and representative tokens."""

    cluster: int
    weight: float
    tokens: tuple[str, ...]


def explain_vector(vector: np.ndarray | SparseVector, k: int, cluster_map: ClusterMap | None, tokenizer: Any,
                   top: int, tokens_per_cluster: int) -> list[ClusterExplanation]:
    """The ``top`` heaviest dimensions of ``vector`` (``k`` wide), with up to ``tokens_per_cluster`` tokens each."""
    dense = vector.to_dense(k) if isinstance(vector, SparseVector) else np.asarray(vector, np.float32)
    if dense.shape != (k,):
        raise LensInputError(f"explain() takes one vector of {k} dims, got shape {dense.shape}")
    clusters = [int(c) for c in np.argsort(-dense, kind="stable")[:top] if dense[c] > 0]
    return [_described(cluster, dense, cluster_map, tokenizer, tokens_per_cluster, []) for cluster in clusters]


def explain_match(query: np.ndarray, document: np.ndarray, *, k: int, cluster_map: ClusterMap | None, tokenizer: Any,
                  specificity: np.ndarray | None, top: int = 5, tokens_per_cluster: int = 5,
                  texts: tuple[str, ...] = ()) -> list[ClusterExplanation]:
    """The ``top`` clusters that make ``query`` and ``document`` match: their shared weight (the product of the two
    vectors) times each cluster's specificity (the model's IDF, when it has one: generic clusters such as
    ``the/a/an`` then drop out unless they really carry the match).

    With ``texts`` (the query's and the document's), the clusters holding a token of either text come first, by
    weight, then the model's own expansions (clusters none of whose tokens is in either text: they add to the
    score, but a reader cannot see them in the texts; the default model's BBC demo put ``porn/erotic`` second
    for "mobile phone technology" so); each cluster's tokens are the texts' own ones in it, then its
    representative tokens. (Asking a cluster to hold a token of *both* texts promotes ``and/'s``: the texts
    share their function words more surely than their topic words.)"""
    shared = np.asarray(query, np.float32) * np.asarray(document, np.float32)
    if shared.shape != (k,):
        raise LensInputError(f"explain_match() takes two vectors of {k} dims, got {np.shape(query)} and "
                             f"{np.shape(document)}")
    weighted = shared * specificity if specificity is not None else shared
    if cluster_map is None or not texts:
        return explain_vector(weighted, k, cluster_map, tokenizer, top, tokens_per_cluster)
    own = [_text_clusters(text, cluster_map, tokenizer) for text in texts]
    candidates = np.flatnonzero(weighted > 0)
    in_texts = np.isin(candidates, [cluster for clusters in own for cluster in clusters])
    order = candidates[np.lexsort((-weighted[candidates], ~in_texts))][:top]
    return [_described(int(cluster), weighted, cluster_map, tokenizer, tokens_per_cluster,
                       [tokenizer.decode([t]).strip() for clusters in own for t in clusters.get(int(cluster), [])])
            for cluster in order]


def _described(cluster: int, weights: np.ndarray, cluster_map: ClusterMap | None, tokenizer: Any,
               tokens_per_cluster: int, own: list[str]) -> ClusterExplanation:
    """One cluster's explanation: ``own`` tokens (the texts') first, then its representative ones."""
    tokens = [word for word in own if word]
    if cluster_map is not None:
        ids = cluster_map.cluster_tokens(cluster)[:tokens_per_cluster]
        tokens += [tokenizer.convert_tokens_to_string([t]).strip() or t for t in tokenizer.convert_ids_to_tokens(ids)]
    return ClusterExplanation(cluster=cluster, weight=float(weights[cluster]),
                              tokens=tuple(dict.fromkeys(tokens))[:tokens_per_cluster])


def _text_clusters(text: str, cluster_map: ClusterMap, tokenizer: Any) -> dict[int, list[int]]:
    """The clusters of ``text``'s tokens, each with those token ids, in order of appearance."""
    lookup = cluster_map.cluster_of
    out: dict[int, list[int]] = {}
    for token_id in tokenizer(text, add_special_tokens=False)["input_ids"]:
        if token_id < len(lookup) and lookup[token_id] >= 0:
            out.setdefault(int(lookup[token_id]), []).append(token_id)
    return out


class Explaining:
    """The encoder's explanations (a mixin of :class:`~lens_vdb.LensEncoder`: its ``k``, cluster map, tokenizer and
    the model's cluster ``specificity``)."""

    if TYPE_CHECKING:  # the encoder's read-only property
        @property
        def k(self) -> int: ...

    cluster_map: ClusterMap | None
    tokenizer: Any
    specificity: np.ndarray | None

    def explain(self, vector: np.ndarray | SparseVector, top: int = 5,
                tokens_per_cluster: int = 5) -> list[ClusterExplanation]:
        """The ``top`` heaviest lexicon dimensions of ``vector``, with their representative tokens.

        Tokens come from the model's cluster map, nearest to the centroid first; models without
        a map (official checkpoints) report the cluster ids and weights with no tokens.
        """
        return explain_vector(vector, self.k, self.cluster_map, self.tokenizer, top, tokens_per_cluster)

    def explain_match(self, query: np.ndarray, document: np.ndarray, *, top: int = 5, tokens_per_cluster: int = 5,
                      query_text: str | None = None, document_text: str | None = None) -> list[ClusterExplanation]:
        """Why ``document`` matched ``query``: the shared clusters weighted by how specific each is (see
        :func:`explain_match`), each with the query's and the document's own tokens in it first."""
        texts = tuple(text for text in (query_text, document_text) if text)
        return explain_match(query, document, k=self.k, cluster_map=self.cluster_map, tokenizer=self.tokenizer,
                             specificity=self.specificity, top=top, tokens_per_cluster=tokens_per_cluster, texts=texts)
