"""Where a distributed ingestion runs: the Ray cluster, how many encoder actors, and what each one holds.

``store.ingest(source, ray=RayOptions(encoders=4, gpus_per_encoder=1))`` runs the same ingestion
on Ray; everything about *what* is ingested (batch size, chunking, retries, writers) stays an
argument of ``ingest`` itself, so moving a job to a cluster changes one argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lens_vdb import LensInputError
from lens_vdb._vocabulary import PRECISIONS, Precision, check_choice

__all__ = ["RayOptions", "as_ray_options"]


@dataclass(frozen=True, kw_only=True)
class RayOptions:
    """How :meth:`LensConnector.ingest` runs on Ray (``ray=RayOptions(...)``, or ``ray=True`` for the defaults).

    Attributes:
        address: the cluster to join (``"ray://head:10001"``, ``"head:6379"``, ``"auto"``); ``None``
            joins the runtime this process already started with ``ray.init(...)``, else starts a local
            one for the run (and stops it after); ``"local"`` always starts a new local one.
        encoders: encoder actors, each loading the LENS encoder and the dense embedder once.
        gpus_per_encoder: GPUs each encoder actor reserves (fractions share a GPU); 0 encodes on CPUs.
        cpus_per_encoder: CPUs each encoder actor reserves; on CPU actors also its torch / ONNX Runtime threads.
        model: what the actors load, when not what the connector's encoder was opened by (a model dir
            every node can read, or a hub id); its fingerprint must match the connector's encoder.
        dtype: the actors' torch dtype (``"fp32"``, ``"bf16"``, ``"fp16"`` on GPUs); default: the
            connector's encoder's. Vectors of every dtype share the model's identity.
        dense: a zero-argument callable that builds the dense embedder on each actor; default: the
            connector's (all-MiniLM-L6-v2 is rebuilt on each actor, any other is sent there pickled).
        check_ids: for a ``ray.data.Dataset`` or Parquet source, read the ids and text hashes once on the
            driver before encoding (about 100 bytes per document there) to refuse one id given two
            texts, as ``ingest`` does. ``False`` skips that pass for sources keyed by a primary key.
        num_cpus: CPUs of a local runtime started for the run (``None``: all of this machine's).
        runtime_env: Ray's ``runtime_env`` for the run (``pip``, ``env_vars``, ``working_dir``...).
    """

    address: str | None = None
    encoders: int = 1
    gpus_per_encoder: float = 0
    cpus_per_encoder: float = 1
    model: str | None = None
    dtype: Precision | None = None
    dense: Callable[[], Any] | None = None
    check_ids: bool = True
    num_cpus: int | None = None
    runtime_env: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.encoders, bool) or not isinstance(self.encoders, int) or self.encoders < 1:
            raise LensInputError(f"RayOptions(encoders=) must be a positive int, got {self.encoders!r}")
        for name in ("gpus_per_encoder", "cpus_per_encoder"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise LensInputError(f"RayOptions({name}=) must be a number >= 0, got {value!r}")
        if self.gpus_per_encoder == 0 and self.cpus_per_encoder == 0:
            raise LensInputError("RayOptions: an encoder actor needs cpus_per_encoder > 0 or gpus_per_encoder > 0.")
        if self.dense is not None and not callable(self.dense):
            raise LensInputError(f"RayOptions(dense=) is a zero-argument callable that builds the dense embedder "
                                 f"on each actor, got {type(self.dense).__name__}")
        if self.dtype is not None:
            check_choice(self.dtype, PRECISIONS, "RayOptions(dtype=)")
        if self.num_cpus is not None and self.address not in (None, "local"):
            raise LensInputError("RayOptions(num_cpus=) sizes a local runtime; a cluster at address= has its own.")

    @property
    def device(self) -> str:
        """The device each encoder actor encodes on."""
        return "cuda" if self.gpus_per_encoder > 0 else "cpu"

    @property
    def threads(self) -> int | None:
        """CPU threads for a CPU actor's encoder (at least 1); ``None`` on GPU actors."""
        return None if self.gpus_per_encoder > 0 else max(1, int(self.cpus_per_encoder))


def as_ray_options(ray: RayOptions | bool | None) -> RayOptions | None:
    """``ray=`` of ``ingest``: ``None``/``False`` (one process), ``True`` (the defaults) or a :class:`RayOptions`."""
    if ray is None or ray is False:
        return None
    if ray is True:
        return RayOptions()
    if isinstance(ray, RayOptions):
        return ray
    raise LensInputError(f"ray= takes True or a RayOptions(...), got {type(ray).__name__} {ray!r:.60}")
