"""Loading official and lens-vdb checkpoints: safe unpickling, round trips, clear errors on bad files."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from lens_vdb import LensEncoder, LensModel, LensModelError
from tests.tiny import make_official_checkpoint


def test_official_layout_loads_with_the_head_and_config_fixed(official_dir):
    model = LensModel.from_pretrained(official_dir)
    assert model.k == 48 and model.config.source_format == "official"
    # config.json advertised vocab_size = k; the embedding table is the truth
    assert model.backbone.get_input_embeddings().weight.shape[0] == len(model.tokenizer)
    head = torch.load(official_dir / "lm_head.pth", weights_only=False)  # trusted: the test made it
    assert torch.equal(model.head.weight, head.weight)


def test_own_format_round_trip_is_bit_exact(built_dirs, tmp_path):
    model = LensModel.from_pretrained(built_dirs["llama"])
    saved = model.save_pretrained(tmp_path / "again")
    again = LensModel.from_pretrained(saved)
    first, second = model.state_dict(), again.state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert again.config == model.config
    assert torch.equal(again.cluster_map.tokens, model.cluster_map.tokens)
    texts = ["The Bank of England raised interest rates.", "fox"]
    assert np.array_equal(LensEncoder(model).encode_documents(texts), LensEncoder(again).encode_documents(texts))


def test_an_official_checkpoint_saves_to_the_own_format(official_dir, tmp_path):
    model = LensModel.from_pretrained(official_dir)
    again = LensModel.from_pretrained(model.save_pretrained(tmp_path / "own"))
    queries = ["bank rates", "cup final"]
    assert np.array_equal(LensEncoder(model).encode_queries(queries), LensEncoder(again).encode_queries(queries))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/lens_vdb_pwned",))


def test_a_malicious_head_pickle_is_refused_without_running_code(official_dir, tmp_path):
    target = tmp_path / "evil"
    shutil.copytree(official_dir, target)
    if os.path.exists("/tmp/lens_vdb_pwned"):
        os.remove("/tmp/lens_vdb_pwned")
    torch.save({"weight": _Exploit()}, target / "lm_head.pth")
    with pytest.raises(LensModelError, match="Refused to load .*lm_head.pth") as error:
        LensModel.from_pretrained(target)
    assert not os.path.exists("/tmp/lens_vdb_pwned")
    message = str(error.value)
    assert "system" in message and "never unpickles" in message  # names what it refused, and why
    assert "weights_only" not in message  # not torch's advice to turn the check off


def test_a_head_of_the_wrong_hidden_size_says_what_was_expected(tmp_path):
    directory = make_official_checkpoint(tmp_path / "bad", hidden_size=32)
    with pytest.raises(LensModelError, match=r"shape \(48, 32\), expected \(48, 64\)"):
        LensModel.from_pretrained(directory)


@pytest.mark.parametrize("victim", ["lens_head.safetensors", "lens_config.json", "model.safetensors"])
def test_corrupt_files_of_the_own_format_fail_clearly(built_dirs, tmp_path, victim):
    target = tmp_path / "corrupt"
    shutil.copytree(built_dirs["llama"], target)
    (target / victim).write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(LensModelError, match="Cannot"):
        LensModel.from_pretrained(target)


def test_a_head_without_the_cluster_map_its_config_announces_fails(built_dirs, tmp_path):
    target = tmp_path / "no_map"
    shutil.copytree(built_dirs["llama"], target)
    head = load_file(target / "lens_head.safetensors")
    assert {"cluster_tokens", "cluster_offsets"} <= set(head)  # what a saved model holds
    save_file({"weight": head["weight"]}, str(target / "lens_head.safetensors"))
    with pytest.raises(LensModelError, match="lens_head.safetensors lacks the cluster map its config announces"):
        LensModel.from_pretrained(target)


def test_a_head_with_other_k_than_the_config_fails(built_dirs, tmp_path):
    target = tmp_path / "mismatch"
    shutil.copytree(built_dirs["llama"], target)
    config = json.loads((target / "lens_config.json").read_text())
    config["k"] = 31
    (target / "lens_config.json").write_text(json.dumps(config))
    with pytest.raises(LensModelError, match=r"expected \(31, 64\)"):
        LensModel.from_pretrained(target)


def test_a_corrupt_official_head_file_fails_clearly(official_dir, tmp_path):
    target = tmp_path / "corrupt_official"
    shutil.copytree(official_dir, target)
    (target / "lm_head.pth").write_bytes(b"not a torch file")
    with pytest.raises(LensModelError, match="lm_head.pth"):
        LensModel.from_pretrained(target)


def test_a_directory_that_is_no_lens_model_says_so(tmp_path):
    with pytest.raises(LensModelError, match="is not a LENS model"):
        LensModel.from_pretrained(tmp_path)


def test_an_unknown_hub_id_offline_is_a_clear_error():
    with pytest.raises(LensModelError, match="neither a local directory nor a reachable hub model"):
        LensModel.from_pretrained("nobody-here/no-such-lens-model")


def test_head_file_holds_weight_and_cluster_map(built_dirs):
    tensors = load_file(str(built_dirs["llama"] / "lens_head.safetensors"))
    assert set(tensors) == {"weight", "cluster_tokens", "cluster_offsets"}
    assert isinstance(nn.Linear(2, 2), nn.Module)


def _copy(source, target):
    shutil.copytree(source, target)
    return target


def test_a_head_with_nan_is_refused_in_both_layouts(built_dirs, official_dir, tmp_path):
    own = _copy(built_dirs["llama"], tmp_path / "own")
    tensors = load_file(str(own / "lens_head.safetensors"))
    tensors["weight"][3, 5] = float("nan")
    save_file(tensors, str(own / "lens_head.safetensors"))
    with pytest.raises(LensModelError, match=r"lens_head.safetensors holds 1 NaN"):
        LensModel.from_pretrained(own)
    official = _copy(official_dir, tmp_path / "official")
    head = nn.Linear(64, 48, bias=False)
    with torch.no_grad():
        head.weight[0, 0] = float("inf")
    torch.save(head, official / "lm_head.pth")
    with pytest.raises(LensModelError, match=r"lm_head.pth holds 1 NaN or infinite"):
        LensModel.from_pretrained(official)


@pytest.mark.parametrize("edit, match", [
    (lambda c: None, "must hold a JSON object, got NoneType"),
    (lambda c: 32, "must hold a JSON object, got int"),
    (lambda c: {**c, "k": 32.0}, r"k must be int, got 32.0"),
    (lambda c: {**c, "normalize": "no"}, r"normalize must be bool, got 'no'"),
    (lambda c: {**c, "max_length": True}, r"max_length must be int, got True"),
    (lambda c: {k: v for k, v in c.items() if k != "k"}, "missing 1 required keyword-only argument: 'k'"),
    (lambda c: {**c, "hidden_size": 96}, r"hidden_size=96, but the backbone .*config.json\) has hidden_size=64"),
])
def test_a_bad_lens_config_names_the_file_and_the_field(built_dirs, tmp_path, edit, match):
    target = _copy(built_dirs["llama"], tmp_path / "bad_config")
    config = json.loads((target / "lens_config.json").read_text())
    (target / "lens_config.json").write_text(json.dumps(edit(config)))
    with pytest.raises(LensModelError, match=match) as error:
        LensModel.from_pretrained(target)
    assert "lens_config.json" in str(error.value)


def test_a_broken_backbone_config_is_a_model_error(built_dirs, tmp_path):
    target = _copy(built_dirs["llama"], tmp_path / "bad_backbone")
    (target / "config.json").write_text("{not json")
    with pytest.raises(LensModelError, match=r"Cannot read the backbone config .*config.json"):
        LensModel.from_pretrained(target)
    (target / "config.json").unlink()
    with pytest.raises(LensModelError, match=r"Cannot read the backbone config"):
        LensModel.from_pretrained(target)


def test_missing_tokenizer_files_are_a_model_error(built_dirs, tmp_path):
    target = _copy(built_dirs["llama"], tmp_path / "no_tokenizer")
    for file in target.iterdir():
        if "token" in file.name:
            file.unlink()
    with pytest.raises(LensModelError, match="tokenizer"):
        LensModel.from_pretrained(target)



def test_load_model_is_an_alias_of_from_pretrained(built_dirs):
    import inspect

    from lens_vdb import load_model

    model = load_model(built_dirs["llama"], attn_implementation="eager")
    assert isinstance(model, LensModel) and model.backbone.config._attn_implementation == "eager"
    keywords = inspect.signature(LensModel.from_pretrained).parameters
    assert list(keywords) == ["source", "dtype", "attn_implementation", "trust_remote_code", "revision", "token"]
    with pytest.raises(TypeError, match="unexpected keyword argument 'attn'"):  # the alias takes exactly its keywords
        load_model(built_dirs["llama"], attn="eager")
