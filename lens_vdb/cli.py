"""The ``lens-vdb`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _cmd_build(args: argparse.Namespace) -> int:
    from ._build import build_lens_model
    from ._default import smollm2_gguf

    if args.base == "smollm2":
        base, gguf_file = smollm2_gguf()
    else:
        base, gguf_file = args.base, args.gguf_file
    model = build_lens_model(base, gguf_file=gguf_file, k=args.k, seed=args.seed, attention=args.attention,
                             pooling=args.pooling, trust_remote_code=args.trust_remote_code)
    print(f"built k={model.k} LENS model from {model.config.base_model}; saved to {model.save_pretrained(args.out)}")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from ._encoder import LensEncoder

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
    from ._demo import run_demo

    run_demo(documents=args.documents)
    return 0


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

    demo = commands.add_parser("demo", help="the main job on the embedded default (builds the default model once)")
    demo.add_argument("--documents", type=int, default=40, help="BBC articles to embed")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
