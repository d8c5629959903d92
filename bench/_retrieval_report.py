"""The ``report`` step of ``bench/train_retrieval.py``: trained snapshots against the current default model,
BM25, MiniLM and the hybrids on BBC News 500, side by side in one run, and the goal checks."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from _bench import cpu_line  # bench/ is the running script's folder, so on sys.path

GOAL_MRR = 0.80
GOAL_CLS = 0.90


def _progress(run: Path) -> dict[int, dict]:
    path = run / "progress.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    return {row["step"]: row for row in rows}


def _snapshots(run: Path, spec: str) -> list[Path]:
    found = sorted((run / "snapshots").glob("step-*"))
    if not found:
        raise SystemExit(f"No snapshots in {run / 'snapshots'}: run `train` first.")
    if spec == "last":
        return found[-1:]
    if spec == "all":
        return found
    wanted = {int(s) for s in spec.split(",")}
    return [p for p in found if int(p.name.split("-")[1]) in wanted]


def _system(label: str, source, args):
    from lens_vdb import LensEncoder
    from lens_vdb.eval import LensSystem

    return LensSystem(label, LensEncoder(source, device="cpu", max_length=256, batch_size=16))


def cmd_report(args) -> None:
    """Evaluate the snapshots (and the ablation's) with the default model, BM25, MiniLM and hybrids."""
    import torch

    from lens_vdb._model.default import assemble_smollm2, default_model_dir
    from lens_vdb.eval import MiniLMSystem, bbc_corpus, evaluate

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    systems = [_system("LENS default (wordnet-v1)", default_model_dir(version="wordnet-v1"), args)]
    trained: dict[str, tuple[Path, dict]] = {}
    for run in [args.run] + ([args.ablation] if args.ablation else []):
        progress = _progress(run)
        for snapshot in _snapshots(run, args.snapshots):
            step = int(snapshot.name.split("-")[1])
            label = f"LENS {run.name} step {step}"
            systems.append(_system(label, assemble_smollm2(snapshot, adapter_dir=snapshot), args))
            trained[label] = (snapshot, progress.get(step, {}))
    report = evaluate(bbc_corpus(limit=args.articles), systems, dense=MiniLMSystem(device="cpu"), bm25=True,
                      cache_dir=args.cache)
    print(f"\n{cpu_line()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"report took {time.perf_counter() - start:.0f} s")
    print(report.table())
    print(f"\n{'snapshot':<40} {'steps':>6} {'examples':>9} {'train wall h':>12}")
    for label, (_, row) in trained.items():
        print(f"{label:<40} {row.get('step', '?'):>6} {row.get('examples_seen', '?'):>9} "
              f"{row.get('wall_seconds', 0) / 3600:>12.2f}")
    _goals(report, list(trained))
    if args.held_out:
        _held_out(args.data, systems)
    out = args.run / f"report-{time.strftime('%Y%m%d-%H%M%S')}.json"
    report.to_json(out)
    print(f"written to {out}")
    if args.artifacts is not None and trained:
        best = max(trained, key=lambda name: report.row(name).retrieval["mrr@10"])
        _ship(trained[best][0], args.artifacts)
        print(f"artifacts of {best} copied to {args.artifacts}")


def _held_out(data: Path, systems) -> None:
    """MRR@10 on each source's held-out split (its queries against its held-out passages): BM25, MiniLM, LENS."""
    import numpy as np

    from lens_vdb.eval import MiniLMSystem, bm25_scores, retrieval_metrics
    from lens_vdb.train import load_examples

    dense = MiniLMSystem(device="cpu")
    print("\nheld-out splits, MRR@10 (queries against the split's passages)")
    for name in ("debian", "manpage", "pydoc"):
        examples = load_examples(data / f"{name}.heldout.jsonl.gz")
        queries, passages = [e.query for e in examples], [e.positives[0] for e in examples]
        scores = {"BM25": bm25_scores(queries, passages),
                  "MiniLM": dense.embed_queries(queries) @ dense.embed_documents(passages).T}
        for system in systems:
            scores[system.name] = np.asarray(system.embed_queries(queries) @ system.embed_documents(passages).T)
        cells = "  ".join(f"{label} {retrieval_metrics(s)['mrr@10']:.3f}" for label, s in scores.items())
        print(f"{name} ({len(queries)}): {cells}")


def _goals(report, labels: list[str]) -> None:
    bm25 = report.row("BM25").retrieval["mrr@10"]
    bm25_dense = report.row("BM25 + MiniLM (RRF)").retrieval["mrr@10"]
    print(f"\ngoals: LENS MRR@10 >= {GOAL_MRR}; LENS + MiniLM (RRF) > BM25 ({bm25:.3f}) and > BM25 + MiniLM RRF "
          f"({bm25_dense:.3f}); classification >= {GOAL_CLS}")
    for label in ["LENS default (wordnet-v1)", *labels]:
        row, rrf = report.row(label), report.row(f"{label} + MiniLM (RRF)").retrieval["mrr@10"]
        mrr, cls = row.retrieval["mrr@10"], row.classification_accuracy or 0.0
        checks = [mrr >= GOAL_MRR, rrf > bm25, rrf > bm25_dense, cls >= GOAL_CLS]
        print(f"{label:<40} MRR {mrr:.3f}  +MiniLM RRF {rrf:.3f}  cls {cls:.3f}  "
              f"{'ALL MET' if all(checks) else 'met: ' + str(sum(checks)) + '/4'}")


def _ship(snapshot: Path, target: Path) -> None:
    """The shippable folder: adapter + head + config, as ``lens_vdb/assets/smollm2-lens-k4000`` holds them."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("adapter_config.json", "adapter_model.safetensors", "lens_config.json", "lens_head.safetensors"):
        shutil.copy2(snapshot / name, target / name)
