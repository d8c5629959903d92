"""Cost of one LENS training step on this CPU: fp32 vs bf16 autocast, gradient checkpointing on and off.

Forward + backward of the default model (SmolLM2-135M, k=4000 head, LoRA r=32 on all 30 layers,
started from the shipped adapter) on ``--docs`` documents of ``--tokens`` tokens, each option
after one warm-up step, side by side in one run. CPU seconds of this process are printed beside
the wall time: on shared cores the wall time says more about the neighbours than the option.

    python bench/train_step_cost.py [--docs 16] [--tokens 128] [--steps 2]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from _bench import cpu_line, parse_args  # bench/ is the script's folder, so on sys.path

from lens_vdb._model.default import DEFAULT_ASSETS, assemble_smollm2
from lens_vdb.train._adapters import LORA_TARGETS, attach_lora

OPTIONS = {"fp32, checkpointing": (None, True), "bf16 autocast, checkpointing": (torch.bfloat16, True),
           "fp32, no checkpointing": (None, False), "bf16 autocast, no checkpointing": (torch.bfloat16, False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2)
    args = parse_args(parser, quick={"docs": 2, "tokens": 32, "steps": 1})
    torch.manual_seed(0)
    model = attach_lora(assemble_smollm2(DEFAULT_ASSETS), r=32, alpha=64, dropout=0.1, targets=LORA_TARGETS,
                        train_head=True, gradient_checkpointing=True, init_from=DEFAULT_ASSETS).train()
    ids = torch.randint(100, 40000, (args.docs, args.tokens))
    print(f"{cpu_line()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.docs} documents x {args.tokens} tokens per step")
    print(f"{'option':<34} {'CPU s/step':>10} {'wall s/step':>11} {'peak RSS GB':>11}")
    for name, (dtype, checkpointing) in OPTIONS.items():
        if checkpointing:
            model.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.backbone.gradient_checkpointing_disable()
        _step(model, ids, dtype)  # warm-up: oneDNN/MKL kernels are chosen on the first call
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(args.steps):
            _step(model, ids, dtype)
        cpu, wall = (time.process_time() - cpu) / args.steps, (time.perf_counter() - wall) / args.steps
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # so far: an upper bound per row
        print(f"{name:<34} {cpu:>10.1f} {wall:>11.1f} {peak:>11.1f}", flush=True)


def _step(model, ids: torch.Tensor, dtype) -> None:
    with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
        loss = model(ids, torch.ones_like(ids)).float().square().sum()
    loss.backward()
    model.zero_grad(set_to_none=True)


if __name__ == "__main__":
    main()
