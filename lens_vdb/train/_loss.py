"""InfoNCE over cosine similarity, and the per-batch tensors it needs (which documents each query sees)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .._inference.features import pad_batch, tokenize_documents, tokenize_queries
from ._data import Batch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["info_nce", "BatchTensors", "collate"]


def info_nce(queries: Tensor, documents: Tensor, positive: Tensor, allowed: Tensor, temperature: float) -> Tensor:
    """Mean cross-entropy of each query's positive among the documents it may see.

    ``queries`` ``[B, k]`` and ``documents`` ``[D, k]`` are L2-normalised, so their dot product is
    the cosine; ``positive[i]`` is query ``i``'s positive column, ``allowed[i, j]`` whether
    document ``j`` is a candidate for query ``i`` (own positive and hard negatives, plus the
    other queries' documents for retrieval data).
    """
    scores = queries.float() @ documents.float().T / temperature
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.nn.functional.cross_entropy(scores, positive)


@dataclass(frozen=True)
class BatchTensors:
    """Padded token ids for the queries and the documents of one batch, and the loss targets."""

    query_ids: Tensor
    query_mask: Tensor
    doc_ids: Tensor
    doc_mask: Tensor
    positive: Tensor
    allowed: Tensor

    def to(self, device: str | torch.device) -> BatchTensors:
        return BatchTensors(*(t.to(device) for t in (self.query_ids, self.query_mask, self.doc_ids, self.doc_mask,
                                                         self.positive, self.allowed)))


def collate(
    batch: Batch, tokenizer: PreTrainedTokenizerBase, *, negatives: int, query_max_length: int,
    doc_max_length: int, rng: random.Random,
) -> BatchTensors:
    """Draw one positive and up to ``negatives`` hard negatives per example and tokenize like the encoder.

    Queries are ``<instruct>{instruction}\\n<query>{text}``; documents are plain text, or, for a
    symmetric task, queries with the same instruction (as :meth:`LensEncoder.encode_documents`).
    A document whose text equals one of a query's positives is never a negative for it.
    """
    query_ids: list[list[int]] = []
    doc_ids: list[list[int]] = []
    owner: list[int] = []
    texts: list[str] = []
    positive: list[int] = []
    for row, example in enumerate(batch.examples):
        query_ids.append(tokenize_queries(tokenizer, [example.query], example.instruction, query_max_length).ids[0])
        drawn = [rng.choice(example.positives)]
        drawn += rng.sample(example.negatives, min(negatives, len(example.negatives)))
        positive.append(len(doc_ids))
        for text in drawn:
            if example.symmetric:
                ids = tokenize_queries(tokenizer, [text], example.instruction, doc_max_length).ids[0]
            else:
                ids = tokenize_documents(tokenizer, [text], doc_max_length).ids[0]
            doc_ids.append(ids)
            owner.append(row)
            texts.append(text)
    allowed = torch.zeros(len(query_ids), len(doc_ids), dtype=torch.bool)
    for row, example in enumerate(batch.examples):
        own_positives = set(example.positives)
        for column, (doc_owner, text) in enumerate(zip(owner, texts)):
            if column == positive[row]:
                allowed[row, column] = True
            elif text in own_positives:
                continue  # a false negative: another copy of a right answer
            elif doc_owner == row or example.in_batch_negatives:
                allowed[row, column] = True
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    q_ids, q_mask = pad_batch(query_ids, pad)
    d_ids, d_mask = pad_batch(doc_ids, pad)
    return BatchTensors(torch.from_numpy(q_ids), torch.from_numpy(q_mask), torch.from_numpy(d_ids),
                        torch.from_numpy(d_mask), torch.tensor(positive, dtype=torch.long), allowed)
