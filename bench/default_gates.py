"""The gates a new default LENS model must pass, measured side by side in one run on two offline sets.

On BBC News 500 (headline -> article) and the Perl FAQ's evaluation half (question -> answer,
Debian's ``perl-doc``, in no training source; its other half is where ``lens-vdb calibrate --dataset
perl-faq-calibration`` measures a model's fusion, so no figure here comes from the data a fusion was
chosen on), with the project's harness (``lens_vdb.eval.evaluate``): the current
default (``default-wordnet-v1``), the ``--candidate``, BM25, all-MiniLM-L6-v2, and each LENS model
+ MiniLM fused (a) as the model's own record says (``lens_fusion.json``, when it has one for
MiniLM), (b) by RRF 1:1, (c) by the weighted sum of cosines 1:1 (and DBSF), beside BM25 + MiniLM
RRF. Per set the harness' table (MRR@10 and nDCG@10 with 95% bootstrap intervals, classification
accuracy of each embedder), then the gates per LENS model (issue 24, section 2):

- LENS alone: MRR@10 >= 0.80;
- its default hybrid (what a connector's ``search()`` runs: the model's record, else RRF 1:1) above
  BM25, above BM25 + MiniLM RRF, and not below the better of its own two routes;
- classification accuracy >= 0.90 (BBC's five topics; the FAQ's nine parts are not topics, so its
  figure is shown, not gated);
- the same retrieval gates on the Perl FAQ (the same direction on a second set);

and whether the candidate beats the current default on both sets (MRR@10 of LENS alone and of
the default hybrid; the difference with a paired bootstrap interval over queries).

Full run (the figures of a default switch; several CPU-minutes on 2 cores)::

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python bench/default_gates.py --candidate MODEL_DIR

``MODEL_DIR`` is any LENS model folder, or a name (``default``, ``default-wordnet-v1``,
``untrained``). ``--quick`` (what ``make bench`` runs): 24 BBC articles, 24 FAQ questions, the
current default as its own candidate (each text encoded once).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _bench import cpu_line, parse_args  # bench/ is the script's folder, so on sys.path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GATE_MRR, GATE_CLS = 0.80, 0.90
QUICK = {"articles": 24, "questions": 24, "max_length": 128, "bootstrap": 200, "candidate": "default-wordnet-v1"}


def model_folder(name: str) -> Path:
    """A LENS model folder from a folder or a shipped name (built on first use)."""
    from lens_vdb._model.default import MODEL_NAMES, resolve_model_name

    if name not in MODEL_NAMES and not Path(name).is_dir():
        sys.exit(f"No LENS model folder {name!r}: give a folder, or one of {', '.join(MODEL_NAMES)}.")
    return Path(resolve_model_name(name)).resolve()


def lens_system(label: str, folder: Path, args: argparse.Namespace):
    from lens_vdb import LensEncoder
    from lens_vdb.eval import LensSystem

    return LensSystem(label, LensEncoder(folder, device="cpu", max_length=args.max_length, batch_size=16))


def own_fusion(system):
    """The model's fusion record where ``search()`` runs it with MiniLM (measured with MiniLM), else ``None``."""
    from lens_vdb._minilm import MINILM_NAME

    record = system.encoder.fusion
    return record if record is not None and record.dense_model == MINILM_NAME else None


def default_hybrid(system) -> str:
    """The row of the hybrid a connector's ``search()`` runs for this model with MiniLM."""
    record = own_fusion(system)
    return f"{system.name} + MiniLM (own: {record.label})" if record else f"{system.name} + MiniLM (RRF)"


def measure(corpus, systems, dense, args, cache: str):
    """The harness on one set: every system and fusion, plus each model's own recorded fusion."""
    from lens_vdb.eval import evaluate
    from lens_vdb.eval._fusion import FUSION_LABELS

    options = {"cache_dir": cache, "bootstrap": args.bootstrap}
    report = evaluate(corpus, systems, dense=dense, bm25=True, weights=(1.0, 1.0), **options)
    for system in systems:
        record = own_fusion(system)
        if record is None:
            continue  # its default hybrid is RRF 1:1, measured above
        own = evaluate(corpus, [system], dense=dense, bm25=False, fusions=(record.fusion,), weights=record.weights,
                       rrf_k=record.rrf_k, **options)  # the vectors come from the cache
        row = own.row(f"{system.name} + {dense.name} ({FUSION_LABELS[record.fusion]})")
        report.rows.append(replace(row, system=default_hybrid(system)))
    return report


def gates(reports: dict, systems) -> list[bool]:
    """Print each model's gates on each set; the verdicts of the candidate (the last system)."""
    verdicts: list[bool] = []
    for system in systems:
        print(f"\n{system.name}: default hybrid = {default_hybrid(system).removeprefix(system.name + ' + ')}")
        for set_name, report in reports.items():
            mrr = {row.system: row.retrieval["mrr@10"] for row in report.rows}
            lens, hybrid = mrr[system.name], mrr[default_hybrid(system)]
            best_route = max(lens, mrr["MiniLM"])
            cls = report.row(system.name).classification_accuracy
            checks = [(f"LENS alone {lens:.4f} >= {GATE_MRR}", lens >= GATE_MRR),
                      (f"hybrid {hybrid:.4f} > BM25 {mrr['BM25']:.4f}", hybrid > mrr["BM25"]),
                      (f"hybrid > BM25 + MiniLM RRF {mrr['BM25 + MiniLM (RRF)']:.4f}",
                       hybrid > mrr["BM25 + MiniLM (RRF)"]),
                      (f"hybrid >= better route {best_route:.4f}", hybrid >= best_route)]
            if set_name == "BBC":
                checks.append((f"classification {cls or 0:.4f} >= {GATE_CLS}", (cls or 0) >= GATE_CLS))
            cells = "; ".join(f"{text} {'PASS' if ok else 'FAIL'}" for text, ok in checks)
            info = f"; classification {cls:.3f} (not gated)" if set_name != "BBC" and cls is not None else ""
            print(f"  {set_name:<9} {sum(ok for _, ok in checks)}/{len(checks)}: {cells}{info}")
            if system is systems[-1]:
                verdicts += [ok for _, ok in checks]
    return verdicts


def candidate_beats_current(reports: dict, current, candidate, args) -> bool:
    """Candidate minus current, per set: MRR@10 of LENS alone and of the default hybrid, paired bootstrap interval."""
    import numpy as np

    from lens_vdb.eval import bootstrap_interval

    print(f"\ncandidate - current, MRR@10 (paired {args.bootstrap}-resample bootstrap 95% interval over queries)")
    wins = []
    for set_name, report in reports.items():
        for what, new, old in (("LENS alone", candidate.name, current.name),
                               ("default hybrid", default_hybrid(candidate), default_hybrid(current))):
            diff = (np.asarray(report.row(new).per_query["mrr@10"]) - np.asarray(report.row(old).per_query["mrr@10"]))
            low, high = bootstrap_interval(diff, resamples=args.bootstrap)
            print(f"  {set_name:<9} {what:<15} {diff.mean():+.3f} [{low:+.3f}, {high:+.3f}]")
            if what == "LENS alone":
                wins.append(diff.mean() > 0)
    return all(wins)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidate", default=None, help="LENS model folder, or default / default-wordnet-v1 / "
                        "untrained (required without --quick)")
    parser.add_argument("--current", default="default-wordnet-v1", help="the default it would replace")
    parser.add_argument("--articles", type=int, default=500, help="BBC News articles (spread over the 5 topics)")
    parser.add_argument("--questions", type=int, default=0, help="questions of the Perl FAQ's evaluation half, spread over its parts (0: all)")
    parser.add_argument("--max-length", type=int, default=256, help="LENS tokens per text")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for every interval")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--cache", default=None, help="keep embeddings here between runs (default: this run only)")
    parser.add_argument("--json", default=None, help="write both sets' reports here (<stem>-bbc.json, -faq.json)")
    args = parse_args(parser, QUICK, argv)
    if args.candidate is None:
        parser.error("--candidate MODEL_DIR is required (or --quick)")

    import torch

    from lens_vdb.eval import MiniLMSystem, bbc_corpus, perl_faq_corpus

    torch.set_num_threads(args.threads)
    start, cpu_start = time.perf_counter(), time.process_time()
    folders = model_folder(args.current), model_folder(args.candidate)
    current = lens_system(f"current {args.current}", folders[0], args)
    if folders[1] == folders[0]:  # one model: measured once, its rows stand for both
        candidate, systems = current, [current]
        print(f"the candidate {args.candidate!r} is the current default's model: its figures are the current's")
    else:
        candidate = lens_system(f"candidate {Path(args.candidate).name}", folders[1], args)
        systems = [current, candidate]
    dense = MiniLMSystem(device="cpu")
    corpora = {"BBC": bbc_corpus(limit=args.articles), "Perl FAQ": perl_faq_corpus(limit=args.questions or None, half="evaluation")}
    with tempfile.TemporaryDirectory(prefix="lens-gates-") as scratch:  # each text encoded once per model
        reports = {name: measure(corpus, systems, dense, args, args.cache or scratch)
                   for name, corpus in corpora.items()}
    print(f"\n{cpu_line()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{time.perf_counter() - start:.0f} s wall, {time.process_time() - cpu_start:.0f} CPU-s")
    print(f"current: {args.current} ({folders[0]}); candidate: {args.candidate} ({folders[1]})")
    for report in reports.values():
        print()
        print(report.table())
    verdicts = gates(reports, systems)
    beats = candidate_beats_current(reports, current, candidate, args)
    print(f"\ncandidate gates: {sum(verdicts)}/{len(verdicts)} met "
          f"({'ALL MET' if all(verdicts) else 'not all met'}); "
          f"candidate beats current on BBC and on the Perl FAQ (LENS alone): {'YES' if beats else 'NO'}")
    if args.json:
        stem = Path(args.json).with_suffix("")
        for name, report in reports.items():
            print(f"written to {report.to_json(f'{stem}-{name.split()[-1].lower()}.json')}")


if __name__ == "__main__":
    main()
