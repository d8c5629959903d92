"""The ``lens-vdb`` command line.

The CLI is the application layer: it wires the core, ``lens_vdb.connectors`` and
``lens_vdb.export`` together, importing each inside the command that needs it. No other module
of the core imports connectors or export (a test checks this).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from ._errors import LensError

__all__ = ["main"]


def _cmd_build(args: argparse.Namespace) -> int:
    from ._model.build import build_lens_model
    from ._model.default import smollm2_gguf

    if args.base == "smollm2":
        base, gguf_file = smollm2_gguf()
    else:
        base, gguf_file = args.base, args.gguf_file
    model = build_lens_model(base, gguf_file=gguf_file, k=args.k, seed=args.seed, attention=args.attention,
                             pooling=args.pooling, trust_remote_code=args.trust_remote_code)
    print(f"built k={model.k} LENS model from {model.config.base_model}; saved to {model.save_pretrained(args.out)}")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from ._inference.encoder import LensEncoder

    encoder = LensEncoder(args.model, device=args.device, dtype=args.dtype)
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if args.query:
        vectors = encoder.encode_queries(texts, task=args.task)
    else:
        vectors = encoder.encode_documents(texts, task=args.task)
    for text, vector in zip(texts, vectors):
        top = [{"cluster": e.cluster, "weight": round(e.weight, 4), "tokens": list(e.tokens)}
               for e in encoder.explain(vector, top=args.top)]
        print(json.dumps({"text": text, "nonzero": int((vector > 0).sum()), "top": top}, ensure_ascii=False))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from lens_vdb.connectors._demo import run_demo

    run_demo(documents=None if args.all else args.documents, location=args.location, backend=args.backend)
    return 0


def _connector(args: argparse.Namespace):
    from lens_vdb.connectors import MilvusConnector, QdrantConnector

    where = {"location": args.location} if args.location else {}  # else the connector's own default
    if args.backend == "milvus":
        return MilvusConnector(**where, collection=args.collection, encoder=args.model, sparse_top=args.sparse_top)
    return QdrantConnector(**where, collection=args.collection, encoder=args.model, sparse_top=args.sparse_top)


def _cmd_ingest(args: argparse.Namespace) -> int:
    ray = None
    if args.ray:
        from lens_vdb.connectors import RayOptions

        ray = RayOptions(address=args.ray_address, encoders=args.encoders, gpus_per_encoder=args.gpus_per_encoder)
    with _connector(args) as store:
        report = store.ingest(args.source, batch_size=args.batch_size, text_field=args.text_field,
                              chunking=not args.no_chunking, chunk_size=args.chunk_size,
                              chunk_overlap=args.chunk_overlap, ray=ray)
        print(report)
    return 1 if report.failed else 0


def _cmd_delete(args: argparse.Namespace) -> int:
    where = dict(item.split("=", 1) for item in args.filter) if args.filter else None
    with _connector(args) as store:
        deleted = store.delete(args.ids or None, filter=where)
    print(f"deleted {deleted} document(s)")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    where = dict(item.split("=", 1) for item in args.filter) if args.filter else None
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


def _cmd_export(args: argparse.Namespace) -> int:
    from lens_vdb.export import export_onnx

    source = args.model
    if source is None:
        from ._model.default import default_model_dir

        source = default_model_dir()
    checks = {} if args.retrieval_articles is None else {"retrieval_articles": args.retrieval_articles}
    out = export_onnx(source, args.out, dtype=args.dtype, quantize=args.quantize, opset=args.opset,
                      overwrite=args.overwrite, **checks)
    print((out / "manifest.json").read_text())
    return 0


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["qdrant", "milvus"], default="qdrant")
    parser.add_argument("--location", default=None,
                        help="embedded store (Qdrant: a folder, default ./lens-vdb-data; Milvus Lite: a .db file, "
                             "default ./lens-vdb-milvus.db) or a server URL (http://host:6333, http://host:19530)")
    parser.add_argument("--collection", default="lens")
    parser.add_argument("--model", default=None, help="LENS model dir or hub id; default: the offline default model")
    parser.add_argument("--sparse-top", type=int, default=None,
                        help="also store the top-N LENS dims as a sparse vector (default: what the collection was "
                             "made with; 0 for a new one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lens-vdb", description="LENS lexicon embeddings for hybrid retrieval.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build a LENS model from a causal LM (k-means head)")
    build.add_argument("base", help="hub id or local dir of a causal LM, or 'smollm2' for the offline default")
    build.add_argument("--gguf-file", help="GGUF file name inside the base dir")
    build.add_argument("-k", type=int, default=4000, help="lexicon dimensions (clusters); default 4000")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--attention", choices=["bidirectional", "causal"], default="bidirectional")
    build.add_argument("--pooling", choices=["max", "sum", "last"], default="max")
    build.add_argument("--trust-remote-code", action="store_true", help="run code shipped with the base model")
    build.add_argument("--out", required=True, help="directory to write the LENS model to")
    build.set_defaults(func=_cmd_build)

    embed = commands.add_parser("embed", help="embed texts (arguments or stdin lines) and explain them")
    embed.add_argument("texts", nargs="*")
    embed.add_argument("--model", help="model dir or hub id; default: the offline default model")
    embed.add_argument("--query", action="store_true", help="embed as queries (with the task instruction)")
    embed.add_argument("--task", default=None, help="task name from the instruction registry")
    embed.add_argument("--top", type=int, default=5, help="lexicon dimensions to show per text")
    embed.add_argument("--device", default=None)
    embed.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    embed.set_defaults(func=_cmd_embed)

    demo = commands.add_parser("demo", help="the main job: BBC News into embedded Qdrant, then hybrid queries")
    demo.add_argument("--documents", type=int, default=200, help="BBC articles to ingest (default 200)")
    demo.add_argument("--all", action="store_true", help="ingest all ~2,100 distinct articles")
    demo.add_argument("--location", default="./lens-vdb-data", help="folder of the embedded Qdrant")
    demo.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto",
                      help="auto: torch on a GPU, else the default model's int8 ONNX graph (exported once)")
    demo.set_defaults(func=_cmd_demo)

    ingest = commands.add_parser("ingest", help="embed and store documents (JSONL, CSV or a folder of .txt)")
    ingest.add_argument("source", help="a .jsonl or .csv file, or a folder of .txt files (with --ray also Parquet)")
    ingest.add_argument("--batch-size", type=int, default=32)
    ingest.add_argument("--text-field", default="text")
    ingest.add_argument("--chunk-size", type=int, default=None,
                        help="tokens per chunk of a long document (default: the smaller of the LENS and dense windows)")
    ingest.add_argument("--chunk-overlap", type=int, default=None, help="tokens shared by neighbouring chunks")
    ingest.add_argument("--no-chunking", action="store_true", help="one point per document, cut at the window")
    ingest.add_argument("--ray", action="store_true",
                        help="run on Ray Data (lens-vdb[ray]): encoder actors, parallel writers; SOURCE may be Parquet")
    ingest.add_argument("--ray-address", default=None, help="the Ray cluster to join (default: start a local one)")
    ingest.add_argument("--encoders", type=int, default=1, help="with --ray: encoder actors")
    ingest.add_argument("--gpus-per-encoder", type=float, default=0, help="with --ray: GPUs per encoder actor")
    _store_options(ingest)
    ingest.set_defaults(func=_cmd_ingest)

    search = commands.add_parser("search", help="hybrid LENS + dense search")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=5)
    search.add_argument("--fusion", choices=["rrf", "dbsf", "weighted"], default="rrf")
    search.add_argument("--filter", action="append", metavar="FIELD=VALUE", help="metadata filter (repeatable)")
    search.add_argument("--explain", action="store_true", help="show the LENS clusters query and hit share")
    search.add_argument("--sparse", action="store_true", help="use the lens_sparse route")
    search.add_argument("--group-by-document", action="store_true", help="documents with their best chunks")
    _store_options(search)
    search.set_defaults(func=_cmd_search)

    delete = commands.add_parser("delete", help="delete documents, with all their chunks, by id or filter")
    delete.add_argument("ids", nargs="*", help="document ids")
    delete.add_argument("--filter", action="append", metavar="FIELD=VALUE", help="metadata filter (repeatable)")
    _store_options(delete)
    delete.set_defaults(func=_cmd_delete)

    export = commands.add_parser("export", help="export a LENS model to a validated ONNX graph")
    export.add_argument("--model", default=None, help="model dir or hub id; default: the offline default model")
    export.add_argument("--out", required=True, help="directory to write the graph, manifest and tokenizer to")
    export.add_argument("--dtype", choices=["fp32", "fp16"], default="fp32")
    export.add_argument("--quantize", choices=["int8", "int8-dynamic"], default=None,
                        help="int8 for CPUs: blockwise weights (int8), or Optimum's per-tensor dynamic (int8-dynamic)")
    export.add_argument("--opset", type=int, default=17)
    export.add_argument("--retrieval-articles", type=int, default=None,
                        help="int8: BBC News articles on which MRR@10 must stay within 1%% of torch "
                             "(default 200; 0 skips the check)")
    export.add_argument("--overwrite", action="store_true")
    export.set_defaults(func=_cmd_export)

    from ._cli_train import add_train_commands

    add_train_commands(commands)  # train, wordnet-pairs, eval
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except LensError as exc:  # the message says what to do; a traceback would bury it
        print(f"lens-vdb {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
