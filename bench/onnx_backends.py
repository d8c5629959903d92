"""Torch eager vs ONNX Runtime fp32 vs ONNX Runtime int8, side by side in one run, on the default model.

Batch 32, max_length 256, BBC News: throughput (docs/s and the ratio to torch), peak RSS of
each backend's process, max abs difference to torch, and known-item MRR@10 (headline ->
article). Each backend runs in its own subprocess so peak RSS is its own. The default model is
the offline SmolLM2-135M LENS model (k=4000).

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

RUN = r"""
import json, sys, time
import numpy as np
from lens_vdb import LensEncoder
from lens_vdb._datasets import load_bbc_news
backend, source, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
articles = load_bbc_news(limit=n)
encoder = LensEncoder(source, backend=backend, batch_size=32, max_length=256)
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


def mrr_at_10(queries: np.ndarray, docs: np.ndarray) -> float:
    ranks = np.argsort(-(queries @ docs.T), axis=1)[:, :10]
    return float(np.mean([1.0 / (list(row).index(i) + 1) if i in row else 0.0 for i, row in enumerate(ranks)]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=96)
    parser.add_argument("--model", default=None, help="LENS model dir (default: the offline default model)")
    args = parser.parse_args()
    from lens_vdb._default import default_model_dir
    from lens_vdb.export import export_onnx

    source = args.model or default_model_dir()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        graphs = {"ORT fp32": export_onnx(source, work / "fp32"), "ORT int8": export_onnx(source, work / "int8", quantize="int8")}
        runs = {"torch eager": ("torch", str(source))} | {name: ("onnx", str(path)) for name, path in graphs.items()}
        results = {}
        for name, (backend, path) in runs.items():
            prefix = str(work / name.replace(" ", "_"))
            done = subprocess.run([sys.executable, "-c", RUN, backend, path, str(args.docs), prefix],
                                  capture_output=True, text=True, check=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            figures["docs"] = np.load(prefix + "_docs.npy")
            figures["queries"] = np.load(prefix + "_queries.npy")
            results[name] = figures
    base = results["torch eager"]
    print(f"{args.docs} BBC articles, batch 32, max_length 256, model {Path(source).name}")
    print("| backend | docs/s | ratio to torch | peak RSS (MiB) | max abs diff | MRR@10 |\n|---|---|---|---|---|---|")
    for name, r in results.items():
        diff = float(np.abs(r["docs"] - base["docs"]).max())
        print(f"| {name} | {r['docs_per_s']:.2f} | {r['docs_per_s'] / base['docs_per_s']:.2f} | "
              f"{r['peak_rss_mib']:.0f} | {diff:.1e} | {mrr_at_10(r['queries'], r['docs']):.3f} |")


if __name__ == "__main__":
    main()
