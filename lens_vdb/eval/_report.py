"""What an evaluation returns: one row per system, as a table, JSON, or a plot."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._deps import require
from .._errors import LensInputError

__all__ = ["EvalRow", "EvalReport"]


@dataclass(frozen=True)
class EvalRow:
    """One system's figures.

    ``retrieval``: each measure's mean over queries (``mrr@10``, ``ndcg@10``, ``recall@10``,
    ``recall@100``, ``map@100``); ``intervals``: its bootstrap confidence interval ``[low, high]``;
    ``per_query``: its value for each query, in :attr:`EvalReport.query_ids` order. ``None``
    where a figure does not apply (BM25 and hybrids have no embeddings to classify).
    """

    system: str
    retrieval: dict[str, float]
    intervals: dict[str, list[float]] = field(default_factory=dict)
    per_query: dict[str, list[float]] = field(default_factory=dict, repr=False)
    classification_accuracy: float | None = None
    clustering_v_measure: float | None = None
    docs_per_second: float | None = None


@dataclass
class EvalReport:
    """All rows of one run, printable as a table, writable as JSON and as a plot.

    ``settings`` records how it was measured (depth, prefetch, fusion weights, bootstrap).
    """

    corpus: str
    size: int
    documents: int = 0
    query_ids: list[str] = field(default_factory=list, repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    rows: list[EvalRow] = field(default_factory=list)

    def row(self, system: str) -> EvalRow:
        """The row of ``system`` (its name as in the table)."""
        for row in self.rows:
            if row.system == system:
                return row
        raise LensInputError(f"No row {system!r}; the rows are {[r.system for r in self.rows]}.")

    def table(self) -> str:
        """A fixed-width table: each measure's mean, MRR@10 and nDCG@10 with their 95% intervals."""
        names = list(self.rows[0].retrieval) if self.rows else []
        width = max([len(r.system) for r in self.rows] + [20])
        head = f"{'system':<{width}} " + " ".join(f"{_label(n):>{_cell(n)}}" for n in names)
        head += f" {'cls acc':>7} {'V-meas':>6} {'docs/s':>7}"
        confidence = self.settings.get("confidence", 0.95)
        lines = [f"{self.corpus}: {self.size} queries over {self.documents} documents "
                 f"(mean, [{confidence:.0%} bootstrap interval])", head, "-" * len(head)]
        for r in self.rows:
            cells = [_with_interval(r, n) if _cell(n) > 7 else f"{r.retrieval[n]:>7.3f}" for n in names]
            cells += [_fmt(r.classification_accuracy, 7), _fmt(r.clustering_v_measure, 6),
                      _fmt(r.docs_per_second, 7, 1)]
            lines.append(f"{r.system:<{width}} " + " ".join(cells))
        return "\n".join(lines)

    def to_json(self, path: str | Path) -> Path:
        """Write every row (per-query values included) and the settings as JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    def plot(self, path: str | Path, *, metric: str = "ndcg@10") -> Path:
        """A bar per system of ``metric`` with its interval, written as an image (needs matplotlib)."""
        if self.rows and metric not in self.rows[0].retrieval:
            raise LensInputError(f"metric must be one of {list(self.rows[0].retrieval)}, got {metric!r}")
        matplotlib = require("matplotlib", "eval")
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        rows = self.rows[::-1]  # the first row on top
        means = [r.retrieval[metric] for r in rows]
        spans = [r.intervals.get(metric, [m, m]) for r, m in zip(rows, means)]
        errors = [[m - lo for m, (lo, _) in zip(means, spans)], [hi - m for m, (_, hi) in zip(means, spans)]]
        figure, axes = plt.subplots(figsize=(8, 0.4 * len(rows) + 1.2))
        axes.barh([r.system for r in rows], means, xerr=errors, color="#4c72b0", capsize=3)
        axes.set_xlabel(f"{_label(metric)} (mean over {self.size} queries, bootstrap interval)")
        axes.set_title(f"{self.corpus}: {self.size} queries, {self.documents} documents")
        axes.set_xlim(0, 1)
        figure.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120)
        plt.close(figure)
        return path


def _label(name: str) -> str:
    measure, _, cut = name.partition("@")
    return {"mrr": "MRR", "ndcg": "nDCG", "recall": "R", "map": "MAP"}.get(measure, measure) + f"@{cut}"


def _cell(name: str) -> int:
    return 21 if name.startswith(("mrr", "ndcg")) else 7


def _with_interval(row: EvalRow, name: str) -> str:
    low, high = row.intervals.get(name, [row.retrieval[name]] * 2)
    return f"{row.retrieval[name]:.3f} [{low:.3f}, {high:.3f}]".rjust(21)


def _fmt(value: float | None, width: int, digits: int = 3) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"
