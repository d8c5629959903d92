"""Torch eager vs ONNX Runtime fp32 vs ONNX Runtime int8 (both methods), side by side in one run, on the default model.

Batch 32, max_length 256, BBC News: throughput (docs/s and the ratio to torch), peak RSS of
each backend's process, max abs difference to torch, and known-item MRR@10 (headline ->
article), with the relative MRR change against torch (the int8 goal: within 1% of fp32).
Each backend runs in its own subprocess so peak RSS is its own. The default model is
the offline SmolLM2-135M LENS model (k=4000).

The roofline columns say how far any fp32 backend can go: the model's fp32 FLOPs for the
batches actually run (sorted by length, padded per batch), divided by each backend's time,
against the fp32 GEMM ceiling of this CPU measured in the same run (one MatMul of the
model's MLP shape, in torch and in ONNX Runtime). A backend near the ceiling cannot get much
faster without doing less arithmetic or cheaper arithmetic (int8).

    python bench/onnx_backends.py [--docs 96]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _bench import parse_args  # bench/ is the script's folder, so on sys.path

RUN = r"""
import json, sys, time
import numpy as np
from lens_vdb import LensEncoder
from lens_vdb._datasets import load_bbc_news
backend, source, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
articles = load_bbc_news(limit=n)
encoder = LensEncoder(source, backend=backend, device="cpu", batch_size=32, max_length=256)  # CPU vs CPU
encoder.encode_documents([a.text for a in articles[:4]])  # warm-up
start = time.perf_counter()
docs = encoder.encode_documents([a.text for a in articles])
seconds = time.perf_counter() - start
queries = encoder.encode_queries([a.title for a in articles])
np.save(out + "_docs.npy", docs); np.save(out + "_queries.npy", queries)
# VmHWM is this process's own peak: ru_maxrss would carry the parent's peak across fork and exec
peak_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"docs_per_s": len(articles) / seconds, "peak_rss_mib": peak_kib / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=96)
    parser.add_argument("--model", default=None, help="LENS model dir (default: the offline default model)")
    parser.add_argument("--graphs", default="fp32,int8,int8-dynamic", help="the graphs to export and run")
    args = parse_args(parser, quick={"docs": 16, "graphs": "fp32"})
    from lens_vdb import LensModel
    from lens_vdb._model.default import default_model_dir

    source = args.model or default_model_dir()
    model = LensModel.from_pretrained(source)  # loaded once, for its shapes and tokenizer
    gflop = _model_gflop(model, args.docs)
    ceilings = _gemm_ceilings(model.backbone.config)
    del model  # the backends run in their own processes
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        graphs, refused = _export_all(source, work, [kind.strip() for kind in args.graphs.split(",")])
        runs = {"torch eager": ("torch", str(source))} | {name: ("onnx", str(path)) for name, path in graphs.items()}
        results = {}
        for name, (backend, path) in runs.items():
            prefix = str(work / name.replace(" ", "_"))
            done = subprocess.run([sys.executable, "-c", RUN, backend, path, str(args.docs), prefix],
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{name} failed:\n{done.stderr}")
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            figures["docs"] = np.load(prefix + "_docs.npy")
            figures["queries"] = np.load(prefix + "_queries.npy")
            results[name] = figures
    _print_table(results, args.docs, Path(source).name, gflop)
    for name, reason in refused.items():
        print(f"| {name} | refused by the export's validation: {reason} | | | | | | | |")
    print(f"\nfp32 GEMM ceiling of this CPU (one [8192x{ceilings['hidden']}] @ [{ceilings['hidden']}x"
          f"{ceilings['intermediate']}] MatMul): torch {ceilings['torch']:.0f} GFLOP/s, "
          f"ONNX Runtime {ceilings['onnxruntime']:.0f} GFLOP/s; the model is {gflop / args.docs:.1f} GFLOP per document.")
    fp32 = results["torch eager"]["docs_per_s"] * gflop / args.docs
    print(f"ORT fp32 at 2x torch would need {2 * fp32:.0f} GFLOP/s, "
          f"{2 * fp32 / ceilings['onnxruntime']:.2f}x what ONNX Runtime's own GEMM reaches here.")


def _model_gflop(model, docs: int) -> float:
    """fp32 FLOPs (multiply-adds x 2) of encoding the bench articles as the encoder batches them."""
    from lens_vdb._datasets import load_bbc_news
    from lens_vdb._inference.features import tokenize_documents

    config = model.backbone.config
    layers, hidden, heads = config.num_hidden_layers, config.hidden_size, config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    kv = config.num_key_value_heads * head_dim
    weights = layers * (2 * hidden * heads * head_dim + 2 * hidden * kv + 3 * hidden * config.intermediate_size)
    lengths = sorted((len(ids) for ids in tokenize_documents(
        model.tokenizer, [a.text for a in load_bbc_news(limit=docs)], 256).ids), reverse=True)
    total = 0.0
    for start in range(0, len(lengths), 32):  # batches of 32, sorted by length, padded to their longest
        n, size = lengths[start], len(lengths[start:start + 32])
        per_text = 2 * n * weights + layers * 4 * n * n * heads * head_dim + 2 * n * hidden * model.k
        total += size * per_text
    return total / 1e9


def _gemm_ceilings(config) -> dict[str, float]:
    """GFLOP/s of one fp32 MatMul of the model's MLP shape (``config``: its backbone's), in torch and
    in ONNX Runtime, on this CPU."""
    import time

    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper

    rows, hidden, out = 8192, config.hidden_size, config.intermediate_size
    a, b = torch.randn(rows, hidden), torch.randn(hidden, out)
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [rows, hidden])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [rows, out])],
                              [numpy_helper.from_array(b.numpy(), "b")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    runs = {"torch": lambda: a @ b, "onnxruntime": lambda: session.run(None, {"a": a.numpy()})}
    ceilings = {"hidden": hidden, "intermediate": out}
    for name, run in runs.items():
        for _ in range(3):
            run()
        start = time.perf_counter()
        for _ in range(20):
            run()
        ceilings[name] = 2 * rows * hidden * out * 20 / (time.perf_counter() - start) / 1e9
    return ceilings


def _export_all(source, work: Path, kinds: list[str]) -> tuple[dict[str, Path], dict[str, str]]:
    """The graphs that passed validation, and the reason for each one that did not."""
    from lens_vdb import LensModelError
    from lens_vdb.export import export_onnx

    graphs, refused = {}, {}
    for name, options in {"ORT fp32": {}, "ORT int8 (blockwise)": {"quantize": "int8"},
                          "ORT int8-dynamic (Optimum)": {"quantize": "int8-dynamic"}}.items():
        if options.get("quantize", "fp32") not in kinds:
            continue
        try:
            # the MRR column below measures what export's own int8 retrieval check would (on these docs)
            graphs[name] = export_onnx(source, work / name.split()[1], retrieval_articles=0, **options)
        except LensModelError as exc:
            refused[name] = str(exc).split(";")[0]
    return graphs, refused


def _print_table(results: dict, docs: int, model: str, gflop: float) -> None:
    from lens_vdb.eval import retrieval_metrics

    base = results["torch eager"]
    mrr = {name: retrieval_metrics(r["queries"] @ r["docs"].T)["mrr@10"] for name, r in results.items()}
    from lens_vdb._machine import cpu_info

    print(f"CPU: {cpu_info().describe()}")
    print(f"{docs} BBC articles, batch 32, max_length 256, model {model}")
    print("| backend | docs/s | ratio to torch | fp32 GFLOP/s | peak RSS (MiB) | max abs diff | min cosine | "
          "MRR@10 | MRR vs torch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        diff = float(max(np.abs(r["docs"] - base["docs"]).max(), np.abs(r["queries"] - base["queries"]).max()))
        cosine = float(min((r["docs"] * base["docs"]).sum(1).min(), (r["queries"] * base["queries"]).sum(1).min()))
        print(f"| {name} | {r['docs_per_s']:.2f} | {r['docs_per_s'] / base['docs_per_s']:.2f} | "
              f"{r['docs_per_s'] * gflop / docs:.0f} | "
              f"{r['peak_rss_mib']:.0f} | {diff:.1e} | {cosine:.4f} | {mrr[name]:.3f} | "
              f"{(mrr[name] - mrr['torch eager']) / mrr['torch eager']:+.1%} |")


if __name__ == "__main__":
    main()
