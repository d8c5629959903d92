"""Model folders that read the same under transformers 4.5x and 5.x.

transformers 5 saves two files in a layout that transformers 4.57 misreads, silently or loudly:

- ``config.json``: RoPE settings move into ``rope_parameters`` (``rope_theta`` and the scaling
  type together). 4.57 ignores that key and falls back to ``rope_theta=10000`` with no scaling,
  so a SmolLM2 (1e5), Qwen2 (1e6) or Llama 3 backbone saved by 5.x computes other vectors
  under 4.57, without any error.
- ``config.json`` of a backbone read from GGUF keeps ``quantization_config`` (``gguf``), though
  the saved weights are plain floats: 4.57 warns about an unknown quantization on every load.
- ``tokenizer_config.json``: the class is ``TokenizersBackend`` (unknown to 4.57) and the extra
  special tokens are a list under ``extra_special_tokens`` (a dict in 4.57), so 4.57 cannot
  load the tokenizer at all.

lens-vdb writes its model folders in the 4.x layout, which 5.x reads the same (it converts
``rope_theta``/``rope_scaling`` and ``additional_special_tokens`` itself), so a model built
under one version loads unchanged under the other, e.g. built or trained under 5.x and exported
to ONNX under 4.57. :func:`rope_settings_for_transformers4` repairs a config that another
program saved in the 5.x layout when it is loaded under 4.x.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_portable_files", "rope_settings_for_transformers4", "TRANSFORMERS_MAJOR"]

# the classes 4.57 knows for a plain tokenizer.json; 5.x reads either name as TokenizersBackend
_GENERIC_TOKENIZER = "PreTrainedTokenizerFast"


def _transformers_major() -> int:
    from importlib.metadata import version

    return int(version("transformers").split(".")[0])


TRANSFORMERS_MAJOR = _transformers_major()


def rope_settings_for_transformers4(config_dict: dict[str, Any]) -> dict[str, Any]:
    """``rope_theta`` / ``rope_scaling`` for a config dict saved in the 5.x layout; ``{}`` when none is needed.

    Only a flat ``rope_parameters`` (one RoPE for all layers) is translated; a config that
    already has ``rope_theta`` is left as it is.
    """
    params = config_dict.get("rope_parameters")
    if not isinstance(params, dict) or "rope_theta" not in params or "rope_theta" in config_dict:
        return {}
    scaling = {key: value for key, value in params.items() if key != "rope_theta"}
    rope_type = scaling.get("rope_type", scaling.get("type", "default"))
    return {"rope_theta": params["rope_theta"], "rope_scaling": None if rope_type == "default" else scaling}


def write_portable_files(directory: Path) -> None:
    """Rewrite ``config.json`` and ``tokenizer_config.json`` in ``directory`` into the layout both versions read."""
    config_path = directory / "config.json"
    if config_path.is_file():
        data = json.loads(config_path.read_text())
        extra = {key: value for key, value in rope_settings_for_transformers4(data).items() if value is not None}
        # 5.x keeps a GGUF source's quantization_config, though the weights it saves are dequantised floats
        gguf = (data.get("quantization_config") or {}).get("quant_method") == "gguf"
        if extra or gguf:
            data.update(extra)
            if gguf:
                del data["quantization_config"]
            config_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tokenizer_path = directory / "tokenizer_config.json"
    if tokenizer_path.is_file():
        data = json.loads(tokenizer_path.read_text())
        changed = False
        if data.get("tokenizer_class") == "TokenizersBackend":
            data["tokenizer_class"] = _GENERIC_TOKENIZER
            changed = True
        if isinstance(data.get("extra_special_tokens"), list):
            data["additional_special_tokens"] = data.pop("extra_special_tokens")
            changed = True
        for key in ("is_local", "local_files_only"):  # 5.x records how it was loaded; not a tokenizer setting
            changed |= data.pop(key, None) is not None
        if changed:
            tokenizer_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
