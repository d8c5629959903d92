"""Model folders read the same under transformers 4.5x and 5.x (both environments run these tests).

transformers 5 saves RoPE settings as ``rope_parameters`` (4.57 ignores them and falls back to
rope_theta=10000), writes tokenizer configs 4.57 cannot load, and swaps in a model type's own
tokenizer class for some types (qwen2). lens-vdb saves in the layout both read and loads a plain
``tokenizer.json`` as saved; ``.ci/cross_version.py`` checks the same across the two real venvs.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from lens_vdb import LensModel
from tests.tiny import CORPUS, make_tokenizer

ROPE_CASES = {
    # the 4.x layout and what transformers 5 writes for the same settings
    "default": ({"rope_theta": 100000.0, "rope_scaling": None},
                {"rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"}}),
    "llama3": ({"rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                          "high_freq_factor": 4.0, "original_max_position_embeddings": 32}},
               {"rope_parameters": {"rope_theta": 500000.0, "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 32}}),
}


def _with_config(source, target, **changes):
    shutil.copytree(source, target)
    data = json.loads((target / "config.json").read_text())
    for key in ("rope_theta", "rope_scaling", "rope_parameters"):
        data.pop(key, None)
    data.update(changes)
    (target / "config.json").write_text(json.dumps(data))
    return target


def _hidden(directory) -> torch.Tensor:
    model = LensModel.from_pretrained(directory)
    ids = torch.tensor([model.tokenizer(" ".join(CORPUS[:4])).input_ids])
    with torch.no_grad():
        return model.hidden_states(ids, torch.ones_like(ids))


@pytest.mark.parametrize("case", sorted(ROPE_CASES))
def test_a_config_in_the_transformers_5_layout_keeps_its_rope_settings(built_dirs, tmp_path, case):
    old_layout, new_layout = ROPE_CASES[case]
    plain = _hidden(_with_config(built_dirs["llama"], tmp_path / "plain", rope_theta=10000.0))
    old = _hidden(_with_config(built_dirs["llama"], tmp_path / "old", **old_layout))
    new = _hidden(_with_config(built_dirs["llama"], tmp_path / "new", **new_layout))
    assert (old - plain).abs().max() > 1e-4  # the settings matter at this length
    assert (new - old).abs().max() < 1e-6


def test_saved_folders_use_the_layout_both_versions_read(built_dirs, tmp_path):
    source = _with_config(built_dirs["llama"], tmp_path / "source", **ROPE_CASES["llama3"][1])
    saved = LensModel.from_pretrained(source).save_pretrained(tmp_path / "saved")
    config = json.loads((saved / "config.json").read_text())
    assert config["rope_theta"] == 500000.0 and config["rope_scaling"]["rope_type"] == "llama3"
    tokenizer = json.loads((saved / "tokenizer_config.json").read_text())
    assert tokenizer["tokenizer_class"] == "PreTrainedTokenizerFast"  # 4.57 knows no TokenizersBackend
    assert tokenizer["additional_special_tokens"] == ["<instruct>", "<query>", "<response>"]
    assert not isinstance(tokenizer.get("extra_special_tokens"), list)  # a dict in 4.57
    assert (_hidden(saved) - _hidden(source)).abs().max() < 1e-6


def test_a_plain_tokenizer_json_runs_as_saved_whatever_the_model_type(built_dirs, tmp_path):
    """transformers 5 loads a qwen2 folder's tokenizer as Qwen2Tokenizer, which rebuilds the pipeline; the
    tokenizer.json the model was built with (here a Metaspace BPE, as a 4.x build saves it) must run as saved."""
    from tokenizers import Tokenizer

    directory = shutil.copytree(built_dirs["qwen2"], tmp_path / "qwen2")
    for item in directory.iterdir():
        if "token" in item.name:
            item.unlink()
    make_tokenizer(directory)
    data = json.loads((directory / "tokenizer_config.json").read_text())
    data["tokenizer_class"] = "PreTrainedTokenizerFast"  # what a transformers 4.x build saves
    (directory / "tokenizer_config.json").write_text(json.dumps(data))
    loaded = LensModel.from_pretrained(directory).tokenizer
    raw = Tokenizer.from_file(str(directory / "tokenizer.json"))
    text = "The Bank of England raised rates <query> again"
    assert loaded(text).input_ids == raw.encode(text).ids
    assert len(loaded) == raw.get_vocab_size()
