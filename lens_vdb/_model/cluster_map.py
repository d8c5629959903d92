"""Which vocabulary tokens make up each lexicon dimension: the cluster-to-token map of a LENS head."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._errors import LensModelError

__all__ = ["ClusterMap"]


class ClusterMap:
    """Which vocabulary tokens form each lexicon dimension, nearest to the centroid first.

    Stored in CSR form: ``tokens[offsets[c]:offsets[c + 1]]`` are cluster ``c``'s token ids.
    """

    def __init__(self, tokens: Tensor, offsets: Tensor) -> None:
        if offsets.ndim != 1 or tokens.ndim != 1 or int(offsets[-1]) != tokens.numel():
            raise LensModelError("Corrupt cluster map: offsets do not match the token list.")
        self.tokens = tokens.to(torch.int64)
        self.offsets = offsets.to(torch.int64)

    @property
    def k(self) -> int:
        return self.offsets.numel() - 1

    @cached_property
    def cluster_of(self) -> np.ndarray:
        """Each token id's cluster (``-1`` for ids no cluster holds, such as the LENS tokens)."""
        lookup = np.full(int(self.tokens.max()) + 1 if self.tokens.numel() else 0, -1, dtype=np.int64)
        lookup[self.tokens.numpy()] = np.repeat(np.arange(self.k), np.diff(self.offsets.numpy()))
        return lookup

    def cluster_tokens(self, cluster: int) -> list[int]:
        start, end = int(self.offsets[cluster]), int(self.offsets[cluster + 1])
        return self.tokens[start:end].tolist()

    @classmethod
    def from_assignments(cls, assignments: Tensor, distances: Tensor, k: int) -> ClusterMap:
        """Build from each token's cluster and its distance to that centroid."""
        order = torch.from_numpy(np.lexsort((distances.numpy(), assignments.numpy())).astype(np.int64))
        counts = torch.bincount(assignments.long(), minlength=k)
        offsets = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(counts, 0)])
        return cls(order, offsets)

    def tensors(self, token_dtype: torch.dtype = torch.int64) -> dict[str, Tensor]:
        """The map as the two tensors every lens-vdb file stores it under (beside a head, or alone)."""
        return {"cluster_tokens": self.tokens.to(token_dtype).contiguous(), "cluster_offsets": self.offsets.contiguous()}

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, Tensor]) -> ClusterMap | None:
        """The map :meth:`tensors` stored among ``tensors``; ``None`` when they do not hold one."""
        if not {"cluster_tokens", "cluster_offsets"} <= set(tensors):
            return None
        return cls(tensors["cluster_tokens"], tensors["cluster_offsets"])

    def save(self, path: str | Path) -> Path:
        """Write the map alone as safetensors."""
        from safetensors.torch import save_file

        save_file(self.tensors(), str(path))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, *, k: int | None = None, remedy: str = "reinstall or rebuild it") -> ClusterMap:
        """Read a map :meth:`save` wrote; ``k``, when given, is the number of clusters it must have."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            cluster_map = cls.from_tensors(load_file(str(path)))
        except (OSError, ValueError, SafetensorError) as exc:
            raise LensModelError(f"{path} is corrupt ({exc}); {remedy}.") from exc
        if cluster_map is None:
            raise LensModelError(f"{path} is corrupt (it holds no cluster map); {remedy}.")
        if k is not None and cluster_map.k != k:
            raise LensModelError(f"{path} has {cluster_map.k} clusters but the model has k={k}.")
        return cluster_map
