"""What every backend loader returns: a backend ready to run, and what the encoder needs beside it.

It sits below both backends (torch in ``backends``, ONNX Runtime in ``onnx_runtime``) so that
neither imports the other to share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .._model.cluster_map import ClusterMap
from .._model.config import LensConfig

__all__ = ["Backend", "Loaded"]


class Backend(Protocol):
    """Runs the LENS graph on a padded batch and returns ``[batch, k]`` float32 embeddings."""

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Loaded:
    """A backend ready to run, and what the encoder needs beside it."""

    backend: Backend
    tokenizer: Any
    config: LensConfig
    cluster_map: ClusterMap | None
    fingerprint: str  # the model's identity (lens_vdb._model.identity), the same on every backend
