"""Ingest with chunking on vs off, the same BBC News articles, side by side in one run.

Off: one point per article, cut at the LENS window (512 tokens; MiniLM sees its first 256 word
pieces; the tail of every longer article is lost). On: the default chunking (chunks of the
smaller window, 254 tokens for LENS + MiniLM, overlapping by 1/8), so every token of every article
is encoded by both routes. The goal: chunking costs no more than the extra tokens it encodes.
So each mode is measured twice: encoding alone (LENS + MiniLM over exactly the texts the mode
encodes, batch by batch as the pipeline does) and the whole ingestion into a fresh embedded
Qdrant (qdrant-edge). Chunking meets the goal when its ingest/encode ratio is no higher than
the unchunked one's: splitting, more points and the update-safe writes cost ~nothing beyond
the encoding. Costs are CPU seconds of this process (every thread: torch, the write pool,
qdrant-edge's), which other jobs on a shared machine disturb far less than wall time; wall
seconds are shown beside them. Each mode runs ``--rounds`` times in alternation; the round
with the least ingest CPU time is shown.

    python bench/chunking.py [--docs 60] [--rounds 2] [--model DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _bench import parse_args  # bench/ is the script's folder, so on sys.path

from lens_vdb import LensEncoder
from lens_vdb._datasets import load_bbc_news
from lens_vdb._inference.features import tokenize_documents
from lens_vdb.connectors import Document, QdrantConnector
from lens_vdb.connectors._dense import MiniLMEmbedder


def cpu() -> str:
    """The CPU model, its cores and the instruction sets that matter to GEMMs."""
    from lens_vdb._machine import cpu_info

    return cpu_info().describe()


def run(encoder: LensEncoder, dense: MiniLMEmbedder, rows: list[dict], chunking: bool, work: Path,
        batch: int) -> dict:
    with QdrantConnector(work, "bench", encoder=encoder, dense=dense) as store:
        build = store._builder(chunking, None, None)  # the chunks this mode encodes, batch by batch
        batches = [[c.text for row in rows[i:i + batch] for c in build.chunks(Document(row["id"], row["text"]))]
                   for i in range(0, len(rows), batch)]
        encoder._warned_truncation = True  # the cut-with-warning of the off mode is expected here
        start, cpu_start = time.perf_counter(), time.process_time()
        for texts in batches:
            encoder.encode_documents(texts, batch_size=batch)
            dense.embed_documents(texts)
        encode, encode_cpu = time.perf_counter() - start, time.process_time() - cpu_start
        start, cpu_start = time.perf_counter(), time.process_time()
        report = store.ingest(rows, batch_size=batch, chunking=chunking, show_progress=False)
        ingest, ingest_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    texts = [t for texts in batches for t in texts]
    lens = sum(len(ids) for ids in tokenize_documents(encoder.tokenizer, texts, encoder.max_length).ids)
    minilm = sum(min(dense.count_tokens(t), dense.max_tokens) for t in texts)
    return {"points": report.chunks, "lens": lens, "minilm": minilm, "encode": encode, "ingest": ingest,
            "encode_cpu": encode_cpu, "ingest_cpu": ingest_cpu, "docs": report.ingested}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=60, help="BBC News articles")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode, alternating; the best is shown")
    parser.add_argument("--model", default=None, help="LENS model dir (default: the offline default model)")
    parser.add_argument("--batch", type=int, default=16, help="documents per ingest batch")
    args = parse_args(parser, quick={"docs": 12, "rounds": 1})
    encoder = LensEncoder(args.model)
    dense = MiniLMEmbedder(device="cpu")
    rows = [{"id": a.id, "text": a.text, "topic": a.topic} for a in load_bbc_news(limit=args.docs)]
    lengths = [len(ids) for ids in tokenize_documents(encoder.tokenizer, [r["text"] for r in rows], 10**6).ids]
    cut = sum(n > encoder.max_length for n in lengths)
    run(encoder, dense, rows[:4], True, Path(tempfile.mkdtemp()) / "warm", args.batch)  # first-call costs
    best: dict[bool, dict] = {}
    for _ in range(args.rounds):
        for chunking in (False, True):
            with tempfile.TemporaryDirectory() as work:
                result = run(encoder, dense, rows, chunking, Path(work), args.batch)
            if chunking not in best or result["ingest_cpu"] < best[chunking]["ingest_cpu"]:
                best[chunking] = result
    off, on = best[False], best[True]
    print(f"CPU: {cpu()}")
    print(f"{len(rows)} BBC News articles, {sum(lengths)} LENS tokens in all, {cut} longer than the window "
          f"(max_length {encoder.max_length}); LENS {Path(str(encoder.config.base_model)).name} k={encoder.k} + "
          f"all-MiniLM-L6-v2, embedded Qdrant (qdrant-edge), batch {args.batch}, best of {args.rounds}")
    print("| chunking | points | LENS tokens | MiniLM tokens | encode CPU s | ingest CPU s | ingest / encode (CPU) "
          "| ingest wall s | ingest docs/s (wall) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in (("off (cut at the window)", off), ("on (default chunks)", on)):
        print(f"| {name} | {r['points']} | {r['lens']} | {r['minilm']} | {r['encode_cpu']:.1f} | {r['ingest_cpu']:.1f} "
              f"| {r['ingest_cpu'] / r['encode_cpu']:.2f} | {r['ingest']:.1f} | {r['docs'] / r['ingest']:.2f} |")
    print(f"\non/off: LENS tokens {on['lens'] / off['lens']:.2f}, MiniLM tokens {on['minilm'] / off['minilm']:.2f}, "
          f"encode CPU {on['encode_cpu'] / off['encode_cpu']:.2f}, ingest CPU {on['ingest_cpu'] / off['ingest_cpu']:.2f}; "
          f"chunking's ingest costs {(on['ingest_cpu'] / on['encode_cpu']) / (off['ingest_cpu'] / off['encode_cpu']):.2f}x "
          "what its extra encoding explains (goal <= 1.00)")

if __name__ == "__main__":
    main()
