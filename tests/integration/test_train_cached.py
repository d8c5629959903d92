"""The cheap CPU training mode on tiny seeded models: the split forward equals the full model, the
hidden-state cache is keyed by model and text and refuses damage, training resumes identically, and
the saved model encodes as it trained."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lens_vdb import LensEncoder, LensModel, LensModelError
from lens_vdb._inference.features import pad_batch, tokenize_documents, tokenize_queries
from lens_vdb._instructions import TASKS
from lens_vdb.train import TrainConfig, train
from lens_vdb.train._cached import apply_trained
from lens_vdb.train._hidden_cache import HiddenCache, fill_caches
from lens_vdb.train._split import LowerStack, TopStack, lower_hidden
from tests.tiny import CORPUS, make_tokenizer, tiny_config

SENTENCES = sorted(set(CORPUS))
LAYERS = 4


def _deep_lens(root: Path, family: str) -> Path:
    """A tiny 4-layer LENS model of ``family`` (k=32, seeded)."""
    from transformers import AutoModelForCausalLM

    from lens_vdb import build_lens_model

    tokenizer = make_tokenizer(root / "base", lens_tokens=False)
    config = tiny_config(family, len(tokenizer), layers=LAYERS)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(root / "base")
    return build_lens_model(root / "base", k=32, seed=0, niter=10).save_pretrained(root / "lens")


@pytest.fixture(scope="module")
def deep_dirs(tmp_path_factory) -> dict[str, Path]:
    return {family: _deep_lens(tmp_path_factory.mktemp(f"deep_{family}"), family) for family in ("llama", "qwen2")}


def _batch(model: LensModel, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    texts = SENTENCES[:5]
    if side == "queries":
        ids = tokenize_queries(model.tokenizer, [" ".join(t.split()[:3]) for t in texts],
                               TASKS["retrieval"].instruction, 64).ids
    else:
        ids = tokenize_documents(model.tokenizer, texts, 64).ids
    input_ids, mask = pad_batch(ids, model.tokenizer.eos_token_id)
    return torch.from_numpy(input_ids), torch.from_numpy(mask)


@pytest.mark.parametrize("family", ["llama", "qwen2"])
@pytest.mark.parametrize("side", ["queries", "documents"])
def test_lower_plus_top_equals_the_full_model(deep_dirs, family, side):
    model = LensModel.from_pretrained(deep_dirs[family]).eval()
    input_ids, mask = _batch(model, side)
    assert mask.sum(dim=1).unique().numel() > 1  # padded rows: the masks must carry over
    with torch.no_grad():
        full = model(input_ids, mask)
        for start in range(LAYERS + 1):
            split = TopStack(model, start)(lower_hidden(model, input_ids, mask, start), input_ids, mask)
            torch.testing.assert_close(split, full, atol=1e-5, rtol=0)
            # two lower stacks chained (the cache fills several layers in one pass) are the same
            first = LowerStack(model, 1)(input_ids, mask)
            chained = LowerStack(model, start, start=1)(None, mask, first) if start >= 1 else None
            if chained is not None:
                torch.testing.assert_close(chained, lower_hidden(model, input_ids, mask, start), atol=1e-5, rtol=0)


def test_a_shallow_top_stack_equals_the_truncated_model(deep_dirs, tmp_path):
    from lens_vdb._model.top import shorten_backbone

    model = LensModel.from_pretrained(deep_dirs["llama"]).eval()
    input_ids, mask = _batch(model, "documents")
    with torch.no_grad():
        split = TopStack(model, 1, end=2)(lower_hidden(model, input_ids, mask, 1), input_ids, mask)
        shorten_backbone(model, 2)
        saved = LensModel.from_pretrained(model.save_pretrained(tmp_path / "shallow")).eval()
        assert len(saved.backbone.layers) == 2
        torch.testing.assert_close(split, saved(input_ids, mask), atol=1e-5, rtol=0)


def _texts(model: LensModel) -> list[list[int]]:
    return tokenize_documents(model.tokenizer, SENTENCES, 64).ids


def test_the_cache_stores_each_text_once_and_keys_on_the_lower_layers(deep_dirs, tmp_path):
    model = LensModel.from_pretrained(deep_dirs["llama"]).eval()
    sequences = _texts(model)
    caches = [HiddenCache(tmp_path, model, layer, storage="fp32") for layer in (2, 3)]
    assert fill_caches(model, caches, sequences + sequences[:3], batch_tokens=64) == len(sequences)
    for cache in caches:
        assert len(cache) == len(sequences)
        for ids in sequences[:4]:
            expected = lower_hidden(model, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), cache.layer)
            torch.testing.assert_close(cache.get(ids), expected[0], atol=1e-5, rtol=0)
    reopened = HiddenCache(tmp_path, model, 2, storage="fp32")  # a rerun: nothing left to compute
    assert fill_caches(model, [reopened], sequences) == 0 and len(reopened) == len(sequences)
    changed = tokenize_documents(model.tokenizer, [SENTENCES[0] + " Again."], 64).ids
    assert reopened.missing(changed) == [0]  # another text is another key
    with torch.no_grad():  # a layer above the cache's does not change it; one below does
        model.backbone.layers[3].mlp.up_proj.weight.add_(0.1)
        assert HiddenCache(tmp_path, model, 2, storage="fp32").directory == reopened.directory
        model.backbone.layers[1].mlp.up_proj.weight.add_(0.1)
        moved = HiddenCache(tmp_path, model, 2, storage="fp32")
    assert moved.directory != reopened.directory and len(moved) == 0
    assert HiddenCache(tmp_path, model, 2, storage="bf16").directory != moved.directory


def test_a_damaged_cache_is_a_clear_error(deep_dirs, tmp_path):
    model = LensModel.from_pretrained(deep_dirs["llama"]).eval()
    sequences = _texts(model)
    cache = HiddenCache(tmp_path, model, 2, storage="fp32")
    fill_caches(model, [cache], sequences)
    index = cache.directory / "index.jsonl"
    lines = index.read_text().splitlines()
    index.write_text("\n".join(lines) + '\n{"k": "torn')  # killed while writing its last line: dropped
    assert len(HiddenCache(tmp_path, model, 2, storage="fp32")) == len(sequences)
    index.write_text("\n".join([lines[0], "not json", *lines[1:]]) + "\n")
    with pytest.raises(LensModelError, match=r"Line 2 .* is corrupt.*delete"):
        HiddenCache(tmp_path, model, 2, storage="fp32")
    index.write_text("\n".join(lines) + "\n")
    shard = cache.directory / "shard-00000.bin"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(LensModelError, match="points past the end of shard-00000.bin; delete the folder"):
        HiddenCache(tmp_path, model, 2, storage="fp32")
    (cache.directory / "meta.json").write_text("{")
    with pytest.raises(LensModelError, match="unreadable"):
        HiddenCache(tmp_path, model, 2, storage="fp32")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    rows = []
    for i, text in enumerate(SENTENCES):
        negatives = [SENTENCES[(i + j) % len(SENTENCES)] for j in (1, 3)]
        rows.append({"query": " ".join(text.split()[:4]), "pos": text, "neg": negatives, "task": "retrieval"})
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


CONFIG = TrainConfig(epochs=8, batch_size=4, learning_rate=3e-3, warmup_steps=1, save_every=2, seed=3,
                     negatives=1, query_max_length=32, doc_max_length=32, train_layers=1, cache_precision="fp32")


def test_cached_training_learns_and_saves_a_model_that_encodes_as_it_trained(deep_dirs, data, tmp_path):
    config = replace(CONFIG, cache_dir=str(tmp_path / "cache"))
    result = train(deep_dirs["llama"], data, tmp_path / "run", config)
    assert np.mean(result.losses[-3:]) < 0.5 * np.mean(result.losses[:3]), result.losses
    start, trained = LensModel.from_pretrained(deep_dirs["llama"]), result.model
    changed = {name for name, p in trained.named_parameters()
               if not torch.equal(p.detach(), dict(start.named_parameters())[name])}
    assert changed and all(name.startswith(("backbone.layers.3.", "head.")) for name in changed), sorted(changed)
    # the saved folder, through LensEncoder, gives the vectors of the training-time forward
    queries = [" ".join(t.split()[:4]) for t in SENTENCES]
    encoder = LensEncoder(result.model_dir, max_length=32)
    ids, mask = map(torch.from_numpy, pad_batch(tokenize_documents(trained.tokenizer, SENTENCES, 32).ids, 2))
    top = TopStack(trained, 3)
    with torch.no_grad():
        expected = top(lower_hidden(trained, ids, mask, 3), ids, mask).numpy()
    np.testing.assert_allclose(encoder.encode_documents(SENTENCES), expected, atol=1e-5)
    scores = encoder.encode_queries(queries) @ encoder.encode_documents(SENTENCES).T
    assert np.mean(scores.argmax(axis=1) == np.arange(len(SENTENCES))) >= 0.8
    # the small part (top/) applied to the start model is the trained model (fp16 storage)
    rebuilt = apply_trained(LensModel.from_pretrained(deep_dirs["llama"]), result.adapter_dir / "trained.safetensors")
    rebuilt_vectors = LensEncoder(rebuilt, max_length=32).encode_documents(SENTENCES)
    np.testing.assert_allclose(rebuilt_vectors, expected, atol=2e-3)
    info = json.loads((result.adapter_dir / "top.json").read_text())
    assert info["trained_layers"] == [3, 4] and info["backbone_layers"] == LAYERS


def test_cached_training_resumes_identically_and_reuses_its_cache(deep_dirs, data, tmp_path):
    config = replace(CONFIG, max_steps=4, cache_dir=str(tmp_path / "cache"), train_layers=2)
    straight = train(deep_dirs["llama"], data, tmp_path / "straight", config, merge=False)
    cache_dir = next((tmp_path / "cache").iterdir())
    stamp = (cache_dir / "index.jsonl").stat().st_mtime_ns
    train(deep_dirs["llama"], data, tmp_path / "split", config, merge=False, stop_after_step=2)
    resumed = train(deep_dirs["llama"], data, tmp_path / "split", config, merge=False)
    assert resumed.losses == straight.losses[2:]
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert (cache_dir / "index.jsonl").stat().st_mtime_ns == stamp  # nothing computed again
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_head_only_and_a_shallower_backbone(deep_dirs, data, tmp_path):
    head = train(deep_dirs["llama"], data, tmp_path / "head",
                 replace(CONFIG, max_steps=3, train_layers=0, cache_dir=str(tmp_path / "cache")), merge=False)
    start = LensModel.from_pretrained(deep_dirs["llama"])
    assert all(torch.equal(p, dict(start.backbone.named_parameters())[n]) for n, p in head.model.backbone.named_parameters())
    assert not torch.equal(head.model.head.weight, start.head.weight)
    shallow = train(deep_dirs["llama"], data, tmp_path / "shallow",
                    replace(CONFIG, max_steps=3, backbone_layers=2, cache_dir=str(tmp_path / "cache")))
    assert len(LensModel.from_pretrained(shallow.model_dir).backbone.layers) == 2


def test_the_cli_trains_the_top_layers_and_reuses_the_cache(deep_dirs, data, tmp_path, capsys):
    from lens_vdb.cli import main

    common = ["train", str(data), "--model", str(deep_dirs["llama"]), "--train-layers", "1", "--max-steps", "3",
              "--batch-size", "4", "--negatives", "1", "--no-center-head", "--cache-dir", str(tmp_path / "cache"),
              "--precision", "fp32"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "step 3" in out and "trained layers + head" in out
    index = next((tmp_path / "cache").iterdir()) / "index.jsonl"
    entries = index.read_text().count("\n")
    assert entries >= len(SENTENCES)
    assert main([*common, "--out", str(tmp_path / "b")]) == 0  # another run on the same model and data
    assert index.read_text().count("\n") == entries  # nothing computed again
    trained = LensModel.from_pretrained(tmp_path / "b" / "model")
    start = LensModel.from_pretrained(deep_dirs["llama"])
    assert torch.equal(trained.backbone.layers[2].mlp.up_proj.weight, start.backbone.layers[2].mlp.up_proj.weight)
    assert not torch.equal(trained.backbone.layers[3].mlp.up_proj.weight, start.backbone.layers[3].mlp.up_proj.weight)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--train-layers N" in capsys.readouterr().out


def test_cached_eval_system_gives_the_encoders_vectors(deep_dirs, tmp_path):
    from lens_vdb.eval import Corpus, evaluate
    from lens_vdb.train._cached_eval import CachedLensSystem

    model = LensModel.from_pretrained(deep_dirs["llama"]).eval()
    cache = HiddenCache(tmp_path, model, 2, storage="fp32")
    system = CachedLensSystem("cached", TopStack(model, 2), cache, max_length=64, query_max_length=64)
    encoder = LensEncoder(model, max_length=64)
    queries = [" ".join(t.split()[:4]) for t in SENTENCES]
    np.testing.assert_allclose(system.embed_documents(SENTENCES), encoder.encode_documents(SENTENCES), atol=1e-5)
    np.testing.assert_allclose(system.embed_queries(queries), encoder.encode_queries(queries), atol=1e-5)
    assert len(cache) == 2 * len(SENTENCES)  # filled on first use
    report = evaluate(Corpus.known_item("tiny", queries, SENTENCES), [system], bm25=False, bootstrap=0)
    assert 0 < report.rows[0].retrieval["mrr@10"] <= 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on CI); run on a GPU machine")
def test_cached_training_on_cuda(deep_dirs, data, tmp_path):
    """The same cheap mode on a GPU: the cache is filled there (bf16), the top layers train in bf16 autocast."""
    config = replace(CONFIG, device="cuda", precision="auto", cache_precision="auto", cache_dir=str(tmp_path / "c"))
    result = train(deep_dirs["llama"], data, tmp_path / "run", config)
    assert np.mean(result.losses[-3:]) < 0.5 * np.mean(result.losses[:3]), result.losses
    encoder = LensEncoder(result.model_dir, device="cpu", max_length=32)
    queries = [" ".join(t.split()[:4]) for t in SENTENCES]
    scores = encoder.encode_queries(queries) @ encoder.encode_documents(SENTENCES).T
    assert np.mean(scores.argmax(axis=1) == np.arange(len(SENTENCES))) >= 0.8


def test_a_cached_step_embeds_rows_in_length_groups_as_one_padded_batch(deep_dirs, tmp_path):
    from lens_vdb.train._cached import CachedStep

    model = LensModel.from_pretrained(deep_dirs["llama"]).eval()
    ids = tokenize_documents(model.tokenizer, [t * (1 + i % 3) for i, t in enumerate(SENTENCES)], 64).ids
    cache = HiddenCache(tmp_path, model, 2, storage="fp32")
    fill_caches(model, [cache], ids)
    input_ids, mask = map(torch.from_numpy, pad_batch(ids, 2))
    with torch.no_grad():
        grouped = CachedStep(TopStack(model, 2), cache, "cpu", rows=3)(input_ids, mask)
        whole = model(input_ids, mask)
    torch.testing.assert_close(grouped, whole, atol=1e-5, rtol=0)
