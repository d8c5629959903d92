"""1 vs all-cores threads on this (shared, possibly busy) machine: torch with OpenMP spinning or passive
waiting, ONNX Runtime with spinning on or off; with and without one extra spinning process of our own.

Each configuration runs in its own process (OpenMP reads ``OMP_WAIT_POLICY`` once, at start);
inside it the thread counts take turns, batch by batch, so they see the same load. Figures:
documents/s on batches of 2 BBC articles at 256 tokens (median of the rounds) and the p50
latency of a single short query. The load average is printed with every row: on a shared
machine it is what the numbers depend on.

    python bench/threads.py [--graph DIR] [--rounds 3] [--spinner both|off|on]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _bench import parse_args  # bench/ is the script's folder, so on sys.path

RUN = r"""
import json, os, sys, time
import numpy as np
kind, source, rounds, counts = sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(c) for c in sys.argv[4].split(",")]
import torch
from lens_vdb import LensEncoder
from lens_vdb._datasets import load_bbc_news
texts = [a.text for a in load_bbc_news(limit=2)]
queries = ["interest rates", "football", "mobile phones", "election", "oil prices"]
if kind.startswith("torch"):
    dtype = kind.split()[1]
    shared = LensEncoder(source, device="cpu", dtype=dtype, max_length=256, threads=counts[0])
    encoders = {n: shared for n in counts}
else:
    spin = kind.endswith("spin on")
    import lens_vdb._inference.onnx_runtime as runtime
    runtime.SPINNING = spin
    encoders = {n: LensEncoder(source, backend="onnx", max_length=256, threads=n) for n in counts}
docs, latency = {n: [] for n in counts}, {n: [] for n in counts}
for n, encoder in encoders.items():
    torch.set_num_threads(n); encoder.encode_documents(texts[:1]); encoder.encode_queries(queries[:1])
for r in range(rounds):
    for n in (counts if r % 2 == 0 else counts[::-1]):
        torch.set_num_threads(n)
        encoder = encoders[n]
        start = time.perf_counter(); encoder.encode_documents(texts, batch_size=2)
        docs[n].append(len(texts) / (time.perf_counter() - start))
        for q in queries:
            start = time.perf_counter(); encoder.encode_queries([q]); latency[n].append(time.perf_counter() - start)
print(json.dumps({n: {"docs_per_s": float(np.median(docs[n])), "p50_ms": 1000 * float(np.median(latency[n]))}
                  for n in counts}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="LENS model dir (default: the offline default model)")
    parser.add_argument("--graph", default=None, help="an ONNX export of it (default: auto's int8 graph, if made)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spinner", choices=["both", "off", "on"], default="both")
    args = parse_args(parser, quick={"rounds": 1, "spinner": "off"})
    from lens_vdb._machine import cpu_info, default_threads
    from lens_vdb._model.default import default_model_dir

    source = str(args.model or default_model_dir())
    graph = args.graph or _auto_graph(source)
    counts = sorted({1, default_threads()})
    configs = [("torch fp32", "default"), ("torch fp32", "PASSIVE"), ("torch bf16", "default"),
               ("torch bf16", "PASSIVE")]
    if graph:
        configs += [(f"ORT {_kind(graph)}, spin on", None), (f"ORT {_kind(graph)}, spin off", None)]
    print(f"CPU: {cpu_info().describe()}")
    print(f"model {source}; ORT graph {graph or 'none (export one, or pass --graph)'}; rounds {args.rounds}")
    print("| configuration | extra spinner | load avg (1 min) | " +
          " | ".join(f"{n} thr docs/s | {n} thr query p50 ms" for n in counts) + f" | {counts[-1]} vs 1 docs/s |")
    print("|---|---|---|" + "---|---|" * len(counts) + "---|")
    for spinner in {"both": (False, True), "off": (False,), "on": (True,)}[args.spinner]:
        for kind, policy in configs:
            _row(kind, policy, spinner, source if kind.startswith("torch") else graph, counts, args.rounds)


def _row(kind: str, policy: str | None, spinner: bool, source: str, counts: list[int], rounds: int) -> None:
    env = dict(os.environ)
    if kind.startswith("torch"):
        # "" is OpenMP's default (spin a while, then sleep; libgomp warns that "" is not a value) and keeps
        # lens_vdb from choosing PASSIVE itself
        env["OMP_WAIT_POLICY"] = policy if policy == "PASSIVE" else ""
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if spinner else None
    try:
        time.sleep(1.0 if spinner else 0.0)
        load = os.getloadavg()[0]
        done = subprocess.run([sys.executable, "-c", RUN, kind, source, str(rounds), ",".join(map(str, counts))],
                              capture_output=True, text=True, env=env)
    finally:
        if spin is not None:
            spin.kill()
            spin.wait()
    if done.returncode:
        sys.exit(f"{kind} failed:\n{done.stderr}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    name = f"{kind}, OpenMP {policy.lower()}" if policy else kind
    name = name.replace("OpenMP default", "OpenMP spinning (default)")
    cells = " | ".join(f"{figures[str(n)]['docs_per_s']:.2f} | {figures[str(n)]['p50_ms']:.0f}" for n in counts)
    ratio = figures[str(counts[-1])]["docs_per_s"] / figures[str(counts[0])]["docs_per_s"]
    print(f"| {name} | {'yes' if spinner else 'no'} | {load:.1f} | {cells} | {ratio:.2f} |", flush=True)


def _auto_graph(source: str) -> str | None:
    """The int8 (else fp32) graph ``backend="auto"`` exported for this model, if it did."""
    from lens_vdb._inference.auto_cache import find_graph
    from lens_vdb._model.identity import model_fingerprint
    from lens_vdb._model.lens_model import LensModel

    fingerprint = model_fingerprint(LensModel.from_pretrained(source))
    for kind in ("int8", "fp32"):
        graph = find_graph(fingerprint, kind)
        if graph is not None:
            return str(graph)
    return None


def _kind(graph: str) -> str:
    manifest = json.loads(open(os.path.join(graph, "manifest.json")).read())
    return manifest.get("quantize") or manifest["dtype"]


if __name__ == "__main__":
    main()
