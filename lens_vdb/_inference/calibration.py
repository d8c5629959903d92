"""Timing backends side by side on one short batch, and checking that they give the same vectors.

The batch is :data:`CALIBRATION_DOCS` documents cut to :data:`CALIBRATION_TOKENS` tokens (the
bench's document length): long enough for the matrix products to run as they do in bulk
encoding, short enough that a round over four candidates takes seconds. The candidates take
turns (round-robin, the order reversed each round), so a load that comes and goes on a shared
machine falls on all of them; each keeps its best round. A candidate more than
:data:`PRUNE_FACTOR` slower than the best after the first round is not run again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .features import pad_batch, tokenize_documents
from .loaded import Backend

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["calibration_batch", "measure", "Measured", "CALIBRATION_DOCS", "CALIBRATION_TOKENS", "ROUNDS",
           "PRUNE_FACTOR"]

CALIBRATION_DOCS = 2
CALIBRATION_TOKENS = 256
ROUNDS = 2
PRUNE_FACTOR = 1.5
WARMUP_TOKENS = 16

_TEXTS = (
    "The central bank raised interest rates by a quarter of a point on Thursday, its third rise this year, "
    "saying that inflation in services and wages had stayed higher than it expected. Mortgage lenders said "
    "they would pass the rise on to borrowers within a week, and house builders warned that sales, already "
    "slowing, could fall further before the spring. Economists were divided: some expect one more rise before "
    "the summer, others think the bank has done enough and will hold rates while it watches how quickly "
    "prices respond. The currency rose against the dollar and the euro after the announcement, and shares "
    "in retailers and property companies fell in afternoon trading. ",
    "The home side came from two goals down to win the cup final after extra time, their captain scoring the "
    "winner with a header from a corner in the last minute. The manager, who took charge only in January, "
    "said the players had never stopped believing and praised the supporters who travelled across the country "
    "for the match. The visitors had led through a penalty and a long-range strike before the break, but tired "
    "badly in the second half as the rain grew heavier. Their coach said the defeat was hard to take and that "
    "his squad would learn from it before the new season, which starts in August. ",
)


def calibration_batch(tokenizer: PreTrainedTokenizerBase, pad_id: int, length: int = CALIBRATION_TOKENS,
                      docs: int = CALIBRATION_DOCS) -> tuple[np.ndarray, np.ndarray]:
    """``docs`` documents of exactly ``length`` tokens (BOS and EOS included), padded into one batch."""
    texts = [_TEXTS[i % len(_TEXTS)] * (1 + 4 * length // 100) for i in range(docs)]
    batch = tokenize_documents(tokenizer, texts, length)
    return pad_batch(batch.ids, pad_id)


@dataclass(frozen=True)
class Measured:
    """One candidate's best time on the batch, how many rounds it ran, and its vectors (first round)."""

    seconds: float
    rounds: int
    vectors: np.ndarray

    def min_cosine(self, reference: np.ndarray) -> float:
        """The lowest cosine between this candidate's vectors and ``reference``'s, row by row."""
        norms = np.linalg.norm(self.vectors, axis=1) * np.linalg.norm(reference, axis=1)
        return float(((self.vectors * reference).sum(axis=1) / np.maximum(norms, 1e-12)).min())


def measure(backends: dict[str, Backend], batch: tuple[np.ndarray, np.ndarray], *,
            rounds: int = ROUNDS) -> dict[str, Measured]:
    """Each backend's best wall time on ``batch`` over ``rounds`` interleaved rounds (after a short warm-up)."""
    input_ids, mask = batch
    for backend in backends.values():  # first runs allocate, build kernels, fill caches
        backend.run(input_ids[:1, :WARMUP_TOKENS], mask[:1, :WARMUP_TOKENS])
    seconds: dict[str, list[float]] = {name: [] for name in backends}
    vectors: dict[str, np.ndarray] = {}
    running = list(backends)
    for round_ in range(rounds):
        for name in running if round_ % 2 == 0 else running[::-1]:
            start = time.perf_counter()
            out = backends[name].run(input_ids, mask)
            seconds[name].append(time.perf_counter() - start)
            vectors.setdefault(name, out)
        best = min(min(times) for times in seconds.values())
        running = [name for name in running if min(seconds[name]) <= PRUNE_FACTOR * best]
    return {name: Measured(min(times), len(times), vectors[name]) for name, times in seconds.items()}
