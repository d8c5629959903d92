"""Ingestion on Ray Data (2 encoder actors) vs the single-process ``ingest``, side by side in one run.

The same model, dense embedder, documents and engine (embedded Qdrant, written by the driver) at
equal cores: the single process encodes with all the machine's CPU threads, the Ray run with
``--encoders`` actors of ``cpus // encoders`` threads each, on a local runtime of ``--cpus`` CPUs
that the run starts and stops. Each mode runs in a child process of its own (so that its peak
memory is its own), ``--rounds`` times in alternation; the best round of each is shown.

- docs/s: documents over the whole call (Ray: starting the runtime and the actors included);
- steady docs/s: after the first batch was written (Ray: the documents written after it, over the
  time after it; single process: the same, from its report's rate and a first-batch probe);
- startup s: from the call to the first batch written;
- peak MB: the driver's peak resident memory (``ru_maxrss``); Ray's workers are not in it.

Goal: Ray's docs/s at least 0.8 of the single process's (overhead under 20% at equal cores).

    python bench/ray_ingest.py [--docs 1000] [--tokens 128] [--encoders 2] [--rounds 1] [--one-thread] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from _bench import parse_args  # bench/ is the script's folder, so on sys.path


def cpu() -> str:
    """The CPU model, its cores and the instruction sets that matter to GEMMs."""
    from lens_vdb._machine import cpu_info

    return cpu_info().describe()


def documents(count: int, tokens: int, tokenizer) -> list[dict]:
    """``count`` BBC News articles, each cut to its first ``tokens`` LENS tokens (at a token's end)."""
    from lens_vdb._datasets import load_bbc_news

    rows = []
    for article in load_bbc_news()[:count]:
        encoded = tokenizer(article.text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = encoded["offset_mapping"][:tokens]
        rows.append({"id": article.id, "text": article.text[:offsets[-1][1]], "topic": article.topic})
    return rows


class FirstBatch:
    """Wraps the dense embedder to note when the first batch was embedded (the single process's startup)."""

    def __init__(self, dense) -> None:
        self.dense, self.first = dense, None
        self.dim, self.name = dense.dim, dense.name
        self.max_tokens, self.count_tokens = dense.max_tokens, dense.count_tokens

    def embed_documents(self, texts):
        out = self.dense.embed_documents(texts)
        self.first = self.first or time.perf_counter()
        return out

    def embed_query(self, text):
        return self.dense.embed_query(text)


def child(mode: str, args: argparse.Namespace) -> dict:
    """One ingestion in this process; prints its figures as JSON."""
    from lens_vdb import LensEncoder
    from lens_vdb.connectors import QdrantConnector, RayOptions
    from lens_vdb.connectors._dense import MiniLMEmbedder

    threads = {"single": args.cpus, "single-1": 1, "ray": None}[mode]  # Ray: each actor sets its own
    encoder = LensEncoder(args.model, max_length=args.tokens + 2, threads=threads)
    dense = MiniLMEmbedder("cpu")
    rows = documents(args.docs, args.tokens, encoder.tokenizer)
    ray = RayOptions(encoders=args.encoders, cpus_per_encoder=args.cpus // args.encoders, num_cpus=args.cpus)
    with tempfile.TemporaryDirectory() as work:
        probe = FirstBatch(dense)
        with QdrantConnector(work, "bench", encoder=encoder, dense=dense if mode == "ray" else probe) as store:
            start = time.perf_counter()
            report = store.ingest(rows, batch_size=args.batch_size, show_progress=False,
                                  ray=ray if mode == "ray" else None)
            seconds = time.perf_counter() - start
    assert report.ingested == len(rows) and report.failed == 0, str(report)
    startup = report.startup_seconds if mode == "ray" else (probe.first or start) - start
    steady = (len(rows) - args.batch_size) / max(seconds - startup, 1e-9)
    return {"mode": mode, "docs": len(rows), "seconds": seconds, "docs_per_s": len(rows) / seconds,
            "steady_docs_per_s": steady, "startup_s": startup,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "encoders": getattr(report, "encoders", {})}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=1000, help="BBC News articles")
    parser.add_argument("--tokens", type=int, default=128, help="LENS tokens per article (cut there)")
    parser.add_argument("--encoders", type=int, default=2, help="Ray encoder actors")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs for both modes")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode, alternating; the best is shown")
    parser.add_argument("--model", default=None, help="LENS model dir (default: the offline default model)")
    parser.add_argument("--one-thread", action="store_true",
                        help="also the single process on one thread (what one actor's share of the cores does alone)")
    parser.add_argument("--child", choices=["single", "single-1", "ray"], help=argparse.SUPPRESS)
    args = parse_args(parser, quick={"docs": 64, "tokens": 64, "rounds": 1})
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args)), flush=True)
        return
    best: dict[str, dict] = {}
    for _ in range(args.rounds):
        for mode in ("single", "ray") + (("single-1",) if args.one_thread else ()):
            command = [sys.executable, __file__, "--child", mode, *sys.argv[1:]]
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
            result = json.loads(line[len("RESULT "):])
            if mode not in best or result["docs_per_s"] > best[mode]["docs_per_s"]:
                best[mode] = result
    single, ray = best["single"], best["ray"]
    print(f"CPU: {cpu()}; {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{args.docs} BBC articles at {args.tokens} tokens, model {args.model or 'default'}, "
          f"{args.cpus} CPUs, batch {args.batch_size}, best of {args.rounds} round(s)")
    print(f"{'mode':<28}{'docs/s':>9}{'steady docs/s':>15}{'startup s':>11}{'total s':>9}{'peak MB':>9}")
    rows = [(f"single process ({args.cpus} threads)", single),
            (f"Ray, {args.encoders} actors x {args.cpus // args.encoders} CPU", ray)]
    if "single-1" in best:
        rows.append(("single process (1 thread)", best["single-1"]))
    for name, r in rows:
        print(f"{name:<28}{r['docs_per_s']:>9.2f}{r['steady_docs_per_s']:>15.2f}{r['startup_s']:>11.1f}"
              f"{r['seconds']:>9.1f}{r['peak_mb']:>9.0f}")
    print(f"ratio Ray / single: docs/s {ray['docs_per_s'] / single['docs_per_s']:.2f}, steady "
          f"{ray['steady_docs_per_s'] / single['steady_docs_per_s']:.2f} (goal >= 0.8); "
          f"per encoder actor {ray['steady_docs_per_s'] / args.encoders:.2f} docs/s")


if __name__ == "__main__":
    main()
