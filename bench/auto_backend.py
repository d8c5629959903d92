"""``backend="auto"`` against every candidate it chooses from, side by side in one run, on the default model.

Candidates: torch fp32, torch bf16, ONNX Runtime fp32, ONNX Runtime int8 (the graphs ``auto``
keeps in the cache, exported first if missing), and ``auto`` itself (an encoder built with
``backend="auto"``). Figures: documents/s and the ratio to torch fp32 on batches of 32 BBC
articles at 256 tokens (every candidate encodes the same batch in turn, the order rotating),
the p50 latency of single short queries (BBC headlines), the lowest cosine to torch fp32, and
the cost of ``auto``'s calibration: on a first run (no graph exported: the GEMM proxy predicts
the graphs), with the graphs exported, and read back from its cache. The proxy's predicted
speed-ups are set against the measured ones.

    python bench/auto_backend.py [--docs 64] [--queries 30] [--model DIR] [--calibration-only]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench import parse_args  # bench/ is the script's folder, so on sys.path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=64, help="BBC articles (batches of 32)")
    parser.add_argument("--queries", type=int, default=30, help="single short queries for the latency")
    parser.add_argument("--model", default=None, help="LENS model dir (default: the offline default model)")
    parser.add_argument("--calibration-only", action="store_true", help="auto's own cost only, no race")
    parser.add_argument("--no-export", action="store_true",
                        help="export no graph (the int8 export and its check take minutes): the graphs exported "
                             "already are measured; implies --calibration-only")
    args = parse_args(parser, quick={"docs": 32, "queries": 5, "no_export": True})
    from lens_vdb._machine import cpu_info, default_threads
    from lens_vdb._model.default import default_model_dir

    source = Path(args.model or default_model_dir())
    threads = default_threads()
    print(f"CPU: {cpu_info().describe()}; {threads} threads; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print(f"load average at start: {_load()}")
    first, first_s = _calibrate(source, threads, hide_graphs=True)
    if args.no_export:  # the cached encoder below would measure again, and might export: stop at the calibration
        second, second_s = _calibrate(source, threads, hide_graphs=False, export=False)
        _print_calibration(first, first_s, second, second_s, None, 0.0, {})
        return
    graphs, export_s = _graphs(source)
    second, second_s = _calibrate(source, threads, hide_graphs=False)
    from lens_vdb import LensEncoder

    cached_start = time.perf_counter()
    auto = LensEncoder(source, backend="auto", max_length=256)  # cached by the calibration above
    cached_s = time.perf_counter() - cached_start
    if args.calibration_only:
        _print_calibration(first, first_s, second, second_s, auto.chosen_backend, cached_s, export_s)
        return
    encoders = _encoders(source, graphs) | {"auto": auto}
    docs, latency, cosine = _race(encoders, args.docs, args.queries)
    print(f"\n{args.docs} BBC articles in batches of 32 at 256 tokens, {args.queries} single queries; model "
          f"{source.name}; load average at the end: {_load()}")
    print(f"auto chose {encoders['auto'].chosen_backend.name}")
    print("| backend | docs/s | ratio to torch fp32 | query p50 ms | query p50 ratio | min cosine to torch fp32 |")
    print("|---|---|---|---|---|---|")
    base, fastest = docs["torch fp32"], max(v for k, v in docs.items() if k != "auto")
    for name in encoders:
        label = f"auto ({encoders['auto'].chosen_backend.name})" if name == "auto" else name
        print(f"| {label} | {docs[name]:.2f} | {docs[name] / base:.2f} | {latency[name]:.0f} | "
              f"{latency[name] / latency['torch fp32']:.2f} | {cosine[name]:.4f} |")
    print(f"\nauto / fastest candidate: {docs['auto'] / fastest:.3f} (goal >= 0.95)")
    _print_calibration(first, first_s, second, second_s, encoders["auto"].chosen_backend, cached_s, export_s)
    _print_proxy(first, second, docs)


def _print_calibration(first, first_s: float, second, second_s: float, cached, cached_s: float,
                       export_s: dict) -> None:
    print(f"\nload average: {_load()}")
    print("| auto's calibration | seconds in all | of which measuring (model loaded) | chose | "
          "measured docs/s on the calibration batch |")
    print("|---|---|---|---|---|")
    rows = [("first run, nothing exported (GEMM proxy for the graphs)", first, first_s),
            ("graphs exported (all four measured)" if cached is not None else "the graphs exported already measured",
             second, second_s)]
    for label, choice, seconds in rows + ([("read from its cache", cached, cached_s)] if cached is not None else []):
        figures = ", ".join(f"{k} {v:.2f}" for k, v in choice.docs_per_s.items()) if not choice.cached else "-"
        measuring = f"{choice.calibration_seconds:.1f}" if not choice.cached else "-"
        print(f"| {label} | {seconds:.1f} | {measuring} | {choice.name} | {figures} |")
    print(f"\nexports made for this run (s): {export_s}")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _calibrate(source: Path, threads: int, *, hide_graphs: bool, export: bool = True):
    """``auto``'s measurement without its cache; ``hide_graphs``: as on a first run (an empty cache home)."""
    from lens_vdb._inference.auto import load_auto

    home = os.environ.get("LENS_VDB_HOME")
    with tempfile.TemporaryDirectory() as empty:
        if hide_graphs:
            os.environ["LENS_VDB_HOME"] = empty
        try:
            start = time.perf_counter()
            _, choice = load_auto(source, device="cpu", threads=threads, max_length=256, use_cache=False,
                                  export=export and not hide_graphs)  # with the graphs there, nothing is exported
            return choice, time.perf_counter() - start
        finally:
            os.environ.pop("LENS_VDB_HOME", None)
            if home is not None:
                os.environ["LENS_VDB_HOME"] = home


def _graphs(source: Path) -> tuple[dict[str, Path], dict[str, float]]:
    """The fp32 and int8 graphs where ``auto`` keeps them, exported (with every check) when missing."""
    from lens_vdb import LensModel
    from lens_vdb._inference.auto_cache import find_graph, graph_dir
    from lens_vdb._model.identity import model_fingerprint
    from lens_vdb.export._auto import EXPORTER

    model = LensModel.from_pretrained(source)
    fingerprint = model_fingerprint(model)
    graphs, seconds = {}, {}
    for kind in ("fp32", "int8"):
        graphs[kind] = find_graph(fingerprint, kind)
        if graphs[kind] is None:
            start = time.perf_counter()
            graphs[kind] = EXPORTER.export(model, graph_dir(fingerprint, kind), kind)
            seconds[kind] = round(time.perf_counter() - start, 1)
    return graphs, seconds


def _encoders(source: Path, graphs: dict[str, Path]) -> dict:
    from lens_vdb import LensEncoder

    return {"torch fp32": LensEncoder(source, device="cpu", max_length=256),
            "torch bf16": LensEncoder(source, device="cpu", dtype="bf16", max_length=256),
            "ORT fp32": LensEncoder(graphs["fp32"], backend="onnx", max_length=256),
            "ORT int8": LensEncoder(graphs["int8"], backend="onnx", max_length=256)}


def _race(encoders: dict, docs: int, queries: int) -> tuple[dict, dict, dict]:
    """docs/s, p50 single-query ms and min cosine to torch fp32, every candidate on the same input in turn."""
    import warnings

    from lens_vdb._datasets import load_bbc_news

    articles = load_bbc_news(limit=max(docs, queries))
    texts, titles = [a.text for a in articles[:docs]], [a.title for a in articles[:queries]]
    names = list(encoders)
    seconds, vectors = dict.fromkeys(names, 0.0), {name: [] for name in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # articles over 256 tokens are cut, on purpose
        for name in names:
            encoders[name].encode_documents(texts[:2])  # warm-up
        for index, start in enumerate(range(0, docs, 32)):
            for name in names[index % len(names):] + names[:index % len(names)]:
                begin = time.perf_counter()
                vectors[name].append(encoders[name].encode_documents(texts[start:start + 32]))
                seconds[name] += time.perf_counter() - begin
    latency = {name: [] for name in names}
    for index, title in enumerate(titles):
        for name in names[index % len(names):] + names[:index % len(names)]:
            begin = time.perf_counter()
            encoders[name].encode_queries([title])
            latency[name].append(time.perf_counter() - begin)
    reference = np.vstack(vectors["torch fp32"])
    cosine = {name: float((np.vstack(vectors[name]) * reference).sum(1).min()) for name in names}
    return ({name: docs / seconds[name] for name in names},
            {name: 1000 * float(np.median(latency[name])) for name in names}, cosine)


def _print_proxy(first, second, docs: dict) -> None:
    """The GEMM proxy's speed-ups over torch fp32 against the calibration's and the full run's."""
    print("\n| graph | proxy's speed-up over torch fp32 | calibration batch (graph exported) | "
          "full run, batch 32 x 256 |")
    print("|---|---|---|---|")
    for name, label in (("onnx-fp32", "ORT fp32"), ("onnx-int8", "ORT int8")):
        predicted = first.predicted_docs_per_s.get(name)
        proxy = predicted / first.docs_per_s["torch-fp32"] if predicted else float("nan")
        calibrated = second.docs_per_s.get(name, float("nan")) / second.docs_per_s["torch-fp32"]
        print(f"| {label} | {proxy:.2f} | {calibrated:.2f} | {docs[label] / docs['torch fp32']:.2f} |")


if __name__ == "__main__":
    main()
