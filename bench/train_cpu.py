"""Cheap CPU training arms compared at equal CPU-seconds: top-N layers over cached lower layers, head only,
a wider head (k=8000), a shallower backbone, short against long passages; MRR@10 on BBC News and held-out splits.

The wider-head arm clusters the tied LM head again into 8,000 clusters and carries wordnet-v1's
trained head over through the affine map it learned (:func:`lens_vdb._model.build.recluster_head`),
then trains the head alone; it reuses the same cache (the backbone is the same).

Every arm starts from the shipped WordNet-v1 default model and trains on the same retrieval mix
(Debian descriptions, man pages, Python docstrings, some WordNet; BBC News is never trained on)
with ``lens_vdb.train`` in its cheap mode (``TrainConfig(train_layers=N)``). The lower layers'
outputs for every training and evaluation text are computed once, in one bf16 pass that stops at
each layer an arm needs (fp32 on a CPU without native bf16), and shared by all arms; that cost is
reported on its own line. Each arm then trains for ``--budget`` CPU-seconds of this process
(``time.process_time``: on shared cores wall time says more about the neighbours), evaluated
``--evals`` times at regular CPU intervals with the eval's own lower layers cached, so an
evaluation point runs only the top layers. The table: per arm, CPU-seconds, examples seen,
MRR@10 on BBC News and on each held-out split, at each evaluation point.

The defaults finish in minutes on 2 cores (``make bench``; a temporary run folder). The long run
(about 5 CPU-hours, data and caches included), resumable by running the same command again::

    RUN=~/lens-train-cpu   # any folder outside the checkout
    OMP_NUM_THREADS=2 nohup nice -n 19 .venv/bin/python bench/train_cpu.py --run $RUN \\
        --examples 16000 --budget 2700 --evals 6 --articles 500 --held-out 300 >> $RUN/run.log 2>&1 &

Killed at any point, the same command goes on: data and cache entries already written are kept,
each arm resumes from its checkpoint, and the CPU-seconds already spent are read back from its
``progress.jsonl``. ``--report`` prints the table of what is there without training.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from _bench import parse_args  # noqa: E402  (bench/ is the script's folder, so on sys.path)

from lens_vdb._machine import prefer_passive_openmp  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
prefer_passive_openmp()  # before torch loads: on busy shared cores spinning OpenMP threads burn CPU-seconds


@dataclass(frozen=True)
class Arm:
    """What an arm changes: trained top layers, a shallower backbone, passage length, learning rate."""

    train_layers: int
    backbone_layers: int | None = None
    doc_max_length: int = 128
    learning_rate: float = 5e-5
    k: int | None = None  # a wider head: the LM head re-clustered into k centroids (the start's k when None)


ARMS = {
    "top2": Arm(2),
    "head": Arm(0, learning_rate=3e-4),
    "top4": Arm(4),
    "top2-short": Arm(2, doc_max_length=64),
    "shallow16-top2": Arm(2, backbone_layers=16),
    "head-k8000": Arm(0, learning_rate=3e-4, k=8000),
}
SOURCES = ("debian", "manpage", "pydoc")
# shares of the training mix (of --examples); pydoc has about 2,600 examples in all
SHARES = {"debian": 0.56, "manpage": 0.19, "pydoc": 0.13, "wordnet": 0.12}
WORDNET_SETS = ("wordnet-word2def", "wordnet-def2word", "wordnet-example2entry")


def build_data(data: Path, examples: int, held_out: int) -> tuple[Path, dict[str, Path]]:
    """Each source's pairs (skipped when there), the mix of ``examples``, and the held-out files."""
    from lens_vdb.train import write_wordnet_pairs
    from lens_vdb.train._debian import write_debian_pairs
    from lens_vdb.train._manpages import write_manpage_pairs
    from lens_vdb.train._mix import write_mix
    from lens_vdb.train._pydoc import write_pydoc_pairs

    data.mkdir(parents=True, exist_ok=True)
    writers = {"debian": write_debian_pairs, "manpage": write_manpage_pairs, "pydoc": write_pydoc_pairs}
    for name, write in writers.items():
        if not (data / f"{name}.jsonl.gz").is_file():
            counts = write(data / f"{name}.jsonl.gz", seed=0)
            print(f"{name}: read {counts.read}, kept {counts.kept}, train {counts.train}, held out {counts.held_out}")
    sources = {data / f"{name}.jsonl.gz": max(1, int(examples * SHARES[name])) for name in SOURCES}
    wordnet_sets = None
    if Path("/usr/share/wordnet").is_dir():
        if not (data / "wordnet.jsonl.gz").is_file():
            print("wordnet:", write_wordnet_pairs(data / "wordnet.jsonl.gz", seed=0))
        each = max(1, int(examples * SHARES["wordnet"]) // len(WORDNET_SETS))
        sources[data / "wordnet.jsonl.gz"] = None
        wordnet_sets = {**dict.fromkeys(WORDNET_SETS, each), "wordnet-lexfile": max(1, each // 3)}
    else:
        print("no WordNet (apt-get install wordnet-base): the mix is retrieval pairs only")
    mix = data / f"mix-{examples}.jsonl.gz"
    if not mix.is_file():
        print("mix:", write_mix(sources, mix, seed=0, datasets=wordnet_sets))
    return mix, {name: data / f"{name}.heldout.jsonl.gz" for name in SOURCES}


def eval_corpora(held_files: dict[str, Path], articles: int, held_out: int) -> dict[str, tuple]:
    """BBC News (headline -> article, 256 tokens) and each held-out split (query -> passage, 128 tokens)."""
    from lens_vdb.eval import Corpus, bbc_corpus
    from lens_vdb.train import load_examples

    corpora = {"BBC": (bbc_corpus(limit=articles), 256)}
    for name, path in held_files.items():
        examples = load_examples(path)[:held_out]
        queries, passages = [e.query for e in examples], [e.positives[0] for e in examples]
        corpora[name] = (Corpus.known_item(f"{name}-heldout", queries, passages), 128)
    return corpora


def cpu_now() -> float:
    return time.process_time()


class Bench:
    """The run folder: shared caches, one folder per arm, CPU accounting that survives restarts."""

    def __init__(self, args) -> None:
        import torch

        from lens_vdb import LensModel
        from lens_vdb._model.default import default_model_dir

        self.args, self.run = args, args.run
        self.start_dir = default_model_dir(version="wordnet-v1")
        self._load = LensModel.from_pretrained
        torch.set_num_threads(args.threads)
        self.run.mkdir(parents=True, exist_ok=True)
        self.costs = self.run / "costs.jsonl"

    def load(self, arm: Arm | None = None):
        """The start model; for an arm with its own ``k``, the start's backbone under a re-clustered head.

        The re-clustered start is written once into the arm's folder, so every resumed segment trains the
        same head and cluster map (and the cached lower layers, keyed by the backbone alone, still serve).
        """
        if arm is None or arm.k is None:
            return self._load(self.start_dir)
        start = self.run / "starts" / f"k{arm.k}"
        if not (start / "lens_config.json").is_file():
            from lens_vdb._model.build import recluster_head

            recluster_head(self._load(self.start_dir), arm.k).save_pretrained(start)
        return self._load(start)

    def cost(self, phase: str) -> float:
        rows = [json.loads(x) for x in self.costs.read_text().splitlines()] if self.costs.is_file() else []
        return sum(r["cpu_s"] for r in rows if r["phase"] == phase)

    def add_cost(self, phase: str, cpu: float, **extra) -> None:
        with self.costs.open("a") as handle:
            handle.write(json.dumps({"phase": phase, "cpu_s": round(cpu, 1), **extra}) + "\n")

    def config(self, arm: Arm):
        from lens_vdb.train import TrainConfig

        a = self.args
        # the LR is flat after warm-up (the schedule's length is far past any budget): arms stop by CPU-seconds
        return TrainConfig(max_steps=1_000_000, batch_size=a.batch_size, negatives=1, temperature=0.02,
                           learning_rate=arm.learning_rate, warmup_steps=20, center_head=False, precision=a.precision,
                           train_layers=arm.train_layers, backbone_layers=arm.backbone_layers,
                           query_max_length=64, doc_max_length=arm.doc_max_length, cache_dir=str(self.run / "cache"),
                           save_every=a.save_every, log_every=5, seed=0)

    def fill_shared(self, examples, corpora, arms: dict[str, Arm]) -> None:
        """One lower-layer pass per text for every arm's start layer: training texts and evaluation texts."""
        from lens_vdb.train._cached import cache_storage

        model = self.load()
        storage = cache_storage("auto", "cpu")
        total = len(model.backbone.layers)
        by_length: dict[int, set[int]] = {}
        for arm in arms.values():
            by_length.setdefault(arm.doc_max_length, set()).add((arm.backbone_layers or total) - arm.train_layers)
        start = cpu_now()
        try:
            self._fill(model, examples, corpora, by_length, storage)
        finally:  # a stopped pass (Ctrl-C, kill) still charges what it computed: its entries are kept
            if cpu_now() - start > 5:
                self.add_cost("cache", cpu_now() - start)

    def _fill(self, model, examples, corpora, by_length: dict[int, set[int]], storage: str) -> None:
        from lens_vdb._inference.features import tokenize_documents, tokenize_queries
        from lens_vdb._instructions import get_task
        from lens_vdb.train._cached import texts_to_cache
        from lens_vdb.train._hidden_cache import STORAGE_DTYPES, HiddenCache, fill_caches

        layers = sorted({layer for group in by_length.values() for layer in group})
        caches = {layer: HiddenCache(self.run / "cache", model, layer, storage=storage) for layer in layers}
        for length, wanted in sorted(by_length.items(), reverse=True):
            sequences = texts_to_cache(model, examples, query_max_length=64, doc_max_length=length)
            done = fill_caches(model, [caches[x] for x in sorted(wanted)], sequences, dtype=STORAGE_DTYPES[storage],
                               progress=_Progress(f"training texts, passages <= {length} tokens, layers {sorted(wanted)}"))
            print(f"cached {done} training texts (of {len(sequences)}) at layers {sorted(wanted)}", flush=True)
        eval_sequences = []
        for corpus, length in corpora.values():
            eval_sequences += tokenize_queries(model.tokenizer, corpus.queries, get_task("retrieval").instruction, 64).ids
            eval_sequences += tokenize_documents(model.tokenizer, corpus.documents, length).ids
        done = fill_caches(model, list(caches.values()), eval_sequences, dtype=STORAGE_DTYPES[storage],
                           progress=_Progress("evaluation texts"))
        print(f"cached {done} evaluation texts at layers {layers}", flush=True)

    def evaluate(self, model, arm: Arm, corpora) -> dict[str, float]:
        """MRR@10 on each corpus through the cache and the top stack (one pass of the top layers)."""
        from lens_vdb.eval import evaluate
        from lens_vdb.train._cached_eval import CachedLensSystem
        from lens_vdb.train._hidden_cache import HiddenCache
        from lens_vdb.train._split import TopStack

        total = len(model.backbone.layers)
        top = TopStack(model, total - arm.train_layers)
        cache = HiddenCache(self.run / "cache", model, top.start, storage=_storage())
        scores = {}
        for name, (corpus, length) in corpora.items():
            system = CachedLensSystem("LENS", top, cache, max_length=length)
            # without labels: classification is a gate of its own, not part of each cheap evaluation point
            report = evaluate(replace(corpus, labels=None), [system], bm25=False, bootstrap=0)
            scores[name] = round(report.rows[0].retrieval["mrr@10"], 4)
        return scores

    def run_arm(self, name: str, arm: Arm, examples, corpora) -> None:
        from lens_vdb._model.top import shorten_backbone
        from lens_vdb.train import train

        folder = self.run / "arms" / name
        progress = folder / "progress.jsonl"
        rows = [json.loads(x) for x in progress.read_text().splitlines()] if progress.is_file() else []
        config, budget = self.config(arm), self.args.budget
        marks = [budget * (i + 1) / self.args.evals for i in range(self.args.evals)]
        if not rows:  # the start point: the start model (shortened for a shallow arm)
            eval_start = cpu_now()
            model = self.load(arm).eval()
            if arm.backbone_layers:
                shorten_backbone(model, arm.backbone_layers)
            rows.append(self._row(name, 0.0, 0, None, self.evaluate(model, arm, corpora), cpu_now() - eval_start))
            _append(progress, rows[-1])
        spent, step = rows[-1]["cpu_s"], rows[-1]["step"]
        per_step = rows[-1].get("cpu_per_step") or None
        state = folder / "checkpoint" / "trainer_state.json"
        saved = json.loads(state.read_text())["step"] if state.is_file() else step
        if saved > step:  # killed in a segment after a checkpoint: its steps are charged at the last rate
            print(f"arm {name}: resuming at step {saved} (after the last record, step {step})", flush=True)
            spent, step = spent + (saved - step) * (per_step or 0.0), saved
        while spent < budget - 1:
            mark = next(m for m in marks if m > spent + 1)
            steps = 5 if per_step is None else max(1, round((mark - spent) / per_step))
            segment = cpu_now()
            result = train(self.load(arm), examples, folder, config, merge=False, stop_after_step=step + steps)
            used = cpu_now() - segment
            per_step = used / max(1, result.step - step)
            spent, step = spent + used, result.step
            if spent < mark - 0.5 * per_step and per_step * 2 < mark - spent:
                _append(progress, {**rows[-1], "cpu_s": round(spent, 1), "step": step, "cpu_per_step": per_step,
                                   "examples": step * self.args.batch_size, "eval": None})
                rows.append(json.loads(progress.read_text().splitlines()[-1]))
                continue
            eval_start = cpu_now()
            scores = self.evaluate(result.model.eval(), arm, corpora)
            snapshot = folder / "snapshots" / f"cpu-{int(spent):06d}"
            shutil.rmtree(snapshot, ignore_errors=True)
            shutil.copytree(result.adapter_dir, snapshot)
            rows.append(self._row(name, spent, step, per_step, scores, cpu_now() - eval_start, str(snapshot)))
            _append(progress, rows[-1])
            print(json.dumps(rows[-1]), flush=True)

    def _row(self, name, spent, step, per_step, scores, eval_cpu, snapshot=None) -> dict:
        return {"arm": name, "cpu_s": round(spent, 1), "step": step, "examples": step * self.args.batch_size,
                "cpu_per_step": per_step, "eval": scores, "eval_cpu_s": round(eval_cpu, 1), "snapshot": snapshot}

    def table(self, arms) -> str:
        from lens_vdb._machine import cpu_info

        lines = [f"CPU: {cpu_info().describe()}; {self.args.threads} threads; CPU-seconds of this process",
                 f"shared lower-layer cache: {self.cost('cache'):.0f} CPU-s (all arms, training + eval texts)"]
        header = f"{'arm':<16} {'CPU-s':>7} {'examples':>9} {'MRR@10 BBC':>10} " + " ".join(f"{s:>9}" for s in SOURCES)
        lines += [header, "-" * len(header)]
        eval_cpu = 0.0
        for name in arms:
            path = self.run / "arms" / name / "progress.jsonl"
            if not path.is_file():
                continue
            for row in (json.loads(x) for x in path.read_text().splitlines()):
                eval_cpu += row.get("eval_cpu_s") or 0.0
                if not row.get("eval"):
                    continue
                held = " ".join(f"{row['eval'].get(s, float('nan')):>9.3f}" for s in SOURCES)
                lines.append(f"{name:<16} {row['cpu_s']:>7.0f} {row['examples']:>9} {row['eval']['BBC']:>10.3f} {held}")
        lines.append(f"evaluation points: {eval_cpu:.0f} CPU-s in all (not counted in the arms' CPU-s)")
        return "\n".join(lines)


class _Progress:
    def __init__(self, what: str) -> None:
        self.what, self.last = what, 0.0

    def __call__(self, done: int, total: int) -> None:
        if time.time() - self.last > 60 or done == total:
            self.last = time.time()
            print(f"  {self.what}: {done}/{total}", flush=True)


def _storage() -> str:
    from lens_vdb.train._cached import cache_storage

    return cache_storage("auto", "cpu")


def _append(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="run folder (default: a temporary one)")
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: RUN/data)")
    parser.add_argument("--examples", type=int, default=256, help="training examples in the mix")
    parser.add_argument("--budget", type=float, default=40, help="CPU-seconds of training per arm")
    parser.add_argument("--evals", type=int, default=2, help="evaluation points per arm, at regular CPU intervals")
    parser.add_argument("--articles", type=int, default=100, help="BBC News articles (500 for the figures)")
    parser.add_argument("--held-out", type=int, default=50, help="queries of each source's held-out split")
    parser.add_argument("--arms", default=None, help=f"comma-separated, from {', '.join(ARMS)} (default: all; "
                        "the quick default run: top2,head)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--negatives-kept", type=int, default=1, help="hard negatives kept per example (cached)")
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16", help="autocast of the trained layers")
    parser.add_argument("--save-every", type=int, default=25, help="steps between resumable checkpoints")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--report", action="store_true", help="print the table of the run folder and stop")
    args = parse_args(parser, quick={"examples": 64, "budget": 10, "evals": 1, "articles": 20, "held_out": 10,
                                     "arms": "top2,head"})
    quick = args.run is None
    temporary = tempfile.mkdtemp(prefix="lens-train-cpu-") if quick else None
    args.run = args.run or Path(temporary)
    names = args.arms.split(",") if args.arms else (["top2", "head"] if quick else list(ARMS))
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; choose from {', '.join(ARMS)}")
    arms = {n: ARMS[n] for n in names}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `kill` runs the finally blocks (CPU accounting)
    bench = Bench(args)
    if args.report:
        print(bench.table(arms))
        return
    try:
        start = cpu_now()
        from lens_vdb.train import load_examples

        mix, held_files = build_data(args.data or args.run / "data", args.examples, args.held_out)
        # the first (best BM25) hard negative of each example: the others would triple the texts to cache
        examples = [replace(e, negatives=e.negatives[: args.negatives_kept]) for e in load_examples(mix)]
        corpora = eval_corpora(held_files, args.articles, args.held_out)
        if cpu_now() - start > 5:
            bench.add_cost("data", cpu_now() - start)
        print(f"{len(examples)} training examples; evaluation: " + ", ".join(
            f"{n} {c.size} queries / {len(c.documents)} documents" for n, (c, _) in corpora.items()), flush=True)
        bench.fill_shared(examples, corpora, arms)
        for name, arm in arms.items():
            print(f"arm {name}: {arm}", flush=True)
            bench.run_arm(name, arm, examples, corpora)
        print(bench.table(arms))
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    main()
