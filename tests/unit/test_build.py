"""Building LENS models from causal LMs: deterministic k-means, centroid head, cluster map, tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from lens_vdb import LensEncoder, LensModel, build_lens_model, cluster_token_embeddings
from lens_vdb._errors import LensModelError
from lens_vdb._model.build import recluster_head
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


def test_a_tied_head_clusters_again_at_another_k_over_the_vocabulary_alone(tmp_path):
    base = make_causal_lm(tmp_path / "base", "llama", tied=True)
    narrow = build_lens_model(base, k=100, seed=1, niter=5)
    wide = recluster_head(narrow, 200, seed=1, niter=5)
    lm_head = AutoModelForCausalLM.from_pretrained(base).get_output_embeddings().weight.detach().numpy()
    fresh = cluster_token_embeddings(lm_head, 200, seed=1, niter=5).centroids
    # an untrained head is its centroids, so the map it learned is (close to) the identity
    assert np.allclose(wide.head.weight.detach().numpy(), fresh, atol=0.05)
    # every vocabulary token in exactly one cluster, the LENS tokens (added after the first clustering) in none
    assert sorted(wide.cluster_map.tokens.tolist()) == list(range(lm_head.shape[0]))
    assert wide.config.k == 200 and wide.cluster_map.k == 200 and wide.backbone is narrow.backbone
    assert LensEncoder(wide, max_length=32).encode_documents(["a wider head"]).shape == (1, 200)
    wide.save_pretrained(tmp_path / "wide")
    assert torch.equal(LensModel.from_pretrained(tmp_path / "wide").head.weight, wide.head.weight)


def test_what_a_head_learned_carries_over_to_the_new_clusters(tmp_path):
    base = make_causal_lm(tmp_path / "base", "llama", tied=True)
    narrow = build_lens_model(base, k=100, seed=1, niter=5)
    rows = narrow.backbone.get_input_embeddings().weight.detach()
    tokens, offsets = narrow.cluster_map.tokens, narrow.cluster_map.offsets.tolist()
    means = torch.stack([rows[tokens[a:b]].mean(0) for a, b in zip(offsets, offsets[1:])])
    learned, shift = torch.randn(64, 64, generator=torch.Generator().manual_seed(0)), torch.full((64,), 0.3)
    with torch.no_grad():  # a "trained" head: one linear map of the hidden space away from its centroids
        narrow.head.weight.copy_(means @ learned + shift)
    wide = recluster_head(narrow, 200, seed=1, niter=5)
    tokens, offsets = wide.cluster_map.tokens, wide.cluster_map.offsets.tolist()
    wide_means = torch.stack([rows[tokens[a:b]].mean(0) for a, b in zip(offsets, offsets[1:])])
    fresh = torch.from_numpy(cluster_token_embeddings(rows[:-3].numpy(), 200, seed=1, niter=5).centroids)
    assert torch.allclose(wide.head.weight, fresh @ learned + shift, atol=1e-3)
    assert not torch.allclose(wide.head.weight, wide_means, atol=0.1)


def test_an_untied_head_cannot_be_clustered_again_from_the_backbone(built_dirs):
    with pytest.raises(LensModelError, match="does not tie its LM head.*build_lens_model"):
        recluster_head(LensModel.from_pretrained(built_dirs["llama"]), 16)


def test_a_head_with_fewer_clusters_than_hidden_units_says_its_map_cannot_be_fitted(tmp_path):
    narrow = build_lens_model(make_causal_lm(tmp_path / "base", "llama", tied=True), k=16, seed=1, niter=5)
    with pytest.raises(LensModelError, match="16 filled clusters for a hidden size of 64"):
        recluster_head(narrow, 100)


def test_a_cluster_map_round_trips_and_a_wrong_k_or_a_corrupt_file_is_named(tmp_path, built_dirs):
    from lens_vdb import ClusterMap

    clusters = LensModel.from_pretrained(built_dirs["llama"]).cluster_map
    path = clusters.save(tmp_path / "cluster_map.safetensors")
    again = ClusterMap.load(path, k=clusters.k)
    assert torch.equal(again.tokens, clusters.tokens) and torch.equal(again.offsets, clusters.offsets)
    for cluster in (0, clusters.k // 2, clusters.k - 1):  # the token -> cluster lookup inverts the map
        assert {int(again.cluster_of[t]) for t in again.cluster_tokens(cluster)} == {cluster}
    assert (again.cluster_of >= 0).sum() == again.tokens.numel()
    with pytest.raises(LensModelError, match=f"has {clusters.k} clusters but the model has k=7"):
        ClusterMap.load(path, k=7)
    path.write_bytes(b"not safetensors")
    with pytest.raises(LensModelError, match="cluster_map.safetensors is corrupt.*export the model again"):
        ClusterMap.load(path, remedy="export the model again")
