"""Progress of a long export, step by step on stderr (``export_onnx(show_progress=True)``, ``lens-vdb export``).

An int8 export of the default model runs for minutes on 2 CPU cores (export, quantization,
validation, the retrieval check); each step says when it starts and how long it took.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

__all__ = ["Steps"]


class Steps:
    """Numbered steps, printed to stderr when ``show`` is true; silent otherwise."""

    def __init__(self, total: int, *, show: bool) -> None:
        self.total, self.show, self.done = total, show, 0

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        self.done += 1
        prefix = f"export [{self.done}/{self.total}] {what}"
        if self.show:
            print(f"{prefix} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        yield
        if self.show:
            print(f"{prefix}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
