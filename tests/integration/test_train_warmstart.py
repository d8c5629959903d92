"""Training that goes on from a trained adapter (how the retrieval run continues the shipped default model)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lens_vdb import LensModel, LensModelError
from lens_vdb.train import TrainConfig, merge_trained, train
from lens_vdb.train._adapters import LORA_TARGETS, attach_lora
from tests.tiny import CORPUS

SENTENCES = sorted(set(CORPUS))
CONFIG = TrainConfig(max_steps=3, batch_size=4, learning_rate=2e-3, warmup_steps=1, save_every=0, seed=3,
                     lora_r=4, lora_alpha=8, query_max_length=32, doc_max_length=32)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    rows = [{"query": " ".join(t.split()[:4]), "pos": t, "neg": [SENTENCES[(i + 1) % len(SENTENCES)]],
             "task": "retrieval"} for i, t in enumerate(SENTENCES)]
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _attach(model: LensModel, init_from, r: int = 4) -> LensModel:
    return attach_lora(model, r=r, alpha=8, dropout=0.0, targets=LORA_TARGETS, train_head=True,
                       gradient_checkpointing=False, init_from=init_from)


def test_the_adapter_started_from_gives_the_trained_model_back(built_dirs, data, tmp_path):
    first = train(built_dirs["llama"], data, tmp_path / "first", CONFIG)
    base = LensModel.from_pretrained(built_dirs["llama"])
    base.head.weight.data.copy_(first.model.head.weight)  # the head ships beside the adapter
    started = merge_trained(_attach(base, first.adapter_dir))
    trained = LensModel.from_pretrained(first.model_dir)
    for name, tensor in trained.backbone.state_dict().items():
        assert torch.allclose(started.backbone.state_dict()[name], tensor, atol=2e-3), name  # fp16 adapter
    fresh = merge_trained(_attach(LensModel.from_pretrained(built_dirs["llama"]), None))
    assert any(not torch.allclose(fresh.backbone.state_dict()[n], t, atol=2e-3)
               for n, t in trained.backbone.state_dict().items())  # the check above can fail


def test_a_run_from_an_adapter_goes_on_and_its_setting_is_part_of_resume(built_dirs, data, tmp_path):
    first = train(built_dirs["llama"], data, tmp_path / "first", CONFIG, merge=False)
    config = replace(CONFIG, init_adapter=str(first.adapter_dir), center_head=False, learning_rate=1e-3)
    second = train(built_dirs["llama"], data, tmp_path / "second", config, merge=False)
    assert second.step == 3 and all(loss == loss for loss in second.losses)
    with pytest.raises(Exception, match="init_adapter"):
        train(built_dirs["llama"], data, tmp_path / "second", replace(config, max_steps=4, init_adapter=None))


def test_an_adapter_of_another_rank_is_refused_by_name(built_dirs, data, tmp_path):
    first = train(built_dirs["llama"], data, tmp_path / "first", CONFIG, merge=False)
    with pytest.raises(LensModelError, match="r=4, alpha=8.*r=8"):
        _attach(LensModel.from_pretrained(built_dirs["llama"]), first.adapter_dir, r=8)
    with pytest.raises(LensModelError, match="Cannot read the LoRA adapter to start from"):
        _attach(LensModel.from_pretrained(built_dirs["llama"]), tmp_path)
