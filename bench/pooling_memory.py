"""Peak memory of LENS pooling: the literal official formula vs lens-vdb's chunked max-of-logits.

Each variant runs in its own subprocess; the table reports the peak RSS each adds on top of its
inputs, side by side, and the ratio. Part 1: pooling alone at k=8000, batch 32, 512 tokens,
SmolLM2's hidden size 576. Part 2: a whole forward pass of the default SmolLM2 LENS model
(k=4000) at batch 32, 512 tokens, with each pooling plugged in.

    python bench/pooling_memory.py [--batch 32] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _bench import parse_args  # bench/ is the script's folder, so on sys.path

POOLING_ONLY = r"""
import json, resource, torch
from lens_vdb._model.pooling import lexicon_pool, naive_lexicon_pool
torch.manual_seed(0)
hidden = torch.randn(BATCH, 512, 576); head = torch.randn(8000, 576) * 0.05
mask = torch.ones(BATCH, 512, dtype=torch.bool); mask[:, -2:] = False
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.inference_mode():
    out = (naive_lexicon_pool(hidden, head, mask.float()) if VARIANT == "naive" else lexicon_pool(hidden, head, mask))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"added_mib": (peak - base) / 1024, "checksum": float(out.sum())}))
"""

END_TO_END = r"""
import json, resource, torch
import lens_vdb._model.lens_model as model_module
from lens_vdb import LensModel
from lens_vdb._model.default import default_model_dir
from lens_vdb._model.pooling import naive_lexicon_pool
model = LensModel.from_pretrained(default_model_dir())
if VARIANT == "naive":
    model_module.lexicon_pool = lambda h, w, m, r, chunked=True: naive_lexicon_pool(h, w, m.float(), r)
ids = torch.randint(10, 40000, (BATCH, 512)); mask = torch.ones_like(ids)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.inference_mode():
    out = model(ids, mask)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"added_mib": (peak - base) / 1024, "checksum": float(out.sum())}))
"""


def measure(code: str, variant: str, batch: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", f"VARIANT = {variant!r}\nBATCH = {batch}\n{code}"], capture_output=True, text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="texts of 512 tokens per forward")
    args = parse_args(parser, quick={"batch": 4})
    from lens_vdb._machine import cpu_info

    print(f"CPU: {cpu_info().describe()}")
    print("| case | naive peak RSS added (MiB) | lens-vdb chunked (MiB) | naive / chunked | same result |")
    print("|---|---|---|---|---|")
    for name, code in ((f"pooling only, k=8000, {args.batch}x512", POOLING_ONLY),
                       (f"SmolLM2 forward, k=4000, {args.batch}x512", END_TO_END)):
        naive, chunked = measure(code, "naive", args.batch), measure(code, "chunked", args.batch)
        same = abs(naive["checksum"] - chunked["checksum"]) < 1e-2 * max(1.0, abs(naive["checksum"]))
        ratio = naive["added_mib"] / max(chunked["added_mib"], 1.0)
        print(f"| {name} | {naive['added_mib']:.0f} | {chunked['added_mib']:.0f} | {ratio:.1f}x | {same} |")


if __name__ == "__main__":
    main()
