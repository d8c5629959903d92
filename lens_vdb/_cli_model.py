"""The ``build``, ``embed`` and ``export`` subcommands of ``lens-vdb``: models (torch and export imported lazily)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._cli_common import add_encoder_options, model_source, non_negative_int, positive_int, task_name
from ._errors import LensInputError
from ._vocabulary import EXPORT_DTYPES, PRECISIONS, QUANTIZATIONS

__all__ = ["add_model_commands"]


def _cmd_build(args: argparse.Namespace) -> int:
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise LensInputError(f"--out {args.out} is a file; give a directory to write the model to.")
    if args.gguf_file and Path(args.base).is_dir() and not (Path(args.base) / args.gguf_file).is_file():
        raise LensInputError(f"--gguf-file {args.gguf_file} is not in {args.base}.")
    from ._model.build import build_lens_model
    from ._model.default import smollm2_gguf

    base, gguf_file = smollm2_gguf() if args.base == "smollm2" else (args.base, args.gguf_file)
    model = build_lens_model(base, gguf_file=gguf_file, k=args.k, seed=args.seed, attention=args.attention,
                             pooling=args.pooling, trust_remote_code=args.trust_remote_code)
    print(f"built k={model.k} LENS model from {model.config.base_model}; saved to {model.save_pretrained(args.out)}")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    if not args.texts and sys.stdin.isatty():
        raise LensInputError("no texts: give them as arguments or pipe one per line on stdin.")
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    from ._inference.encoder import LensEncoder

    encoder = LensEncoder(args.model, device=args.device, dtype=args.dtype, backend=args.backend,
                          threads=args.threads, url=args.url)
    if args.query:
        vectors = encoder.encode_queries(texts, task=args.task)
    else:
        vectors = encoder.encode_documents(texts, task=args.task)
    for text, vector in zip(texts, vectors):
        top = [{"cluster": e.cluster, "weight": round(e.weight, 4), "tokens": list(e.tokens)}
               for e in encoder.explain(vector, top=args.top)]
        print(json.dumps({"text": text, "nonzero": int((vector > 0).sum()), "top": top}, ensure_ascii=False))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from lens_vdb.export import export_onnx

    from ._model.default import resolve_model_name

    checks = {} if args.retrieval_articles is None else {"retrieval_articles": args.retrieval_articles}
    out = export_onnx(resolve_model_name(args.model), args.out, dtype=args.dtype, quantize=args.quantize,
                      opset=args.opset, overwrite=args.overwrite, show_progress=True, **checks)
    print((out / "manifest.json").read_text())
    if args.triton:
        from lens_vdb.export import export_triton

        model_dir = export_triton(out, args.triton, name=args.triton_name, overwrite=args.overwrite)
        print(f"Triton model repository: {model_dir.parent} (model {model_dir.name!r}); serve it with\n"
              f"  tritonserver --model-repository {model_dir.parent}            # CPU, Python backend\n"
              f"  tritonserver --model-repository {model_dir.parent} --model-config-name gpu   # GPU, TensorRT\n"
              f"and encode with LensEncoder({str(model_dir)!r}, url='http://HOST:8000/v2/models/{model_dir.name}')")
    return 0


def add_model_commands(commands: Any) -> None:
    """Register ``build``, ``embed`` and ``export`` on the CLI's subparsers."""
    build = commands.add_parser("build", help="build a LENS model from a causal LM (k-means head)")
    build.add_argument("base", help="hub id or local dir of a causal LM, or 'smollm2' for the offline default")
    build.add_argument("--gguf-file", help="GGUF file name inside the base dir")
    build.add_argument("-k", type=positive_int, default=4000, help="lexicon dimensions (clusters)")
    build.add_argument("--seed", type=int, default=0, help="k-means seed")
    build.add_argument("--attention", choices=["bidirectional", "causal"], default="bidirectional",
                       help="attention of the LENS model (causal: for ablations)")
    build.add_argument("--pooling", choices=["max", "sum", "last"], default="max", help="pooling over positions")
    build.add_argument("--trust-remote-code", action="store_true", help="run code shipped with the base model")
    build.add_argument("--out", required=True, help="directory to write the LENS model to")
    build.set_defaults(func=_cmd_build)

    embed = commands.add_parser("embed", help="embed texts (arguments or stdin lines) and explain them")
    embed.add_argument("texts", nargs="*", help="texts to embed (default: one per line on stdin)")
    embed.add_argument("--model", type=model_source, default="default",
                       help="LENS model: a directory, a hub id, 'default' or 'untrained'")
    embed.add_argument("--query", action="store_true", help="embed as queries (with the task instruction)")
    embed.add_argument("--task", type=task_name, default=None, help="task name from the instruction registry")
    embed.add_argument("--top", type=positive_int, default=5, help="lexicon dimensions to show per text")
    embed.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: CUDA when available)")
    embed.add_argument("--dtype", default=None, choices=PRECISIONS,
                       help="torch dtype, with --backend torch (default: fp32; auto picks its own)")
    add_encoder_options(embed)
    embed.set_defaults(func=_cmd_embed)

    export = commands.add_parser("export", help="export a LENS model to a validated ONNX graph")
    export.add_argument("--model", type=model_source, default="default",
                        help="LENS model: a directory, a hub id, 'default' or 'untrained'")
    export.add_argument("--out", required=True, help="directory to write the graph, manifest and tokenizer to")
    export.add_argument("--dtype", choices=EXPORT_DTYPES, default="fp32", help="graph precision (fp16: GPUs)")
    export.add_argument("--quantize", choices=QUANTIZATIONS, default=None,
                        help="int8 for CPUs: blockwise weights (int8), or Optimum's per-tensor dynamic (int8-dynamic)")
    export.add_argument("--opset", type=positive_int, default=17, help="ONNX opset")
    export.add_argument("--retrieval-articles", type=non_negative_int, default=None,
                        help="int8: BBC News articles on which MRR@10 must stay within 1%% of torch "
                             "(default: 200; 0 skips the check)")
    export.add_argument("--overwrite", action="store_true", help="replace an earlier lens-vdb export in --out")
    export.add_argument("--triton", metavar="REPO", default=None,
                        help="also write a Triton model repository serving the graph (CPU and GPU configs) to REPO")
    export.add_argument("--triton-name", default="lens", help="the model's name in the Triton repository")
    export.set_defaults(func=_cmd_export)
