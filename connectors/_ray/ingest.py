"""Distributed bulk ingestion on Ray Data: ``store.ingest(source, ray=RayOptions(encoders=4, gpus_per_encoder=1))``.

    read -> plan / id-lookup -> encoder actors (map_batches, actor pool) -> writers

Reading and planning: ``source``. Encoding: ``encode`` (each actor builds records with
the connector's own ``RecordBuilder``). Writing: ``write`` (a Ray ``Datasink`` of many write
tasks on a server engine; the driver alone on an embedded one). The collection's spec was checked
when the connector opened it, before any actor starts; a collection that does not exist is made
by the first write, as ``ingest`` makes it (on a server: once, on the driver, before the first write
task). Every document is stored exactly once whatever Ray retries: ids are deterministic, writes
are upserts in the commit order of ``_collection``, and stored documents are skipped before encoding.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lens_vdb import LensError
from lens_vdb._deps import require

from .._base import IngestReport
from .._documents import DocumentSource, read_documents
from .._ingest import IngestOptions, Planner, Tally
from .cluster import start_or_join
from .options import RayOptions

if TYPE_CHECKING:
    from .._collection import Collection
    from .._records import RecordBuilder

__all__ = ["RayIngestReport", "ingest_with_ray"]

logger = logging.getLogger(__name__)
_RAY_NOTE = re.compile(r"\nFailed to .+? attempts \(total backoff .*", re.S)  # Ray Data's note on its retries
_CONTEXT = {"raise_original_map_exception": True, "enable_auto_log_stats": False}  # and the progress bars


@dataclass
class RayIngestReport(IngestReport):
    """The :class:`IngestReport` of a distributed run, plus where it encoded.

    ``encoders``: Ray node id -> encoder actors that encoded documents on it. ``startup_seconds``:
    from the call to the first encoded batch reaching a writer (Ray start, reading, planning, and
    the actors loading their models); ``seconds`` and docs/s count it too.
    """

    encoders: dict[str, int] = field(default_factory=dict)
    startup_seconds: float = 0.0

    def __str__(self) -> str:
        actors = sum(self.encoders.values())
        return (f"{super().__str__()}; {actors} encoder actor(s) on {len(self.encoders)} node(s), first batch "
                f"written after {self.startup_seconds:.1f} s")


def ingest_with_ray(collection: Collection, build: RecordBuilder, source: DocumentSource | Any, options: RayOptions,
                    run: IngestOptions, *, chunking: bool, chunk_size: int | None, chunk_overlap: int | None,
                    text_field: str, id_field: str) -> RayIngestReport:
    """Run ``ingest``'s job on Ray (see the module docstring): documents of ``source`` built into records by
    ``build`` (made for ``chunking``, ``chunk_size``, ``chunk_overlap``, which each encoder actor makes again)
    and written to ``collection``; the other arguments are ``ingest``'s."""
    require("ray", "ray")
    require("ray.data", "ray")
    from .encode import encoder_recipe
    from .source import is_dataset_source, plan_on_driver

    start = time.perf_counter()
    tally = Tally()  # the driver's: its planning's retries and failures, then the writers' merged in
    planner = Planner(collection, build.model_hash, max_retries=run.max_retries, tally=tally)
    recipe = encoder_recipe(build, options, chunking=chunking, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    job = _Job(collection, recipe, options, run, planner)
    total: int | None = None
    rows: list[dict[str, Any]] | None = None
    if not is_dataset_source(source):  # planned here, before Ray starts: nothing to encode starts nothing
        total, rows = plan_on_driver(read_documents(source, text_field=text_field, id_field=id_field), planner,
                                     batch_size=run.batch_size)
    first = None
    if rows is None or rows:
        with _session(options, run.show_progress) as adopt:
            if rows is None:
                total, documents = job.plan_dataset(source, text_field=text_field, id_field=id_field, adopt=adopt)
                blocks = None
            else:
                documents, blocks = job.as_dataset(rows, adopt), -(-len(rows) // run.batch_size)
            if documents is not None:
                written, first = job.encode_and_write(documents, blocks)
                tally.merge(written)
    report = RayIngestReport()
    tally.report(report, total=total if total is not None else tally.rows, seconds=time.perf_counter() - start)
    report.encoders = {node: len(actors) for node, actors in tally.encoders.items()}
    report.startup_seconds = (first - start) if first is not None else 0.0
    return report


class _Job:
    """One distributed ingestion's stages, for one collection and one set of options."""

    def __init__(self, collection: Collection, recipe: Any, options: RayOptions, run: IngestOptions,
                 planner: Planner) -> None:
        self.collection, self.recipe, self.options, self.planner = collection, recipe, options, planner
        self.batch_size, self.write_workers, self.max_retries = run.batch_size, run.write_workers, run.max_retries
        self.server = collection.recipe  # None: an embedded engine, written by this process

    def as_dataset(self, rows: list[dict[str, Any]], adopt: Any) -> Any:
        from .source import as_dataset

        return adopt(as_dataset(rows, self.batch_size))

    def plan_dataset(self, source: Any, *, text_field: str, id_field: str, adopt: Any) -> tuple[int | None, Any]:
        """A Dataset or Parquet source: documents made in Ray tasks, checked and looked up (``source``)."""
        import ray.data

        from .source import LookupHeads, keep_planned, plan_dataset, read_dataset

        documents = adopt(read_dataset(source, text_field=text_field, id_field=id_field, batch_size=self.batch_size))
        model_hash = self.recipe.model_hash
        if self.server is None or self.options.check_ids:
            # read once, before the actors take their CPUs: the plan's pass and the encoders share the blocks
            documents = adopt(documents.materialize())
            total, plan = plan_dataset(documents, self.planner, look_up=self.server is None,
                                       batch_size=self.batch_size)
            if plan is not None:  # an embedded engine: the driver looked up every document
                return total, keep_planned(documents, plan) if plan.num_rows else None
        else:
            total = None
        lookups = documents.map_batches(
            LookupHeads, fn_constructor_kwargs={"recipe": self.server, "spec": self.collection.spec,
                                                "model_hash": model_hash, "max_retries": self.max_retries},
            compute=ray.data.ActorPoolStrategy(size=self.write_workers), num_cpus=0, batch_size=self.batch_size,
            batch_format="pyarrow")
        return total, lookups

    def encode_and_write(self, documents: Any, blocks: int | None) -> tuple[Any, float | None]:
        """The encoder actor pool (no more actors than ``blocks``, when known), then the writers; returns
        their tally and when the first batch was written."""
        import ray.data

        from .encode import EncodeBatches
        from .write import LensDatasink, write_on_driver

        options = self.options
        encoded = documents.map_batches(
            EncodeBatches, fn_constructor_kwargs={"recipe": self.recipe},
            compute=ray.data.ActorPoolStrategy(size=min(options.encoders, blocks or options.encoders)),
            num_cpus=options.cpus_per_encoder,
            num_gpus=options.gpus_per_encoder or None, batch_size=self.batch_size, batch_format="pyarrow")
        if self.server is None:
            return write_on_driver(self.collection, encoded, self.max_retries)
        sink = LensDatasink(self.server, self.collection.spec, self.max_retries)
        encoded.write_datasink(sink, concurrency=self.write_workers, ray_remote_args={"num_cpus": 0})
        return sink.tally or Tally(), sink.first_write


@contextmanager
def _session(options: RayOptions, show_progress: bool) -> Iterator[Any]:
    """Ray for the run: the runtime this process joined, the cluster at ``options.address``, or a local one
    started here and stopped after. Yields ``adopt(dataset)``, which gives a dataset (and those made from it)
    this run's settings (progress bars, errors raised as they were raised) until the run ends.

    A LensError raised in an actor or task (bad input, a NaN vector, another model) is raised here as itself.
    """
    import ray
    import ray.data

    started = start_or_join(options, logging.INFO if show_progress else logging.WARNING)
    saved: list[tuple[Any, dict[str, Any]]] = []
    settings = {**_CONTEXT, "enable_progress_bars": show_progress}

    def adopt(dataset: Any) -> Any:
        context = dataset.context
        if all(context is not other for other, _ in saved):
            saved.append((context, {name: getattr(context, name) for name in settings}))
            for name, value in settings.items():
                setattr(context, name, value)
        return dataset

    data_logger = logging.getLogger("ray.data")
    level = data_logger.level
    if not show_progress:
        data_logger.setLevel(logging.WARNING)
    try:
        yield adopt
    except Exception as exc:
        error = _lens_error(exc)
        if error is None:
            raise
        raise error from None
    finally:
        data_logger.setLevel(level)
        for context, values in saved:
            for name, value in values.items():
                setattr(context, name, value)
        if started:
            ray.shutdown()


def _lens_error(error: BaseException | None) -> LensError | None:
    """The LensError an actor or task raised, out of the Ray errors that carry it (``cause``, ``__cause__``),
    with its own message (Ray Data appends a note on its retries to the message of a task's error)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, LensError) and type(error).__module__.startswith("lens_vdb"):
            return type(error)(_RAY_NOTE.sub("", str(error.args[0]) if error.args else str(error)))
        error = getattr(error, "cause", None) or error.__cause__ or error.__context__
    return None
