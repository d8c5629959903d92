"""What the cheap CPU training mode costs on this CPU: the once-per-text lower-layer forward (fp32, bf16
autocast, bf16 weights) and one training step of the top layers (head only, top 2 and 4 layers trained fully
or with LoRA r=32), fp32 and bf16 autocast, side by side in one run.

The default model (SmolLM2-135M, 30 layers, k=4000 head); a step is ``--queries`` queries of 40 tokens and
twice as many passages (a positive and a hard negative each) of ``--tokens`` tokens, over random hidden
states (a step's cost does not depend on their values). CPU seconds of this process, not wall time: on
shared cores the wall time says more about the neighbours than the option.

    python bench/train_top_cost.py [--queries 64] [--tokens 96] [--steps 2]
"""

from __future__ import annotations

import argparse
import os
import time

from _bench import parse_args  # bench/ is the script's folder, so on sys.path

from lens_vdb._machine import prefer_passive_openmp

os.environ.setdefault("HF_HUB_OFFLINE", "1")
prefer_passive_openmp()  # before torch loads: on busy shared cores spinning OpenMP threads burn CPU-seconds

import torch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=96, help="passage tokens")
    parser.add_argument("--steps", type=int, default=1)
    args = parse_args(parser, quick={"queries": 8, "tokens": 32})
    from lens_vdb import LensModel
    from lens_vdb._machine import cpu_info
    from lens_vdb._model.default import default_model_dir

    source = default_model_dir(version="wordnet-v1")
    print(f"CPU: {cpu_info().describe()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.queries} queries x 40 tokens + {2 * args.queries} passages x {args.tokens} tokens a step")
    lower_forward(LensModel.from_pretrained(source), args)
    print(f"\n{'trained part':<22} {'autocast':>8} {'CPU s/step':>10} {'tokens/CPU-s':>12} {'trained params':>14}")
    for layers in (0, 2, 4):
        for lora in ((False, True) if layers else (False,)):
            for amp in (None, torch.bfloat16):
                model = LensModel.from_pretrained(source)
                cost, params = top_step(model, layers, lora, amp, args)
                name = "head only" if not layers else f"top {layers} " + ("LoRA r=32" if lora else "full")
                tokens = args.queries * 40 + 2 * args.queries * args.tokens
                print(f"{name:<22} {'bf16' if amp else 'fp32':>8} {cost:>10.2f} {tokens / cost:>12.0f} "
                      f"{params / 1e6:>13.1f}M", flush=True)


def lower_forward(model, args) -> None:
    """Tokens per CPU-second of the first 26 layers (what the cache computes once per text)."""
    from lens_vdb.train._split import LowerStack

    ids = torch.randint(100, 40000, (32, args.tokens))
    mask = torch.ones_like(ids)
    print(f"{'lower 26 layers':<28} {'tokens/CPU-s':>12}")
    for name, dtype, autocast in (("fp32", None, False), ("fp32 weights, bf16 autocast", None, True),
                                  ("bf16 weights", torch.bfloat16, False)):
        stack = LowerStack(model, 26, dtype=dtype)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            stack(ids[:4], mask[:4])  # warm-up: kernels are chosen on the first call
            cpu = time.process_time()
            stack(ids, mask)
            cpu = time.process_time() - cpu
        print(f"{name:<28} {ids.numel() / cpu:>12.0f}", flush=True)


def top_step(model, layers: int, lora: bool, amp, args) -> tuple[float, int]:
    from lens_vdb.train._loss import info_nce
    from lens_vdb.train._split import TopStack

    total = len(model.backbone.layers)
    model.requires_grad_(False)
    if lora:
        from peft import LoraConfig, inject_adapter_in_model

        config = LoraConfig(r=32, lora_alpha=64, lora_dropout=0.0, layers_to_transform=list(range(total - layers, total)),
                            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        inject_adapter_in_model(config, model)  # only the lora_ weights require grad
    else:
        for block in model.backbone.layers[total - layers :]:
            block.requires_grad_(True)
    model.head.weight.requires_grad_(True)
    top = TopStack(model, total - layers)
    q_ids = torch.randint(100, 40000, (args.queries, 40))
    q_ids[:, 20] = model.query_token_id
    d_ids = torch.randint(100, 40000, (2 * args.queries, args.tokens))
    q_hidden, d_hidden = torch.randn(*q_ids.shape, 576), torch.randn(*d_ids.shape, 576)
    positive = torch.arange(args.queries) * 2
    allowed = torch.ones(args.queries, 2 * args.queries, dtype=torch.bool)

    def step() -> None:
        with torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            queries = top(q_hidden, q_ids, torch.ones_like(q_ids))
            documents = top(d_hidden, d_ids, torch.ones_like(d_ids))
            loss = info_nce(queries, documents, positive, allowed, 0.02)
        loss.backward()
        model.zero_grad(set_to_none=True)

    step()  # warm-up
    cpu = time.process_time()
    for _ in range(args.steps):
        step()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return (time.process_time() - cpu) / args.steps, params


if __name__ == "__main__":
    main()
