"""The ``train``, ``*-pairs`` and ``eval`` subcommands of ``lens-vdb`` (thin; work is imported lazily)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import LensInputError
from ._vocabulary import FUSIONS, NAMED_SETS, TRAIN_PRECISIONS

if TYPE_CHECKING:
    from contextlib import ExitStack

    from .eval import Corpus, LensSystem, Retriever

__all__ = ["add_train_commands"]


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, train

    config = TrainConfig(epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
                         negatives=args.negatives, learning_rate=args.lr, attention=args.attention,
                         precision=args.precision, device=args.device, save_every=args.save_every, seed=args.seed,
                         gradient_checkpointing=not args.no_gradient_checkpointing,
                         query_max_length=args.query_max_length, doc_max_length=args.doc_max_length,
                         center_head=not args.no_center_head, train_layers=args.train_layers,
                         backbone_layers=args.backbone_layers, cache_dir=args.cache_dir)
    result = train(_model_source(args.model), args.data, args.out, config, resume=not args.restart,
                   show_progress=True)
    tail = result.losses[-10:]
    loss = f"{sum(tail) / len(tail):.4f}" if tail else "n/a (nothing left to do)"
    print(f"step {result.step}; mean loss of the last steps {loss}")
    small = "trained layers + head" if args.train_layers is not None else "adapter + head"
    print(f"{small}: {result.adapter_dir}\nmerged model:   {result.model_dir}")
    return 0


def _cmd_wordnet(args: argparse.Namespace) -> int:
    from .train import write_wordnet_pairs

    count = write_wordnet_pairs(args.out, args.wordnet_dir, seed=args.seed)
    print(f"wrote {count} examples to {args.out}")
    return 0


# retrieval pair builders: command -> (module, writer, source option, its help)
_PAIR_BUILDERS = {
    "debian-pairs": ("._debian", "write_debian_pairs", "--lists-dir", "/var/lib/apt/lists",
                     "apt lists with Translation-en (apt-get update -o Acquire::Languages=en)",
                     "Debian package synopsis -> long description pairs"),
    "manpage-pairs": ("._manpages", "write_manpage_pairs", "--man-dir", "/usr/share/man",
                      "folder with man1..man9 (apt-get install manpages manpages-dev ...)",
                      "man page NAME line -> DESCRIPTION pairs"),
    "pydoc-pairs": ("._pydoc", "write_pydoc_pairs", "--source-dir", None,
                    "folder of .py files (default: this Python's standard library, parsed, never imported)",
                    "Python docstring summary line -> body pairs"),
}


def _cmd_pairs(args: argparse.Namespace) -> int:
    import importlib

    module, writer, *_ = _PAIR_BUILDERS[args.command]
    write = getattr(importlib.import_module(module, "lens_vdb.train"), writer)
    source = (args.source,) if args.source else ()
    counts = write(args.out, *source, seed=args.seed, held_out=args.held_out, negatives=args.negatives,
                   limit=args.limit)
    print(f"read {counts.read} pairs, kept {counts.kept} after de-duplication; wrote {counts.train} training "
          f"examples to {counts.train_path} and {counts.held_out} held-out to {counts.held_out_path}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from ._inference.encoder import LensEncoder
    from .eval import FUSIONS, LensSystem, MiniLMSystem, evaluate, load_beir, named_corpus

    if args.connector and args.no_dense:
        raise LensInputError("--connector evaluates the connector's LENS + dense hybrid search; drop --no-dense.")
    if args.corpus:
        corpus = load_beir(args.corpus, split=args.split, label_field=args.label_field)
    else:
        corpus = named_corpus(args.dataset or "bbc-news", limit=args.articles or None)
    labels, progress = args.label or [], not args.no_progress
    systems = []
    for index, source in enumerate(args.model or ["default"]):
        label = labels[index] if index < len(labels) else f"LENS {Path(source).name}"
        encoder = LensEncoder(_model_source(source), backend=args.backend, device=args.device,
                              max_length=args.max_length, batch_size=args.batch_size)
        systems.append(LensSystem(label, encoder, show_progress=progress))
    dense = None if args.no_dense else MiniLMSystem(device=args.device, show_progress=progress)
    print(f"{corpus.name}: {corpus.size} queries over {len(corpus.documents)} documents"
          + (f" ({corpus.dropped_queries} queries without a relevant document left out)" if corpus.dropped_queries
             else ""))
    with ExitStack() as stack:
        retrievers = _connector_retrievers(args, corpus, systems, stack) if args.connector else []
        report = evaluate(corpus, systems, dense=dense, bm25=not args.no_bm25, fusions=args.fusion or FUSIONS,
                          depth=args.depth, prefetch=args.prefetch, retrievers=retrievers, cache_dir=args.cache,
                          bootstrap=args.bootstrap)
    print(report.table())
    if args.json:
        print(f"written to {report.to_json(args.json)}")
    if args.plot:
        print(f"plot written to {report.plot(args.plot)}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from ._inference.encoder import LensEncoder
    from ._minilm import MINILM_NAME
    from ._model.specificity import measure_specificity, save_specificity
    from .eval import CachedEmbedder, LensSystem, MiniLMSystem, load_beir, named_corpus
    from .eval._calibrate import calibrate_fusion, held_out_corpus

    if args.corpus:
        corpus = load_beir(args.corpus, split=args.split)
    elif args.dataset:
        corpus = named_corpus(args.dataset, limit=args.limit)
    else:
        corpus = held_out_corpus(args.pairs, args.limit)
    from ._model.default import MODEL_NAMES

    if args.save and (args.model in MODEL_NAMES or not Path(args.model).is_dir()):
        raise LensInputError(f"--save writes lens_fusion.json into the model's folder: {args.model!r} is not a folder "
                             "of yours (a shipped model's record ships with it); name your model's folder.")
    source = _model_source(args.model)
    encoder = LensEncoder(source, backend=args.backend, max_length=args.max_length, batch_size=args.batch_size)
    lens = LensSystem("LENS", encoder, show_progress=not args.no_progress)
    with tempfile.TemporaryDirectory(prefix="lens-calibrate-") as scratch:  # each text encoded once
        cache = args.cache or scratch
        record = calibrate_fusion(corpus, lens, MiniLMSystem(show_progress=not args.no_progress),
                                  dense_model=MINILM_NAME, cache_dir=cache)
        documents = CachedEmbedder(lens, cache).embed_documents(corpus.documents)
    print(f"{record.measured_on}; MRR@10 of each fusion with all-MiniLM-L6-v2:")
    for label, score in sorted(record.scores.items(), key=lambda item: -item[1]):
        print(f"  {score:.4f}  {label}" + ("   <- best" if label == record.label else ""))
    if args.save:
        print(f"written to {record.save(source)}: searches with this model and MiniLM fuse so by default")
        where = save_specificity(source, measure_specificity(documents), measured_on=record.measured_on)
        print(f"written to {where}: explanations weigh shared clusters by how specific each is")
    return 0


def _connector_retrievers(args: argparse.Namespace, corpus: Corpus, systems: list[LensSystem], stack: ExitStack
                          ) -> list[Retriever]:
    """A connector per LENS model on the chosen embedded engine, in a collection named after the
    model's vectors and the corpus (a reused location never mixes models or corpora)."""
    import hashlib
    import tempfile

    from lens_vdb.connectors import ConnectorRetriever, MilvusConnector, QdrantConnector
    from lens_vdb.connectors._evaluate import engine_fusions

    location = Path(args.connector_location or stack.enter_context(tempfile.TemporaryDirectory(prefix="lens-eval-")))
    retrievers = []
    for system in systems:
        key = hashlib.sha256("\x00".join([system.fingerprint, *corpus.doc_ids, *corpus.documents]).encode())
        collection = f"eval_{key.hexdigest()[:16]}"
        if args.connector == "milvus":
            location.mkdir(parents=True, exist_ok=True)
            store = MilvusConnector(location / "milvus.db", collection, encoder=system.encoder)
        else:
            store = QdrantConnector(location, collection, encoder=system.encoder)
        stack.enter_context(store)
        fusions = [f for f in (args.fusion or engine_fusions(store)) if f in engine_fusions(store)]
        retrievers.append(ConnectorRetriever(store, name=f"{system.name} + MiniLM via {args.connector}",
                                             fusions=fusions, show_progress=not args.no_progress))
    return retrievers


def _backend_name(value: str) -> str:
    """``--backend``: checked against the encoder's one list of backends (read only when given)."""
    from ._vocabulary import BACKENDS

    if value not in BACKENDS:
        raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from {', '.join(BACKENDS)})")
    return value


def _model_source(source: str) -> str | Path:
    from ._model.default import resolve_model_name

    return resolve_model_name(source)


def add_train_commands(commands: Any) -> None:
    """Register the subcommands on the CLI's subparsers."""
    train = commands.add_parser("train", help="fine-tune a LENS model (InfoNCE + LoRA) on JSONL pairs")
    train.add_argument("data", nargs="+", help="JSONL files: query, pos, neg, task|instruction[, dataset, kind]")
    train.add_argument("--model", default="untrained",
                       help="LENS model dir to start from; 'untrained' (default) = SmolLM2 + k-means head")
    train.add_argument("--out", required=True, help="run directory: checkpoint/, adapter/, model/")
    train.add_argument("--epochs", type=int, default=1)
    train.add_argument("--max-steps", type=int, default=None)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--negatives", type=int, default=7, help="hard negatives per example (up to)")
    train.add_argument("--lr", type=float, default=1e-4)
    train.add_argument("--attention", choices=["bidirectional", "causal"], default=None)
    train.add_argument("--precision", choices=TRAIN_PRECISIONS, default="auto")
    train.add_argument("--device", default=None)
    train.add_argument("--save-every", type=int, default=500, help="steps between checkpoints")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--query-max-length", type=int, default=128)
    train.add_argument("--doc-max-length", type=int, default=256)
    train.add_argument("--no-center-head", action="store_true", help="keep the head as it is (see TrainConfig)")
    train.add_argument("--no-gradient-checkpointing", action="store_true")
    train.add_argument("--train-layers", type=int, default=None, metavar="N",
                       help="cheap mode for a CPU: train only the top N layers (0: the head alone); the layers "
                            "below run once per text, cached on disk and reused by later runs")
    train.add_argument("--backbone-layers", type=int, default=None, metavar="M",
                       help="with --train-layers: keep only the backbone's first M layers (a shallower model)")
    train.add_argument("--cache-dir", default=None,
                       help="with --train-layers: the hidden-state cache (default $LENS_VDB_HOME/hidden-states)")
    train.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in --out")
    train.set_defaults(func=_cmd_train)

    wordnet = commands.add_parser("wordnet-pairs", help="write WordNet gloss training pairs (JSONL)")
    wordnet.add_argument("--out", required=True, help="output .jsonl (or .jsonl.gz)")
    wordnet.add_argument("--wordnet-dir", default="/usr/share/wordnet", help="WordNet database (wordnet-base)")
    wordnet.add_argument("--seed", type=int, default=0)
    wordnet.set_defaults(func=_cmd_wordnet)

    for name, (_, _, option, default, source_help, description) in _PAIR_BUILDERS.items():
        pairs = commands.add_parser(name, help=f"write {description} (JSONL + held-out split)")
        pairs.add_argument("--out", required=True, help="output .jsonl(.gz); the held-out split goes beside it")
        pairs.add_argument(option, dest="source", default=default, help=source_help)
        pairs.add_argument("--seed", type=int, default=0)
        pairs.add_argument("--held-out", type=float, default=0.02, help="share of groups held out (0.02)")
        pairs.add_argument("--negatives", type=int, default=3, help="BM25 hard negatives per example")
        pairs.add_argument("--limit", type=int, default=None, help="at most this many training examples")
        pairs.set_defaults(func=_cmd_pairs)

    evaluate = commands.add_parser("eval", help="evaluate LENS, BM25, MiniLM and hybrids on your corpus (or BBC News)")
    corpus = evaluate.add_mutually_exclusive_group()
    corpus.add_argument("--corpus", default=None, help="a BEIR folder: corpus.jsonl, queries.jsonl, "
                        "qrels/<split>.tsv (graded); default: --dataset bbc-news")
    corpus.add_argument("--dataset", choices=NAMED_SETS, default=None,
                        help="a named offline set instead of --corpus: bbc-news (headlines -> articles, the default) "
                             "or perl-faq (Perl FAQ questions -> answers, Debian's perl-doc; in no training source; "
                             "-evaluation: the half a fusion is never calibrated on)")
    evaluate.add_argument("--split", default="test", help="the qrels file to evaluate (qrels/<split>.tsv)")
    evaluate.add_argument("--label-field", default=None, help="document field (or metadata field) holding a class, "
                          "for the classification and clustering columns")
    evaluate.add_argument("--articles", type=int, default=500,
                          help="queries of the named set, spread evenly (BBC articles; FAQ questions); 0: all "
                               "(~2,096 BBC articles, ~306 FAQ questions)")
    evaluate.add_argument("--model", action="append", help="LENS model: 'default', 'default-wordnet-v1', "
                          "'untrained', a dir or a hub id (repeatable)")
    evaluate.add_argument("--label", action="append", help="row name for each --model")
    evaluate.add_argument("--backend", type=_backend_name, default="torch",
                          help="LensEncoder backend for every --model (onnx: --model is an export dir)")
    evaluate.add_argument("--max-length", type=int, default=256, help="LENS tokens per text")
    evaluate.add_argument("--batch-size", type=int, default=16)
    evaluate.add_argument("--device", default=None)
    evaluate.add_argument("--no-dense", action="store_true", help="skip all-MiniLM-L6-v2 and the hybrids")
    evaluate.add_argument("--no-bm25", action="store_true")
    evaluate.add_argument("--fusion", action="append", choices=FUSIONS,
                          help="hybrid fusion (repeatable; default all three, as the connectors run them)")
    evaluate.add_argument("--depth", type=int, default=100, help="documents each system returns per query")
    evaluate.add_argument("--prefetch", type=int, default=None,
                          help="candidates per route before fusion (default max(5 * depth, 50), the connectors')")
    evaluate.add_argument("--connector", choices=["qdrant", "milvus"], default=None,
                          help="also ingest the corpus into embedded Qdrant (edge) or Milvus Lite and measure its "
                               "hybrid search")
    evaluate.add_argument("--connector-location", default=None,
                          help="folder for --connector's engine (default: a temporary folder)")
    evaluate.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals (0: none)")
    evaluate.add_argument("--cache", default=None, help="folder to cache embeddings in")
    evaluate.add_argument("--json", default=None, help="write the results (per query too) as JSON here")
    evaluate.add_argument("--plot", default=None, help="write a bar chart of nDCG@10 here (.png, .svg, .pdf)")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bars while encoding")
    evaluate.set_defaults(func=_cmd_eval)

    calibrate = commands.add_parser("calibrate", help="measure how a LENS model fuses best with all-MiniLM-L6-v2 "
                                    "on held-out data, and keep it beside the model (--save)")
    data = calibrate.add_mutually_exclusive_group(required=True)
    data.add_argument("--pairs", help="held-out training pairs (JSONL: query, pos), e.g. a *-pairs builder's held-out "
                      "split; known-item: each query finds its pos")
    data.add_argument("--corpus", help="a BEIR folder (as lens-vdb eval --corpus)")
    data.add_argument("--dataset", choices=NAMED_SETS, help="a named offline set (as lens-vdb eval --dataset); "
                      "perl-faq-calibration keeps perl-faq-evaluation free to report on")
    calibrate.add_argument("--split", default="test", help="the qrels file of --corpus")
    calibrate.add_argument("--limit", type=int, default=None, help="use the first N pairs")
    calibrate.add_argument("--model", default="default", help="LENS model: a dir, a hub id, or a name")
    calibrate.add_argument("--backend", type=_backend_name, default="torch")
    calibrate.add_argument("--max-length", type=int, default=256, help="LENS tokens per text")
    calibrate.add_argument("--batch-size", type=int, default=16)
    calibrate.add_argument("--cache", default=None, help="folder to cache embeddings in")
    calibrate.add_argument("--save", action="store_true", help="write lens_fusion.json (the best fusion) and "
                           "lens_cluster_idf.safetensors (each cluster's specificity) into the model folder")
    calibrate.add_argument("--no-progress", action="store_true", help="no progress bars while encoding")
    calibrate.set_defaults(func=_cmd_calibrate)
