"""The retrieval check of int8 exports: MRR@10 of the graph against the torch model on the bench corpus.

Cosine on a few texts says the vectors stay close; it does not say the ranking survives, and
ranking is what quantization can quietly break (a few large activations, clipped, move many
documents at once). So an int8 graph must also keep known-item MRR@10 (BBC headline -> its
article, the corpus of ``bench/``) within 1% of the fp32 torch model it came from, or it is
not written.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lens_vdb import LensDependencyError, LensEncoder, LensModel, LensModelError

__all__ = ["check_retrieval", "RetrievalReport", "RETRIEVAL_ARTICLES", "MAX_MRR_DROP"]

RETRIEVAL_ARTICLES = 200  # at MRR ~0.5, one query falling from rank 1 to 2 moves MRR by 0.5%
RETRIEVAL_MAX_LENGTH = 256  # the bench's setting (batch 32, 256 tokens)
MAX_MRR_DROP = 0.01  # relative to the fp32 torch model's MRR@10

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievalReport:
    """Known-item MRR@10 of the torch model (``reference``) and of the exported graph, on ``articles``."""

    corpus: str
    articles: int
    max_length: int
    reference_mrr_at_10: float
    mrr_at_10: float

    @property
    def relative_change(self) -> float:
        reference = self.reference_mrr_at_10
        return (self.mrr_at_10 - reference) / reference if reference else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"relative_change": self.relative_change}


def check_retrieval(model: LensModel, directory: Path, *, articles: int = RETRIEVAL_ARTICLES,
                    show_progress: bool = False) -> RetrievalReport:
    """Rank ``articles`` BBC News articles by their headlines with torch and with the graph in ``directory``.

    Raises :class:`LensModelError` when the graph's MRR@10 falls more than :data:`MAX_MRR_DROP`
    below the torch model's, and :class:`LensDependencyError` when the corpus is not installed.
    """
    from lens_vdb._datasets import load_bbc_news
    from lens_vdb._deps import require
    from lens_vdb.eval._metrics import retrieval_metrics

    try:
        corpus = load_bbc_news(limit=articles)
        require("ir_measures", "eval")  # MRR@10 comes from the harness' IR measures library
    except LensDependencyError as exc:
        raise LensDependencyError(f"{exc}; or skip the retrieval check of int8 exports with "
                                  "retrieval_articles=0 (--retrieval-articles 0).") from exc
    logger.info("retrieval check: MRR@10 of torch and of the int8 graph on %d BBC News articles", len(corpus))
    mrr = []
    for encoder in (LensEncoder(model, device="cpu", max_length=RETRIEVAL_MAX_LENGTH),
                    LensEncoder(directory, backend="onnx", max_length=RETRIEVAL_MAX_LENGTH)):
        with warnings.catch_warnings():  # articles longer than max_length are cut on purpose
            warnings.simplefilter("ignore", UserWarning)
            documents = encoder.encode_documents([a.text for a in corpus], show_progress=show_progress)
        queries = encoder.encode_queries([a.title for a in corpus], show_progress=show_progress)
        mrr.append(retrieval_metrics(queries @ documents.T)["mrr@10"])
    report = RetrievalReport("bbc-news", len(corpus), RETRIEVAL_MAX_LENGTH, *mrr)
    if report.relative_change < -MAX_MRR_DROP:
        raise LensModelError(
            f"The exported graph's MRR@10 on {report.articles} BBC News articles is {report.mrr_at_10:.4f}, "
            f"{report.relative_change:+.1%} against the torch model's {report.reference_mrr_at_10:.4f} "
            f"(the floor: -{MAX_MRR_DROP:.0%}); not written."
        )
    return report
