"""Retrieval training for the default model on a CPU: build the data, train (resumable), report on BBC News.

The default model (SmolLM2-135M + k=4000 head, trained on WordNet glosses) goes on training from
its shipped adapter and head on a mix of retrieval pairs (Debian package descriptions, man pages,
Python docstrings) and WordNet, with the paper's recipe: in-batch negatives for retrieval data and
one BM25-mined hard negative per example (not the gold passage, not a near duplicate of it).

    python bench/train_retrieval.py data   --data RUNS/data             # builders + mixes
    python bench/train_retrieval.py train  --data RUNS/data --run RUNS/mix
    python bench/train_retrieval.py train  --data ... --run RUNS/wordnet --mix wordnet --until 40
    python bench/train_retrieval.py probe  --data ... --run RUNS/probe   # s/step of each option
    python bench/train_retrieval.py report --run RUNS/mix [--ablation RUNS/wordnet]
    python bench/train_retrieval.py --quick   # probe in miniature (make bench): a small docstring mix, one step each

RUNS defaults to ``$LENS_VDB_HOME/bench/train_retrieval`` (``--data``, ``--run`` and ``--cache`` under it).

``train`` runs in segments of ``--snapshot-every`` steps; after each it keeps the small artifacts
(LoRA adapter + head + config, fp16, ~24 MB) in ``RUN/snapshots/step-NNNNN`` and appends the step,
the examples seen and the wall time (summed over sittings) to ``RUN/progress.jsonl``. Killed at any
point, the same command resumes from ``RUN/checkpoint`` (bit-identical, see ``lens_vdb.train``).
``report`` evaluates snapshots side by side with the current default model, BM25, MiniLM and the
hybrids on BBC News 500 in one run, and prints the table with this CPU's model and flags.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch
from _bench import parse_args, run_folder  # bench/ is the script's folder, so on sys.path

from lens_vdb._model.default import assemble_smollm2

# the WordNet-trained default (wordnet-v1) that the run goes on from, copied out of the checkout once, so
# that a run started in one checkout resumes in another (the checkpoint records this path)
WORDNET_V1 = Path(__file__).resolve().parents[1] / "lens_vdb" / "assets" / "smollm2-lens-k4000"

SOURCES = ("debian", "manpage", "pydoc")
# examples of each source in the retrieval mix; the trainer's step share follows these counts
MIX = {"debian": 20000, "manpage": 6000, "pydoc": None}  # None: all (2,623)
WORDNET_IN_MIX = {"wordnet-word2def": 3000, "wordnet-def2word": 3000, "wordnet-example2entry": 3000,
                  "wordnet-lexfile": 1000}
WORDNET_ONLY = {"wordnet-word2def": 12000, "wordnet-def2word": 12000, "wordnet-example2entry": 12000,
                "wordnet-lexfile": 4000}


def _start(args) -> Path:
    """``RUN/../init/wordnet-v1``: the adapter + head every run starts from (copied there on first use)."""
    start = args.run.parent / "init" / "wordnet-v1"
    if not (start / "adapter_model.safetensors").is_file():
        shutil.copytree(WORDNET_V1, start, dirs_exist_ok=True)
    return start


def _config(args):
    from lens_vdb.train import TrainConfig

    return TrainConfig(max_steps=args.steps, batch_size=args.batch_size, negatives=args.negatives,
                       learning_rate=args.lr, warmup_steps=args.warmup, query_max_length=64,
                       doc_max_length=args.doc_max_length, gradient_checkpointing=not args.no_checkpointing,
                       precision=args.precision, save_every=args.save_every, log_every=1, seed=0,
                       center_head=False, init_adapter=str(_start(args)), device=args.device)


def cmd_data(args) -> None:
    """Every source's pairs, then the two training mixes (each skipped when its file is there)."""
    from lens_vdb.train import write_wordnet_pairs
    from lens_vdb.train._debian import write_debian_pairs
    from lens_vdb.train._manpages import write_manpage_pairs
    from lens_vdb.train._mix import write_mix
    from lens_vdb.train._pydoc import write_pydoc_pairs

    data = args.data
    writers = {"debian": write_debian_pairs, "manpage": write_manpage_pairs, "pydoc": write_pydoc_pairs}
    for name, write in writers.items():
        if not (data / f"{name}.jsonl.gz").is_file():
            counts = write(data / f"{name}.jsonl.gz", seed=0)
            print(f"{name}: read {counts.read}, kept {counts.kept}, train {counts.train}, held out {counts.held_out}")
    if not (data / "wordnet.jsonl.gz").is_file():
        print("wordnet:", write_wordnet_pairs(data / "wordnet.jsonl.gz", seed=0))
    sources = {data / f"{name}.jsonl.gz": count for name, count in MIX.items()}
    sources[data / "wordnet.jsonl.gz"] = None
    if not (data / "mix.jsonl.gz").is_file():
        print("mix:", write_mix(sources, data / "mix.jsonl.gz", seed=0, datasets=WORDNET_IN_MIX))
    if not (data / "wordnet-only.jsonl.gz").is_file():
        print("wordnet only:", write_mix({data / "wordnet.jsonl.gz": None}, data / "wordnet-only.jsonl.gz",
                                         seed=0, datasets=WORDNET_ONLY))


def _quick_data(data: Path) -> None:
    """A small mix for --quick: docstring pairs of lens-vdb's own sources (no system files needed)."""
    from lens_vdb.train._mix import write_mix
    from lens_vdb.train._pydoc import write_pydoc_pairs

    data.mkdir(parents=True, exist_ok=True)
    source = Path(__file__).resolve().parents[1] / "lens_vdb"
    write_pydoc_pairs(data / "pydoc.jsonl.gz", source, seed=0, held_out=0.0, negatives=1, limit=64)
    print("quick mix:", write_mix({data / "pydoc.jsonl.gz": None}, data / "mix.jsonl.gz", seed=0))


def cmd_train(args) -> None:
    """Train in segments up to ``--until`` (default: the whole schedule), keeping a snapshot after each."""
    from lens_vdb.train import load_examples, train

    torch.set_num_threads(args.threads)
    examples = load_examples(args.data / ("mix.jsonl.gz" if args.mix == "mix" else "wordnet-only.jsonl.gz"))
    config = _config(args)
    progress = args.run / "progress.jsonl"
    rows = [json.loads(line) for line in progress.read_text().splitlines()] if progress.is_file() else []
    wall = rows[-1]["wall_seconds"] if rows else 0.0
    step = rows[-1]["step"] if rows else 0
    until = min(args.until or args.steps, args.steps)
    while step < until:
        target = min(until, (step // args.snapshot_every + 1) * args.snapshot_every)
        start = time.perf_counter()
        model = assemble_smollm2(_start(args))  # base + wordnet-v1's head; its adapter starts the LoRA
        result = train(model, examples, args.run, config, merge=False, stop_after_step=target)
        wall += time.perf_counter() - start
        snapshot = args.run / "snapshots" / f"step-{result.step:05d}"
        shutil.rmtree(snapshot, ignore_errors=True)
        shutil.copytree(result.adapter_dir, snapshot)
        row = {"step": result.step, "examples_seen": result.step * args.batch_size, "wall_seconds": round(wall, 1),
               "segment_seconds": round(time.perf_counter() - start, 1),
               "loss": round(sum(result.losses) / max(1, len(result.losses)), 4), "snapshot": str(snapshot)}
        with progress.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        step = result.step


PROBE_OPTIONS = {"fp32-ckpt": ("fp32, checkpointing", dict(precision="fp32", gradient_checkpointing=True)),
                 "bf16-ckpt": ("bf16 autocast, checkpointing", dict(precision="bf16", gradient_checkpointing=True)),
                 "fp32": ("fp32, no checkpointing", dict(precision="fp32", gradient_checkpointing=False))}


def cmd_probe(args) -> None:
    """Seconds (wall and CPU) per step of each cost option, at equal steps on the same batches."""
    from dataclasses import replace

    from lens_vdb.train import load_examples, train

    torch.set_num_threads(args.threads)
    examples = load_examples(args.data / "mix.jsonl.gz")[: args.batch_size * 64]
    options = {name: change for key, (name, change) in PROBE_OPTIONS.items() if key in args.probe_options.split(",")}
    print(f"{'option':<32} {'wall s/step':>11} {'cpu s/step':>10}  losses")
    for name, change in options.items():
        config = replace(_config(args), max_steps=args.probe_steps, save_every=0, **change)
        model = assemble_smollm2(_start(args))
        wall, cpu = time.perf_counter(), time.process_time()
        result = train(model, examples, args.run / name.replace(" ", "").replace(",", "-"), config, merge=False,
                       resume=False)
        wall, cpu = (time.perf_counter() - wall) / args.probe_steps, (time.process_time() - cpu) / args.probe_steps
        print(f"{name:<32} {wall:>11.1f} {cpu:>10.1f}  {[round(x, 4) for x in result.losses]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["data", "train", "probe", "report"],
                        help="required but with --quick (which runs probe)")
    parser.add_argument("--data", type=Path, default=None, help="default: RUNS/data")
    parser.add_argument("--run", type=Path, default=None, help="default: RUNS/mix (probe: RUNS/probe)")
    parser.add_argument("--mix", choices=["mix", "wordnet"], default="mix", help="training data (ablation: wordnet)")
    parser.add_argument("--steps", type=int, default=1500, help="length of the LR schedule")
    parser.add_argument("--until", type=int, default=None, help="stop at this step (resume later)")
    parser.add_argument("--snapshot-every", type=int, default=20)
    parser.add_argument("--save-every", type=int, default=5, help="steps between resumable checkpoints")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--negatives", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--doc-max-length", type=int, default=128)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    parser.add_argument("--no-checkpointing", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default=None, help="train: cpu or cuda (default: CUDA when there is one)")
    parser.add_argument("--probe-steps", type=int, default=2)
    parser.add_argument("--probe-options", default=",".join(PROBE_OPTIONS),
                        help=f"probe: the cost options to time, comma-separated from {', '.join(PROBE_OPTIONS)}")
    parser.add_argument("--ablation", type=Path, default=None, help="report: a WordNet-only run to compare")
    parser.add_argument("--snapshots", default="last", help="report: 'last', 'all' or steps like 20,40")
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--cache", type=Path, default=None, help="default: RUNS/eval-cache")
    parser.add_argument("--artifacts", type=Path, default=None, help="report: copy the best snapshot here")
    parser.add_argument("--held-out", action="store_true", help="report: also MRR@10 on each source's held-out split")
    args = parse_args(parser, quick={"batch_size": 2, "doc_max_length": 32, "probe_steps": 1,
                                     "probe_options": "bf16-ckpt,fp32"})
    if args.command is None:
        if not args.quick:
            parser.error("give a command (data, train, probe, report), or --quick")
        args.command = "probe"
    runs = run_folder("train_retrieval-quick" if args.quick else "train_retrieval")
    args.data = args.data or runs / "data"
    args.run = args.run or runs / ("probe" if args.command == "probe" else "mix")
    args.cache = args.cache or runs / "eval-cache"
    if args.quick and not (args.data / "mix.jsonl.gz").is_file():
        _quick_data(args.data)
    if args.command == "report":
        from _retrieval_report import cmd_report

        cmd_report(args)
    else:
        {"data": cmd_data, "train": cmd_train, "probe": cmd_probe}[args.command](args)


if __name__ == "__main__":
    main()
