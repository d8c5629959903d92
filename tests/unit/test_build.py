"""Building LENS models from causal LMs: deterministic k-means, centroid head, cluster map, tokens."""

from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from lens_vdb import LensModel, build_lens_model, cluster_token_embeddings
from tests.tiny import make_causal_lm


def test_kmeans_is_seeded_and_deterministic():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((600, 16)).astype(np.float32)
    first = cluster_token_embeddings(vectors, 20, seed=3)
    second = cluster_token_embeddings(vectors, 20, seed=3)
    assert np.array_equal(first.centroids, second.centroids)
    assert np.array_equal(first.assignments, second.assignments)
    assert first.centroids.shape == (20, 16) and first.seconds >= 0


def test_the_head_is_the_centroids_of_the_lm_head_rows(tmp_path):
    base = make_causal_lm(tmp_path / "base", "qwen2")
    model = build_lens_model(base, k=16, seed=1, niter=5)
    lm_head = AutoModelForCausalLM.from_pretrained(base).get_output_embeddings().weight.detach().numpy()
    expected = cluster_token_embeddings(lm_head, 16, seed=1, niter=5).centroids
    assert np.allclose(model.head.weight.detach().numpy(), expected)
    # the cluster map holds every vocabulary token exactly once, nearest to its centroid first
    tokens = model.cluster_map.tokens.numpy()
    assert sorted(tokens.tolist()) == list(range(lm_head.shape[0]))
    c = 0
    members = model.cluster_map.cluster_tokens(c)
    distances = ((lm_head[members] - expected[c]) ** 2).sum(1)
    assert np.all(np.diff(distances) >= -1e-5)


def test_build_adds_lens_tokens_with_mean_embeddings(built_dirs):
    model = LensModel.from_pretrained(built_dirs["mistral"])
    emb = model.backbone.get_input_embeddings().weight
    ids = model.tokenizer.convert_tokens_to_ids(["<instruct>", "<query>", "<response>"])
    assert len(set(ids)) == 3 and max(ids) < emb.shape[0]
    assert torch.allclose(emb[ids[0]], emb[: min(ids)].mean(0), atol=1e-6)


def test_saved_files_are_the_documented_format(built_dirs):
    directory = built_dirs["llama"]
    names = {p.name for p in directory.iterdir()}
    assert {"config.json", "model.safetensors", "lens_config.json", "lens_head.safetensors"} <= names
    assert load_file(str(directory / "lens_head.safetensors"))["weight"].shape == (32, 64)
