"""The encoder actors of a distributed ingestion.

Each actor loads the LENS encoder and the dense embedder once, by name (a model dir every node can
read, or a hub id; never a pickled 7B model), makes its :class:`RecordBuilder` with
:func:`record_builder` -- the connector's own code -- and checks that it names the same model as
the connector's: the LENS fingerprint, and the model hash that every stored point carries (models,
task, chunking). So a document encoded on any node is the document ``ingest`` would have stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from lens_vdb import LensEncoder, LensInputError, LensSchemaError, RemoteOptions
from lens_vdb._vocabulary import BackendName, Precision, Provider

from .._dense import MiniLMEmbedder, as_dense_embedder
from .._records import RecordBuilder, record_builder
from .options import RayOptions
from .rows import NEW, SKIPPED, UPDATED, rows_of, to_table

__all__ = ["EncoderRecipe", "encoder_recipe", "EncodeBatches", "ENCODED"]

ENCODED = ("key", "id", "status", "error", "retried", "records", "node", "actor")


@dataclass(frozen=True)
class EncoderRecipe:
    """What an encoder actor loads, and what it must come out as (``fingerprint``, ``model_hash``)."""

    model: str
    backend: BackendName
    dtype: Precision | None
    device: str
    threads: int | None
    max_length: int
    batch_size: int
    dense: Callable[[], Any]
    task: str | None
    sparse_top: int
    chunking: bool
    chunk_size: int | None
    chunk_overlap: int | None
    fingerprint: str
    model_hash: str
    url: str | None = None  # a remote encoder: every actor calls the connector's server
    remote: RemoteOptions | None = None

    def load(self) -> RecordBuilder:
        """The actor's record builder, or a LensSchemaError if it would not write the connector's vectors."""
        provider: Provider | None = ("cuda" if self.device == "cuda" else None) if self.backend == "onnx" else None
        if self.backend == "remote":
            encoder = LensEncoder(self.model, url=self.url, remote=self.remote, max_length=self.max_length,
                                  batch_size=self.batch_size)
        else:
            encoder = LensEncoder(self.model, backend=self.backend, device=self.device, dtype=self.dtype,
                                  max_length=self.max_length, batch_size=self.batch_size, provider=provider,
                                  threads=self.threads)
        if encoder.fingerprint != self.fingerprint:
            raise LensSchemaError(
                f"The encoder actors loaded {self.model!r}, model {encoder.fingerprint}; the connector's encoder is "
                f"model {self.fingerprint}. Pass RayOptions(model=...) naming the connector's model (a directory "
                "every node can read, or a hub id).")
        build = record_builder(encoder, as_dense_embedder(self.dense()), task=self.task, sparse_top=self.sparse_top,
                               chunking=self.chunking, chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap)
        if build.model_hash != self.model_hash:
            raise LensSchemaError(
                f"The encoder actors would store points of model hash {build.model_hash}, the connector "
                f"{self.model_hash}: their dense embedder ({build.dense.name!r}) or chunking differs. Give "
                "RayOptions(dense=...) a factory of the connector's dense model.")
        return build


def encoder_recipe(build: RecordBuilder, options: RayOptions, *, chunking: bool, chunk_size: int | None,
                   chunk_overlap: int | None) -> EncoderRecipe:
    """How each actor rebuilds the record builder ``build`` (made for these chunking options): its encoder and
    dense embedder, loaded by name."""
    encoder = build.encoder
    model = options.model or encoder.model_name
    if model == "LensModel":
        raise LensInputError("The connector's encoder wraps a LensModel made in memory; encoder actors load a "
                             "model by name. Save it (model.save_pretrained(dir)) and pass RayOptions(model=dir).")
    backend, dtype = _backend_and_dtype(encoder, str(model), options)
    return EncoderRecipe(model=str(model), backend=backend, dtype=dtype, device=options.device,
                         threads=options.threads, max_length=encoder.max_length, batch_size=encoder.batch_size,
                         dense=_dense_factory(build.dense, options), task=build.task,
                         sparse_top=build.sparse_top, chunking=chunking, chunk_size=chunk_size,
                         chunk_overlap=chunk_overlap, fingerprint=encoder.fingerprint, model_hash=build.model_hash,
                         url=encoder.url, remote=encoder.remote)


def _backend_and_dtype(encoder: LensEncoder, model: str, options: RayOptions) -> tuple[BackendName, Precision | None]:
    """The actors' backend and dtype: the driver's, except that a graph ``backend="auto"`` exported
    into the driver's own cache is chosen again by each actor on its machine (``"auto"``); a remote
    encoder's actors call its server."""
    if encoder.backend == "remote":
        return "remote", None
    exported = encoder.export_dir
    if encoder.backend == "onnx" and exported is not None and Path(model).expanduser().resolve() != exported.resolve():
        if options.dtype is None:
            return "auto", None
        return "torch", options.dtype  # a dtype asked for: torch in that precision
    dtype: Precision = options.dtype or (_torch_precision(encoder) if encoder.backend == "torch" else "fp32")
    if dtype == "fp16" and options.device == "cpu":
        dtype = "fp32"  # the driver's GPU dtype; CPU actors encode in fp32 (the model's identity is the same)
    return cast(BackendName, encoder.backend), dtype  # what "auto" chose, or the backend named


def _torch_precision(encoder: LensEncoder) -> Precision:
    """The precision the torch backend's model runs in (the encoder's own dtype map names it)."""
    from lens_vdb._inference.torch_backend import precision_name

    return precision_name(next(encoder.model.parameters()).dtype) or "fp32"


def _dense_factory(dense: Any, options: RayOptions) -> Callable[[], Any]:
    if options.dense is not None:
        return options.dense
    if isinstance(dense, MiniLMEmbedder):
        return partial(MiniLMEmbedder, device=options.device)
    return partial(_same, dense)  # sent to each actor pickled, with the connector's dense embedder in it


def _same(value: Any) -> Any:
    return value


class EncodeBatches:
    """A Ray Data actor UDF: batches of document rows in, their records out (one row per document).

    A constructor that raised would be restarted by Ray without end; a failure to load is kept and
    raised on the first batch instead, which stops the run with its message.
    """

    def __init__(self, recipe: EncoderRecipe) -> None:
        import ray

        context = ray.get_runtime_context()
        self.node, self.actor = context.get_node_id(), context.get_actor_id()
        self.failure: Exception | None = None
        try:
            self.build = recipe.load()
        except Exception as exc:  # noqa: BLE001 - raised with every batch, see the docstring
            self.failure = exc

    def __call__(self, table: pa.Table) -> pa.Table:
        if self.failure is not None:
            raise self.failure
        rows = rows_of(table)
        first: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row["status"] in (NEW, UPDATED):
                first.setdefault(row["key"], row)
        records = self.build([row["document"] for row in first.values()]) if first else []
        by_key: dict[str, list] = defaultdict(list)
        for record in records:
            by_key[record.document.point_id].append(record)
        out = []
        for row in rows:
            if first.get(row["key"]) is row:
                out.append({**row, "records": by_key[row["key"]]})
            else:  # stored unchanged, failed, or a second copy of a document in this batch
                out.append({**row, "status": row["status"] if row["status"] not in (NEW, UPDATED) else SKIPPED})
        for row in out:
            row.update(node=self.node, actor=self.actor)
        return to_table(out, ENCODED)
