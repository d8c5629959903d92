"""LENS training on a tiny seeded model: the loss falls, a resumed run continues identically, merging works."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lens_vdb import LensEncoder, LensInputError, LensModel, LensModelError
from lens_vdb.train import TrainConfig, train
from tests.tiny import CORPUS

SENTENCES = sorted(set(CORPUS))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Query = the first words of a sentence, positive = the sentence; plus a classification set."""
    rows = []
    for i, text in enumerate(SENTENCES):
        negatives = [SENTENCES[(i + j) % len(SENTENCES)] for j in (1, 3, 5)]
        rows.append({"query": " ".join(text.split()[:4]), "pos": text, "neg": negatives, "task": "retrieval"})
        rows.append({"query": text, "pos": text.upper(), "neg": [n.upper() for n in negatives],
                     "task": "classification", "dataset": "upper"})
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


CONFIG = TrainConfig(epochs=1, batch_size=4, learning_rate=2e-3, warmup_steps=1, save_every=2, seed=3,
                     lora_r=4, lora_alpha=8, query_max_length=32, doc_max_length=32)


def test_loss_falls_and_the_merged_model_encodes_better(built_dirs, data, tmp_path):
    from dataclasses import replace

    result = train(built_dirs["llama"], data, tmp_path / "run", replace(CONFIG, epochs=6))
    first, last = np.mean(result.losses[:6]), np.mean(result.losses[-6:])
    assert last < 0.5 * first, result.losses
    assert (tmp_path / "run" / "train_log.jsonl").read_text().count("\n") >= 3
    merged = LensModel.from_pretrained(result.model_dir)
    assert not any("lora" in name for name, _ in merged.named_parameters())
    trained, untrained = LensEncoder(merged), LensEncoder(built_dirs["llama"])
    queries = [" ".join(t.split()[:4]) for t in SENTENCES]

    def accuracy(encoder: LensEncoder) -> float:
        scores = encoder.encode_queries(queries) @ encoder.encode_documents(SENTENCES).T
        return float(np.mean(scores.argmax(axis=1) == np.arange(len(SENTENCES))))

    assert accuracy(trained) > accuracy(untrained)
    assert accuracy(trained) >= 0.8


def test_resume_from_a_checkpoint_continues_identically(built_dirs, data, tmp_path):
    from dataclasses import replace

    straight = train(built_dirs["llama"], data, tmp_path / "straight", replace(CONFIG, max_steps=4), merge=False)
    train(built_dirs["llama"], data, tmp_path / "split", replace(CONFIG, max_steps=4), merge=False,
          stop_after_step=2)
    resumed = train(built_dirs["llama"], data, tmp_path / "split", replace(CONFIG, max_steps=4), merge=False)
    assert resumed.losses == straight.losses[2:]  # bit-identical continuation: data, dropout, optimizer
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
    state = json.loads((tmp_path / "split" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 4 and state["param_groups"][0]["params"]


def test_resume_with_other_settings_is_refused(built_dirs, data, tmp_path):
    from dataclasses import replace

    train(built_dirs["llama"], data, tmp_path / "run", replace(CONFIG, max_steps=2), merge=False)
    with pytest.raises(LensInputError, match="batch_size"):
        train(built_dirs["llama"], data, tmp_path / "run", replace(CONFIG, max_steps=3, batch_size=2), merge=False)
    (tmp_path / "run" / "checkpoint" / "optimizer.safetensors").write_bytes(b"garbage")
    with pytest.raises(LensModelError, match="Delete it to start over"):
        train(built_dirs["llama"], data, tmp_path / "run", replace(CONFIG, max_steps=3), merge=False)


def test_core_merge_of_the_exported_adapter_equals_peft_merge(built_dirs, data, tmp_path):
    """The shipped-adapter path (no peft) builds the same model as peft's merge_and_unload."""
    from dataclasses import replace

    from lens_vdb._model.lora import merge_lora_adapter

    result = train(built_dirs["llama"], data, tmp_path / "run", replace(CONFIG, max_steps=3))
    base = LensModel.from_pretrained(built_dirs["llama"])
    merge_lora_adapter(base.backbone, result.adapter_dir)
    merged = LensModel.from_pretrained(result.model_dir)
    for name, tensor in merged.backbone.state_dict().items():
        # the adapter is stored in fp16: equal up to that rounding
        assert torch.allclose(base.backbone.state_dict()[name], tensor, atol=2e-3), name
    from safetensors.torch import load_file, save_file

    weights = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    key = next(k for k in weights if k.endswith("lora_B.weight"))
    weights[key] = weights[key][:-1].contiguous()  # an adapter made for a narrower model
    save_file(weights, str(result.adapter_dir / "adapter_model.safetensors"))
    with pytest.raises(LensModelError, match="another base model"):
        merge_lora_adapter(base.backbone, result.adapter_dir)
    (result.adapter_dir / "adapter_model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(LensModelError, match="Cannot read the LoRA adapter"):
        merge_lora_adapter(base.backbone, result.adapter_dir)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on CI); run on a GPU machine")
def test_training_on_cuda_in_bf16_with_gradient_checkpointing(built_dirs, data, tmp_path):
    """The GPU path of the recipe: bf16 autocast, gradient checkpointing, then a merged model that encodes anywhere."""
    from dataclasses import replace

    config = replace(CONFIG, epochs=6, device="cuda", precision="auto", gradient_checkpointing=True)
    result = train(built_dirs["llama"], data, tmp_path / "run", config)
    assert np.mean(result.losses[-6:]) < 0.5 * np.mean(result.losses[:6]), result.losses
    cpu, gpu = LensEncoder(result.model_dir, device="cpu"), LensEncoder(result.model_dir, device="cuda")
    assert (cpu.encode_documents(SENTENCES) * gpu.encode_documents(SENTENCES)).sum(1).min() > 0.9999
