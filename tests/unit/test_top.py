"""A trained top applied to its base model: one trained on a head clustered again at another k."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from lens_vdb import LensEncoder, build_lens_model
from lens_vdb._errors import LensModelError
from lens_vdb._files import CLUSTER_MAP_NAME
from lens_vdb._model.build import recluster_head
from lens_vdb._model.top import TOP_INFO, TOP_WEIGHTS, apply_trained
from tests.tiny import make_causal_lm


@pytest.fixture(scope="module")
def base_and_wide(tmp_path_factory):
    """A tied tiny model (k=100) and the same backbone under a trained-looking head of 200 clusters."""
    folder = tmp_path_factory.mktemp("top")
    base = build_lens_model(make_causal_lm(folder / "causal", "llama", tied=True), k=100, seed=1, niter=5)
    wide = recluster_head(base, 200, seed=1, niter=5)
    with torch.no_grad():
        wide.head.weight.mul_(1.5).add_(0.01)
    return folder, base, wide


def write_top(folder, wide, *, head=None, cluster_map=True):
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"head.weight": (wide.head.weight if head is None else head).detach().contiguous()},
              str(folder / TOP_WEIGHTS))
    (folder / TOP_INFO).write_text(json.dumps({"backbone_layers": 2, "train_head": True}))
    if cluster_map:
        wide.cluster_map.save(folder / CLUSTER_MAP_NAME)
    return folder / TOP_WEIGHTS


def test_a_top_with_its_own_clusters_puts_the_base_backbone_under_them(base_and_wide):
    folder, base, wide = base_and_wide
    model = apply_trained(build_lens_model(folder / "causal", k=100, seed=1, niter=5), write_top(folder / "a", wide))
    assert model.config.k == 200 and torch.equal(model.head.weight, wide.head.weight)
    assert torch.equal(model.cluster_map.tokens, wide.cluster_map.tokens)
    texts = ["a top of its own clusters"]
    got = LensEncoder(model, max_length=32).encode_documents(texts)
    assert torch.allclose(torch.as_tensor(got), torch.as_tensor(LensEncoder(wide, max_length=32).encode_documents(texts)))


def test_a_cluster_map_without_a_head_of_its_size_is_refused(base_and_wide):
    folder, base, wide = base_and_wide
    top = write_top(folder / "b", wide, head=base.head.weight)
    with pytest.raises(LensModelError, match=r"has 200 clusters but .*trained.safetensors holds no head of shape \(200, 64\)"):
        apply_trained(base, top)


def test_a_corrupt_cluster_map_names_the_file(base_and_wide):
    folder, base, wide = base_and_wide
    top = write_top(folder / "c", wide)
    (folder / "c" / CLUSTER_MAP_NAME).write_bytes(b"not safetensors")
    with pytest.raises(LensModelError, match="cluster_map.safetensors is corrupt"):
        apply_trained(base, top)
