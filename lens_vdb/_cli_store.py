"""The ``demo``, ``ingest``, ``search`` and ``delete`` subcommands of ``lens-vdb``: vector stores (connectors imported lazily).

In ``ingest`` and ``search`` ``--store`` names the engine and ``--backend`` the encoder's backend,
as in ``demo`` and ``embed``. ``--backend qdrant|milvus``, the old spelling of ``--store`` (0.1),
is still read as ``--store`` with a warning, until 0.3.0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._cli_common import (
    DEFAULT_ENCODER_BACKEND,
    ENCODER_BACKENDS,
    STORES,
    add_encoder_options,
    existing_source,
    filter_item,
    model_source,
    non_negative_int,
    positive_int,
    store_location,
    task_name,
)
from ._errors import LensInputError
from ._vocabulary import DEFAULT_FUSION, FUSIONS

__all__ = ["add_store_commands", "STORE_SPELLING_REMOVED_IN"]

STORE_SPELLING_REMOVED_IN = "0.3.0"  # `--backend qdrant|milvus` for the store


def _cmd_demo(args: argparse.Namespace) -> int:
    from lens_vdb.connectors._demo import run_demo

    run_demo(documents=None if args.all else args.documents, location=args.location, backend=args.backend)
    return 0


def _old_store_spelling(args: argparse.Namespace) -> None:
    """``--backend qdrant|milvus`` meant the store in 0.1; read it as ``--store`` until 0.3.0."""
    if args.backend in STORES:
        if args.store not in (None, args.backend):
            raise LensInputError(f"--backend {args.backend} (the old spelling of --store) contradicts "
                                 f"--store {args.store}; give --store only.")
        print(f"lens-vdb {args.command}: warning: --backend {args.backend} now names the encoder's backend; "
              f"use --store {args.backend} (the old spelling stops working in {STORE_SPELLING_REMOVED_IN})",
              file=sys.stderr)
        args.store, args.backend = args.backend, DEFAULT_ENCODER_BACKEND
    args.store = args.store or "qdrant"
    args.location = store_location(args.store, args.location)


def _connector(args: argparse.Namespace) -> Any:
    from lens_vdb.connectors import MilvusConnector, QdrantConnector

    from ._inference.encoder import LensEncoder

    encoder = LensEncoder(args.model, backend=args.backend, threads=args.threads, url=getattr(args, "url", None))
    connector = MilvusConnector if args.store == "milvus" else QdrantConnector
    return connector(args.location, args.collection, encoder=encoder, task=args.task, sparse_top=args.sparse_top)


def _ray_options(args: argparse.Namespace) -> Any:
    """``RayOptions`` from ``--ray ...``, or None; Ray's options without ``--ray`` or Parquet without it are errors."""
    if not args.ray:
        given = [flag for flag, value in (("--ray-address", args.ray_address), ("--encoders", args.encoders),
                                          ("--gpus-per-encoder", args.gpus_per_encoder)) if value is not None]
        if given:
            raise LensInputError(f"{', '.join(given)} need(s) --ray")
        if args.source.endswith(".parquet") or any(Path(args.source).glob("*.parquet")):
            raise LensInputError(f"{args.source} is Parquet, which only the Ray path reads: add --ray")
        return None
    from lens_vdb.connectors import RayOptions

    return RayOptions(address=args.ray_address, encoders=args.encoders or 1,
                      gpus_per_encoder=args.gpus_per_encoder or 0)


def _cmd_ingest(args: argparse.Namespace) -> int:
    _old_store_spelling(args)
    ray = _ray_options(args)
    with _connector(args) as store:
        report = store.ingest(args.source, batch_size=args.batch_size, text_field=args.text_field,
                              chunking=not args.no_chunking, chunk_size=args.chunk_size,
                              chunk_overlap=args.chunk_overlap, ray=ray)
        print(report)
    return 1 if report.failed else 0


def _cmd_search(args: argparse.Namespace) -> int:
    _old_store_spelling(args)
    where = dict(args.filter) if args.filter else None
    with _connector(args) as store:
        hits = store.search(args.query, limit=args.limit, fusion=args.fusion, filter=where, explain=args.explain,
                            use_sparse=args.sparse, group_by_document=args.group_by_document)
    for hit in hits:
        row = {"id": hit.doc_id, "score": round(hit.score, 5), "scores": {k: round(v, 4) for k, v in hit.scores.items()},
               "metadata": hit.metadata, "text": hit.text[:200], "chunk": hit.chunk, "span": hit.span}
        if hit.chunks:
            row["chunks"] = [{"chunk": c.chunk, "span": c.span, "score": round(c.score, 5)} for c in hit.chunks]
        if hit.explanation:
            row["shared_clusters"] = [{"cluster": c, "weight": round(w, 4), "tokens": list(t)} for c, w, t in hit.explanation]
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    _old_store_spelling(args)
    where = dict(args.filter) if args.filter else None
    with _connector(args) as store:
        deleted = store.delete(args.ids or None, filter=where)
    print(f"deleted {deleted} document(s)")
    return 0


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", choices=STORES, default=None, help="the engine (default: qdrant)")
    parser.add_argument("--location", default=None,
                        help="embedded store (Qdrant: a folder, default ./lens-vdb-data; Milvus Lite: a .db file, "
                             "default ./lens-vdb-milvus.db) or a server URL (http://host:6333, http://host:19530)")
    parser.add_argument("--collection", default="lens", help="collection name")
    parser.add_argument("--model", type=model_source, default="default",
                        help="LENS model: a directory, a hub id, 'default' or 'untrained'")
    parser.add_argument("--task", type=task_name, default=None,
                        help="instruction task for queries (default: the model's own); a symmetric one (sts, "
                             "clustering...) instructs documents too: use the same at ingest and search")
    parser.add_argument("--sparse-top", type=non_negative_int, default=None,
                        help="also store the top-N LENS dims as a sparse vector; 0: off (default: what the "
                             "collection was made with; 0 for a new one)")
    # the old spelling of --store is accepted (and warned about) until STORE_SPELLING_REMOVED_IN
    add_encoder_options(parser, backends=ENCODER_BACKENDS + STORES)


def add_store_commands(commands: Any) -> None:
    """Register ``demo``, ``ingest``, ``search`` and ``delete`` on the CLI's subparsers."""
    demo = commands.add_parser("demo", help="the main job: BBC News into embedded Qdrant, then hybrid queries")
    demo.add_argument("--documents", type=positive_int, default=200, help="BBC articles to ingest")
    demo.add_argument("--all", action="store_true", help="ingest all ~2,100 distinct articles")
    demo.add_argument("--location", default="./lens-vdb-data", help="folder of the embedded Qdrant")
    # the demo's own choice, not the library default (torch): a fixed job shown at its fastest on this machine
    demo.add_argument("--backend", choices=ENCODER_BACKENDS, default="auto",
                      help="encoder backend; auto: the fastest measured on this machine (cached); torch: the "
                           "exact model; onnx: the default model's int8 graph")
    demo.set_defaults(func=_cmd_demo)

    ingest = commands.add_parser("ingest", help="embed and store documents (JSONL, CSV or a folder of .txt)")
    ingest.add_argument("source", type=existing_source,
                        help="a .jsonl, .jsonl.gz or .csv file, or a folder of .txt files (with --ray also Parquet)")
    ingest.add_argument("--batch-size", type=positive_int, default=32, help="documents per encoded batch")
    ingest.add_argument("--text-field", default="text", help="the field holding the text (JSONL, CSV)")
    ingest.add_argument("--chunk-size", type=positive_int, default=None,
                        help="tokens per chunk of a long document (default: the smaller of the LENS and dense windows)")
    ingest.add_argument("--chunk-overlap", type=non_negative_int, default=None,
                        help="tokens shared by neighbouring chunks (default: 1/8 of the chunk)")
    ingest.add_argument("--no-chunking", action="store_true", help="one point per document, cut at the window")
    ingest.add_argument("--ray", action="store_true",
                        help="run on Ray Data (lens-vdb[ray]): encoder actors, parallel writers; SOURCE may be Parquet")
    ingest.add_argument("--ray-address", default=None,
                        help="with --ray: the cluster to join (default: the one this machine runs, else a local one)")
    ingest.add_argument("--encoders", type=positive_int, default=None, help="with --ray: encoder actors (default: 1)")
    ingest.add_argument("--gpus-per-encoder", type=float, default=None,
                        help="with --ray: GPUs per encoder actor (default: 0, CPU)")
    _store_options(ingest)
    ingest.set_defaults(func=_cmd_ingest)

    search = commands.add_parser("search", help="hybrid LENS + dense search")
    search.add_argument("query")
    search.add_argument("--limit", type=positive_int, default=5, help="hits to print")
    search.add_argument("--fusion", choices=FUSIONS, default=DEFAULT_FUSION, help="how routes are fused")
    search.add_argument("--filter", action="append", type=filter_item, metavar="FIELD=VALUE",
                        help="metadata filter (repeatable)")
    search.add_argument("--explain", action="store_true", help="show the LENS clusters query and hit share")
    search.add_argument("--sparse", action="store_true", help="use the lens_sparse route")
    search.add_argument("--group-by-document", action="store_true", help="documents with their best chunks")
    _store_options(search)
    search.set_defaults(func=_cmd_search)

    delete = commands.add_parser("delete", help="delete documents, with all their chunks, by id or filter")
    delete.add_argument("ids", nargs="*", help="document ids")
    delete.add_argument("--filter", action="append", type=filter_item, metavar="FIELD=VALUE",
                        help="metadata filter (repeatable)")
    _store_options(delete)
    delete.set_defaults(func=_cmd_delete)
