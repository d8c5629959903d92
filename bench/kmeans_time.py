"""Time to build a LENS head from SmolLM2-135M's LM head (49,152 tokens x 576) with faiss k-means.

k=4000 and k=8000, 20 iterations, seed 0, measured side by side in one run. The ratio is the
figure to compare across machines; the seconds are for this machine.

    python bench/kmeans_time.py [--iterations 20] [--quick]
"""

from __future__ import annotations

import argparse

import faiss
from _bench import parse_args  # bench/ is the script's folder, so on sys.path

from lens_vdb import cluster_token_embeddings
from lens_vdb._model.default import smollm2_gguf


def lm_head_rows():
    import torch
    from transformers import AutoModelForCausalLM

    directory, gguf_file = smollm2_gguf()
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=gguf_file, dtype=torch.float32)
    return model.get_output_embeddings().weight.detach().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20, help="k-means iterations (the default model: 20)")
    args = parse_args(parser, quick={"iterations": 2})
    rows = lm_head_rows()
    results = {k: cluster_token_embeddings(rows, k, seed=0, niter=args.iterations) for k in (4000, 8000)}
    base = results[4000].seconds
    from lens_vdb._machine import cpu_info

    print(f"CPU: {cpu_info().describe()}")
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {rows.shape[0]} tokens x {rows.shape[1]}, "
          f"{args.iterations} iterations")
    print("| k | seconds | ratio to k=4000 | empty clusters |")
    print("|---|---|---|---|")
    for k, result in results.items():
        empty = k - len(set(result.assignments.tolist()))
        print(f"| {k} | {result.seconds:.1f} | {result.seconds / base:.2f} | {empty} |")


if __name__ == "__main__":
    main()
