"""Torch eager vs ONNX Runtime fp32 vs ONNX Runtime int8 (both methods), side by side in one run, on the default model.

Batch 32, max_length 256, BBC News: throughput (docs/s and the ratio to torch), peak RSS of
each backend's process, max abs difference to torch, and known-item MRR@10 (headline ->
article), with the relative MRR change against torch (the int8 goal: within 1% of fp32).
Each backend runs in its own subprocess so peak RSS is its own. The default model is
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=96)
    parser.add_argument("--model", default=None, help="LENS model dir (default: the offline default model)")
    args = parser.parse_args()
    from lens_vdb._default import default_model_dir

    source = args.model or default_model_dir()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        graphs, refused = _export_all(source, work)
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
    _print_table(results, args.docs, Path(source).name)
    for name, reason in refused.items():
        print(f"| {name} | refused by the export's validation: {reason} | | | | | | |")


def _export_all(source, work: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """The graphs that passed validation, and the reason for each one that did not."""
    from lens_vdb import LensModelError
    from lens_vdb.export import export_onnx

    graphs, refused = {}, {}
    for name, options in {"ORT fp32": {}, "ORT int8 (blockwise)": {"quantize": "int8"},
                          "ORT int8-dynamic (Optimum)": {"quantize": "int8-dynamic"}}.items():
        try:
            graphs[name] = export_onnx(source, work / name.split()[1], **options)
        except LensModelError as exc:
            refused[name] = str(exc).split(";")[0]
    return graphs, refused


def _print_table(results: dict, docs: int, model: str) -> None:
    from lens_vdb.eval import retrieval_metrics

    base = results["torch eager"]
    mrr = {name: retrieval_metrics(r["queries"] @ r["docs"].T)["mrr@10"] for name, r in results.items()}
    print(f"{docs} BBC articles, batch 32, max_length 256, model {model}")
    print("| backend | docs/s | ratio to torch | peak RSS (MiB) | max abs diff | min cosine | MRR@10 | MRR vs torch |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        diff = float(np.abs(r["docs"] - base["docs"]).max())
        cosine = float(min((r["docs"] * base["docs"]).sum(1).min(), (r["queries"] * base["queries"]).sum(1).min()))
        print(f"| {name} | {r['docs_per_s']:.2f} | {r['docs_per_s'] / base['docs_per_s']:.2f} | "
              f"{r['peak_rss_mib']:.0f} | {diff:.1e} | {cosine:.4f} | {mrr[name]:.3f} | "
              f"{(mrr[name] - mrr['torch eager']) / mrr['torch eager']:+.1%} |")


if __name__ == "__main__":
    main()
