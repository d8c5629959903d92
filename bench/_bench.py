"""What every bench script shares: the CPU line, its run folder, ``--quick`` (what ``make bench`` runs), and
known-item MRR@10 of a score matrix.

A helper, not a script: ``make bench`` runs every ``bench/*.py`` but those whose name starts with
``_``. Each script keeps its full-size defaults (the ones its README figures were measured with)
and takes ``--quick``: small sizes that finish in well under a minute on 2 busy cores, so ``make
bench`` runs them all in a few minutes. Explicit arguments win over ``--quick``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["cpu_line", "run_folder", "parse_args", "known_item_mrr"]


def cpu_line() -> str:
    """``CPU: <model>, <cores>, <the instruction sets that decide GEMM speed>``: from ``lens_vdb._machine`` only."""
    from lens_vdb._machine import cpu_info

    return f"CPU: {cpu_info().describe()}"


def known_item_mrr(scores: Any) -> float:
    """MRR@10 of a ``[queries, documents]`` score matrix where query ``i`` finds document ``i`` (the harness's)."""
    from lens_vdb.eval._metrics import query_metrics

    return float(query_metrics(scores)["mrr@10"].mean())


def run_folder(name: str) -> Path:
    """``$LENS_VDB_HOME/bench/<name>`` (``~/.cache/lens-vdb/bench/<name>``): a script's files that outlive it.

    No script writes into a fixed folder of one machine; pass ``--run``/``--out`` style options to
    put them elsewhere.
    """
    from lens_vdb._files import cache_home

    folder = cache_home() / "bench" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def parse_args(parser: argparse.ArgumentParser, quick: dict[str, Any],
               argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` with a ``--quick`` option that turns the defaults into ``quick``'s small values."""
    parser.add_argument("--quick", action="store_true",
                        help="small sizes that finish in seconds (what `make bench` runs); given options still win: "
                             + ", ".join(f"{key.replace('_', '-')}={value}" for key, value in quick.items()))
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--quick" in argv:
        parser.set_defaults(**quick)
    return parser.parse_args(argv)
