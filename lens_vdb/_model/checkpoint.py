"""Reading LENS checkpoints from disk: lens-vdb's own format and the official ``yibinlei/LENS-*`` layout.

:func:`read_checkpoint` returns the parts (backbone, head, config, tokenizer, cluster map);
:func:`lens_vdb.load_model` assembles them into a :class:`~lens_vdb.LensModel`, so this module
never imports the model class.

Official layout (hub repo or local dir): a Mistral backbone (``config.json`` + safetensors, the
config may name ``MistralBiForCausalLM`` and advertise ``vocab_size`` = k), a tokenizer with
``<instruct>``/``<query>``/``<response>``, and ``lm_head.pth``: a pickled ``nn.Linear`` of shape
``[k, hidden]``. The pickle is read with ``torch.load(weights_only=True)`` and an allow-list of
exactly ``nn.Linear``, so no arbitrary code can run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .._errors import LensModelError
from .._files import CONFIG_NAME, GRAPH_NAME, HEAD_NAME, MANIFEST_NAME
from .._instructions import SPECIAL_TOKENS
from .cluster_map import ClusterMap
from .compat import TRANSFORMERS_MAJOR, rope_settings_for_transformers4
from .config import LensConfig

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["CheckpointParts", "read_checkpoint", "resolve_source", "load_official_head", "OFFICIAL_HEAD_NAME"]

logger = logging.getLogger(__name__)

OFFICIAL_HEAD_NAME = "lm_head.pth"
_DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", OFFICIAL_HEAD_NAME]


def resolve_source(source: str | Path, *, revision: str | None = None, token: str | None = None) -> Path:
    """A local directory for ``source``: itself if it is one, else a hub snapshot (needs network)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise LensModelError(f"{path} is a file; a LENS model is a directory (or a hub id).")
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(str(source), revision=revision, token=token, allow_patterns=_DOWNLOAD_PATTERNS)
        )
    except Exception as exc:  # network, auth or not-found errors from the hub client
        raise LensModelError(
            f"{source!r} is neither a local directory nor a reachable hub model: {exc.__class__.__name__}: {exc}"
        ) from exc


@dataclass(frozen=True)
class CheckpointParts:
    """What a checkpoint holds: a HF backbone, the ``[k, hidden]`` head, config, tokenizer and cluster map."""

    backbone: Any
    head: torch.Tensor
    config: LensConfig
    tokenizer: Any
    cluster_map: ClusterMap | None


def read_checkpoint(
    source: str | Path,
    *,
    dtype: torch.dtype,
    attn_implementation: str,
    trust_remote_code: bool,
    revision: str | None,
    token: str | None,
) -> CheckpointParts:
    """Read a LENS checkpoint from a lens-vdb dir, an official-layout dir or a hub id.

    The keywords are :meth:`LensModel.from_pretrained`'s, which documents them and holds their
    defaults: none here, so the two cannot drift.
    """
    directory = resolve_source(source, revision=revision, token=token)
    if (directory / MANIFEST_NAME).is_file() and (directory / GRAPH_NAME).is_file():
        raise LensModelError(f"{directory} is an ONNX export (no torch weights); open it with backend='onnx': "
                             f"LensEncoder({str(directory)!r}, backend='onnx').")
    if (directory / CONFIG_NAME).is_file():
        return _load_own(directory, dtype, attn_implementation, trust_remote_code)
    if (directory / OFFICIAL_HEAD_NAME).is_file():
        return _load_official(directory, str(source), dtype, attn_implementation, trust_remote_code)
    raise LensModelError(
        f"{directory} is not a LENS model: it has neither {CONFIG_NAME} (lens-vdb format) nor "
        f"{OFFICIAL_HEAD_NAME} (official LENS layout). Build one with `lens-vdb build`."
    )


def _load_own(directory: Path, dtype: torch.dtype, attn: str, trust_remote_code: bool) -> CheckpointParts:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = LensConfig.load(directory)
    try:
        tensors = load_file(str(directory / HEAD_NAME))
    except (OSError, SafetensorError) as exc:
        raise LensModelError(f"Cannot read the centroid head {directory / HEAD_NAME}: {exc}") from exc
    if "weight" not in tensors:
        raise LensModelError(f"{directory / HEAD_NAME} has no 'weight' tensor; found {sorted(tensors)}.")
    cluster_map = None
    if config.has_cluster_map:
        cluster_map = ClusterMap.from_tensors(tensors)
        if cluster_map is None:
            raise LensModelError(f"{directory / HEAD_NAME} lacks the cluster map its config announces.")
    _check_finite(tensors["weight"], directory / HEAD_NAME)
    backbone = _load_backbone(directory, dtype, attn, trust_remote_code)
    if backbone.config.hidden_size != config.hidden_size:
        raise LensModelError(f"{directory / CONFIG_NAME} says hidden_size={config.hidden_size}, but the backbone "
                             f"({directory / 'config.json'}) has hidden_size={backbone.config.hidden_size}: the "
                             "files come from different models.")
    tokenizer = _load_tokenizer(directory, trust_remote_code)
    return CheckpointParts(backbone, tensors["weight"].to(dtype), config, tokenizer, cluster_map)


def _load_official(
    directory: Path, source: str, dtype: torch.dtype, attn: str, trust_remote_code: bool
) -> CheckpointParts:
    head = load_official_head(directory / OFFICIAL_HEAD_NAME)
    _check_finite(head, directory / OFFICIAL_HEAD_NAME)
    backbone = _load_backbone(directory, dtype, attn, trust_remote_code)
    tokenizer = _load_tokenizer(directory, trust_remote_code)
    missing = [t for t in SPECIAL_TOKENS if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)]
    if missing:
        raise LensModelError(f"The tokenizer in {directory} lacks the LENS special tokens {missing}.")
    config = LensConfig(
        k=head.shape[0],
        hidden_size=backbone.config.hidden_size,
        base_model=source,
        source_format="official",
    )
    return CheckpointParts(backbone, head.to(dtype), config, tokenizer, None)


def load_official_head(path: Path) -> torch.Tensor:
    """The ``[k, hidden]`` weight of an official ``lm_head.pth``, loaded without running pickle code."""
    import pickle

    expected = ("It must be a torch.save'd nn.Linear (or its state dict, or a 2-D tensor) holding the [k, hidden] "
                "centroid head.")
    try:
        with torch.serialization.safe_globals([nn.Linear]):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # a global outside the allow-list: code that pickle would run
        raise LensModelError(
            f"Refused to load {path}: it asks to run Python code on load ({_refused_global(exc)}), and lens-vdb "
            f"never unpickles anything but tensors and nn.Linear. {expected} If you made the file yourself, save "
            "the head again as tensors (torch.save(linear.state_dict(), path)) or use lens-vdb's own format."
        ) from None
    except Exception as exc:  # RuntimeError and others for corrupt or truncated files
        raise LensModelError(f"Cannot read {path}: {exc.__class__.__name__}: {exc}. {expected}") from exc
    if isinstance(loaded, nn.Linear):
        weight = loaded.weight.detach()
    elif isinstance(loaded, dict) and isinstance(loaded.get("weight"), torch.Tensor):
        weight = loaded["weight"]
    elif isinstance(loaded, torch.Tensor):
        weight = loaded
    else:
        raise LensModelError(f"{path} holds a {type(loaded).__name__}, expected an nn.Linear [k, hidden].")
    if weight.ndim != 2:
        raise LensModelError(f"{path} holds a head of shape {tuple(weight.shape)}, expected 2-D [k, hidden].")
    return weight.float()


def _check_finite(head: torch.Tensor, path: Path) -> None:
    if not torch.isfinite(head).all():
        bad = int((~torch.isfinite(head)).sum())
        raise LensModelError(f"The centroid head in {path} holds {bad} NaN or infinite value(s): every vector would "
                             "be NaN. The file is corrupt; build or download the model again.")


def _refused_global(error: Exception) -> str:
    """The global that torch's weights-only unpickler refused, without torch's advice to turn the check off."""
    for line in str(error).splitlines():
        if "GLOBAL" in line:
            return line.strip().rstrip(".")
    return "a global outside the allow-list"


def _load_backbone(directory: Path, dtype: torch.dtype, attn: str, trust_remote_code: bool) -> PreTrainedModel:
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(directory, trust_remote_code=trust_remote_code)
    except Exception as exc:  # transformers raises OSError, ValueError, JSONDecodeError or KeyError here
        raise LensModelError(f"Cannot read the backbone config {directory / 'config.json'}: "
                             f"{exc.__class__.__name__}: {exc}") from exc
    vocab = _stored_vocab_size(directory)
    if vocab is not None and vocab != getattr(config, "vocab_size", vocab):
        # the official configs advertise vocab_size = k; the embedding table is the truth
        logger.info("config.json says vocab_size=%s, the weights hold %s rows; using the weights.", config.vocab_size, vocab)
        config.vocab_size = vocab
    if TRANSFORMERS_MAJOR < 5:  # a config saved by transformers 5 keeps its RoPE settings here too
        for key, value in rope_settings_for_transformers4(json.loads((directory / "config.json").read_text())).items():
            setattr(config, key, value)
    config.architectures = None
    config.use_cache = False
    try:
        return AutoModel.from_pretrained(
            directory, config=config, dtype=dtype, attn_implementation=attn, trust_remote_code=trust_remote_code
        ).eval()
    except (OSError, ValueError, RuntimeError) as exc:
        raise LensModelError(f"Cannot load the backbone weights in {directory}: {exc}") from exc


def _stored_vocab_size(directory: Path) -> int | None:
    """Rows of the stored input-embedding table, read from safetensors headers only."""
    from safetensors import safe_open

    index = directory / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text()).get("weight_map", {})
        candidates = [(name, directory / file) for name, file in weight_map.items()]
    else:
        candidates = [(None, f) for f in sorted(directory.glob("*.safetensors")) if f.name != HEAD_NAME]
    for name, file in candidates:
        if name is not None and not name.endswith("embed_tokens.weight"):
            continue
        try:
            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():
                    if key.endswith("embed_tokens.weight"):
                        return int(handle.get_slice(key).get_shape()[0])
        except Exception as exc:
            raise LensModelError(f"Cannot read the weights file {file}: {exc}") from exc
    return None


def _load_tokenizer(directory: Path, trust_remote_code: bool) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    # a plain tokenizer.json runs as saved: transformers 5 would swap in the model type's own class for some
    # types (qwen2, phi3...), which rebuilds the pipeline and tokenizes otherwise than the model was built with
    loader = PreTrainedTokenizerFast if _saved_tokenizer_class(directory) in _GENERIC_TOKENIZERS else AutoTokenizer
    try:
        tokenizer = loader.from_pretrained(directory, trust_remote_code=trust_remote_code)
    except Exception as exc:  # missing or corrupt files surface as OSError, ValueError, TypeError, Exception...
        raise LensModelError(f"Cannot load the tokenizer in {directory}: {exc.__class__.__name__}: {exc}") from exc
    if isinstance(tokenizer, bool) or not callable(tokenizer):  # AutoTokenizer returns False for some empty dirs
        raise LensModelError(f"{directory} has no tokenizer files (tokenizer.json / tokenizer_config.json).")
    return tokenizer


_GENERIC_TOKENIZERS = ("PreTrainedTokenizerFast", "TokenizersBackend")


def _saved_tokenizer_class(directory: Path) -> str | None:
    path = directory / "tokenizer_config.json"
    try:
        return json.loads(path.read_text()).get("tokenizer_class") if path.is_file() else None
    except (OSError, ValueError) as exc:
        raise LensModelError(f"Cannot read {path}: {exc}") from exc
