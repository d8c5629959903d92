"""Local ONNX Runtime vs the same graph served by Triton (remote encoder on httpx), side by side in one run.

At 1, 4 and 16 concurrent asyncio clients, each sending small requests (``--per-request`` documents,
as application processes do): documents/s, and the p50/p95 latency of single queries sent by as many
clients at once; the ratio is remote / local at the same number of clients. The local encoder serves
its clients from one ONNX Runtime session in worker threads (``aencode_*`` of a local encoder); the
remote one sends them to Triton 2.51 (``nvidia-pytriton``'s server, Python backend running the same
graph with onnxruntime, dynamic batching on), on the same cores: the client's tokenization and the
server share them, as on a machine that serves itself. The two alternate, client count by client
count, so they see the same load; the load average is printed with each row.

The graph: ``--graph DIR`` (an export), or the default model's fp32 export, made once into
``.cache/bench-serve`` (a minute or two). Needs the Triton venv (``make setup-triton``).

    python bench/serve.py [--graph DIR] [--docs 64] [--clients 1,4,16] [--per-request 2] [--delay-us 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.integration.triton starts and stops the server


def _graph(given: str | None) -> Path:
    if given:
        return Path(given)
    from lens_vdb import default_model_dir
    from lens_vdb.export import export_onnx

    target = ROOT / ".cache" / "bench-serve" / "fp32"
    if not (target / "manifest.json").is_file():
        print(f"exporting the default model's fp32 graph to {target} (once)", flush=True)
        export_onnx(default_model_dir(), target, overwrite=True)
    return target


async def _throughput(encoder, texts: list[str], clients: int, per_request: int) -> float:
    streams = [texts[i::clients] for i in range(clients)]

    async def client(stream: list[str]) -> None:
        for start in range(0, len(stream), per_request):
            await encoder.aencode_documents(stream[start : start + per_request])

    start = time.perf_counter()
    await asyncio.gather(*(client(s) for s in streams))
    return len(texts) / (time.perf_counter() - start)


async def _latencies(encoder, queries: list[str], clients: int) -> list[float]:
    out: list[float] = []

    async def client(stream: list[str]) -> None:
        for query in stream:
            start = time.perf_counter()
            await encoder.aencode_queries([query])
            out.append(time.perf_counter() - start)

    await asyncio.gather(*(client(queries[i::clients]) for i in range(clients)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--graph", default=None, help="an ONNX export (default: the default model's fp32 graph)")
    parser.add_argument("--docs", type=int, default=64, help="BBC News articles encoded per measurement")
    parser.add_argument("--clients", default="1,4,16", help="concurrent async clients, comma-separated")
    parser.add_argument("--per-request", type=int, default=2, help="documents per client request")
    parser.add_argument("--delay-us", type=int, default=2000, help="Triton's dynamic-batching queue delay")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", ".*longer than max_length")  # BBC articles are cut at 256 tokens, as meant

    from lens_vdb import LensEncoder, RemoteOptions
    from lens_vdb._datasets import load_bbc_news
    from lens_vdb._machine import cpu_info, default_threads
    from lens_vdb.export import TritonOptions, export_triton
    from tests.integration.triton import TritonServer, triton_problem

    if triton_problem():
        sys.exit(f"cannot start Triton: {triton_problem()}")
    graph = _graph(args.graph)
    articles = load_bbc_news(limit=args.docs)
    texts, queries = [a.text for a in articles], [a.title for a in articles][:32]
    clients = [int(c) for c in args.clients.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    export_triton(graph, work / "repo", options=TritonOptions(preferred_batch_sizes=(8, 16, 32),
                                                                max_queue_delay_us=args.delay_us))
    server = TritonServer(work / "repo", work / "triton.log").start()
    try:
        local = LensEncoder(graph, backend="onnx", max_length=256)
        # 16 clients' requests queue for minutes on a busy 2-core server: the timeout is the bench's, not a default
        remote = LensEncoder(graph, url=server.url(), max_length=256,
                             remote=RemoteOptions(max_connections=32, timeout=600))
        for encoder in (local, remote):  # warm-up: sessions, connections, the readiness check
            asyncio.run(_throughput(encoder, texts[:8], 2, args.per_request))
        diff = np.abs(local.encode_documents(texts[:8]) - remote.encode_documents(texts[:8])).max()
        print(f"CPU: {cpu_info().describe()}; local ONNX Runtime threads: {default_threads()}; Triton: Python "
              f"backend, 1 instance, all cores, preferred batches 8/16/32, queue delay {args.delay_us} us")
        print(f"graph: {graph} (k={local.k}); {len(texts)} BBC articles at max_length 256, {args.per_request} per "
              f"request; max |remote - local| = {diff:.1e}\n")
        header = f"{'clients':>7} | {'backend':<7} | {'docs/s':>7} | {'ratio':>5} | {'query p50 ms':>12} | " \
                 f"{'p95 ms':>7} | load"
        print(header)
        print("-" * len(header))
        for count in clients:
            rows = {}
            for name, encoder in (("local", local), ("remote", remote)) if count % 2 else \
                    (("remote", remote), ("local", local)):
                docs_per_s = asyncio.run(_throughput(encoder, texts, count, args.per_request))
                latency = 1000 * np.array(asyncio.run(_latencies(encoder, queries, count)))
                rows[name] = (docs_per_s, np.percentile(latency, 50), np.percentile(latency, 95), os.getloadavg()[0])
            for name in ("local", "remote"):
                docs_per_s, p50, p95, load = rows[name]
                ratio = docs_per_s / rows["local"][0]
                print(f"{count:>7} | {name:<7} | {docs_per_s:7.1f} | {ratio:5.2f} | {p50:12.1f} | {p95:7.1f} | "
                      f"{load:.1f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
