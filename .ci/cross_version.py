#!/usr/bin/env python3
"""A LENS model built under one transformers encodes the same under the other (4.57.x and 5.x venvs).

transformers 5 writes config and tokenizer files that 4.57 misreads, reads SmolLM2's GGUF
tokenizer without the BOS that 4.57 adds, and picks other tokenizer classes for some model types;
lens-vdb evens all of it out (lens_vdb/_model/compat.py, default.py). This runs the real thing: tiny
Mistral, Llama and Qwen2 LENS models built in each venv, and the default model that each suite
built in its own cache, each encoded in both venvs, must give the same vectors. Each venv builds in one
process and encodes in one more, the two venvs at once.

    python .ci/cross_version.py run --v4 .venv/bin/python --v5 .venv-tf5/bin/python \\
        --home4 ~/.cache/lens-vdb --home5 .cache/lens-vdb-tf5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ("mistral", "llama", "qwen2")
TOLERANCE = 1e-5
QUERIES = ["interest rates and inflation", "who won the cup final <query> at Wembley"]
DOCS = ["The Bank of England raised interest rates to curb inflation.", "Chelsea won </s> the cup <query> final.",
        "The quick brown fox jumps over the lazy dog near the river bank, and the film won three awards."]


def build(directory: str, *families: str) -> None:
    """(in a venv) a tiny LENS model of each family saved into ``directory/<family>/lens``."""
    from lens_vdb import build_lens_model
    from tests.tiny import make_causal_lm

    for family in families:
        base = make_causal_lm(Path(directory) / family / "base", family)
        build_lens_model(base, k=32, seed=0, niter=10).save_pretrained(Path(directory) / family / "lens")


def encode(jobs_file: str) -> None:
    """(in a venv) for each job of ``jobs_file`` (JSON: source, lens-vdb home or null, out), the queries and
    documents encoded by ``source`` (``default``: the default model of that home) saved into ``out``."""
    import numpy as np

    from lens_vdb import LensEncoder

    for source, home, out in json.loads(Path(jobs_file).read_text()):
        if home:
            os.environ["LENS_VDB_HOME"] = home  # read when the default model is resolved
        encoder = LensEncoder(None if source == "default" else source, max_length=128)
        np.save(out, np.concatenate([encoder.encode_queries(QUERIES), encoder.encode_documents(DOCS)]))


def _call(python: str, *args: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([python, __file__, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{python} {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def _in_both(pythons: dict[str, str], args_of: Callable[[str], list[str]]) -> None:
    """One call in each venv, the two at once (each a process that imports torch and transformers once)."""
    with ThreadPoolExecutor(len(pythons)) as pool:
        list(pool.map(lambda label: _call(pythons[label], *args_of(label)), pythons))


def _vectors_file(work: Path, what: str, built_by: str, run_by: str) -> Path:
    """Where the encode step saves ``what``, built under ``built_by`` and run under ``run_by``."""
    return work / f"{what.replace(' ', '-')}-{built_by}-{run_by}.npy"


def run(args: argparse.Namespace) -> int:
    import numpy as np

    pythons = {"4.57": args.v4, "5.x": args.v5}
    work = Path(tempfile.mkdtemp(prefix="lens-vdb-cross-"))
    _in_both(pythons, lambda label: ["build", str(work / label), *FAMILIES])
    cases = []  # (what, {built-by: source}, {built-by: LENS_VDB_HOME}, must the builds agree too)
    for family in FAMILIES:
        # a base model's tokenizer is transformers' choice (5.x loads a qwen2 base as Qwen2Tokenizer), so two
        # builds may differ; what one build saved must encode the same under both versions
        cases.append((f"tiny {family}", {label: str(work / label / family / "lens") for label in pythons}, {}, False))
    # the default model is pinned: built under either version, it is the model that was trained
    cases.append(("default model", {"4.57": "default", "5.x": "default"}, {"4.57": args.home4, "5.x": args.home5}, True))
    jobs: dict[str, list[tuple[str, str | None, str]]] = {label: [] for label in pythons}  # run by -> jobs
    for what, sources, homes, _ in cases:
        for built_by, source in sources.items():
            for run_by in pythons:
                jobs[run_by].append((source, homes.get(built_by), str(_vectors_file(work, what, built_by, run_by))))
    for run_by, run_jobs in jobs.items():
        (work / f"jobs-{run_by}.json").write_text(json.dumps(run_jobs))
    _in_both(pythons, lambda label: ["encode", str(work / f"jobs-{label}.json")])
    failed = 0
    for what, sources, _, builds_agree in cases:
        vectors = {(built_by, run_by): np.load(_vectors_file(work, what, built_by, run_by))
                   for built_by in sources for run_by in pythons}
        runs = max(float(np.abs(vectors[b, "4.57"] - vectors[b, "5.x"]).max()) for b in sources)
        builds = float(np.abs(vectors["4.57", "4.57"] - vectors["5.x", "5.x"]).max())
        ok = runs <= TOLERANCE and (builds <= TOLERANCE or not builds_agree)
        ok = ok and all(float(np.abs(v).max()) > 0 for v in vectors.values())
        failed += not ok
        print(f"[{'ok' if ok else 'FAILED'}] {what}: one saved model run under 4.57 and 5.x, max abs diff {runs:.1e}; "
              f"built under 4.57 vs 5.x {builds:.1e}{'' if builds_agree else ' (may differ)'}")
    print(f"cross-version: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build").add_argument("dir_and_families", nargs="+")
    sub.add_parser("encode").add_argument("jobs_file")
    both = sub.add_parser("run")
    for flag in ("--v4", "--v5", "--home4", "--home5"):
        both.add_argument(flag, required=True)
    args = parser.parse_args()
    if args.command == "build":
        build(*args.dir_and_families)
    elif args.command == "encode":
        encode(args.jobs_file)
    else:
        return run(args)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
