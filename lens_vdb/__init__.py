"""lens-vdb: LENS lexicon embeddings for production hybrid retrieval.

``import lens_vdb`` is light: torch and transformers load when a model is first used.

    >>> from lens_vdb import LensEncoder
    >>> encoder = LensEncoder()                      # offline default model, built on first use
    >>> docs = encoder.encode_documents(["LENS clusters the LM head into lexicon dimensions."])
    >>> query = encoder.encode_queries(["what is LENS?"])
    >>> float(query @ docs.T)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    LensConnectionError,
    LensDependencyError,
    LensError,
    LensInputError,
    LensModelError,
    LensSchemaError,
)
from ._instructions import TASKS, Task, format_query, get_task, register_task

__version__ = "0.1.0"

_LAZY = {
    "LensModel": "._model",
    "ClusterMap": "._model",
    "LensConfig": "._config",
    "LensEncoder": "._encoder",
    "ClusterExplanation": "._encoder",
    "SparseVector": "._sparse",
    "to_sparse": "._sparse",
    "build_lens_model": "._build",
    "cluster_token_embeddings": "._build",
    "load_model": "._loading",
    "default_model_dir": "._default",
}

__all__ = [
    "ClusterExplanation",
    "ClusterMap",
    "LensConfig",
    "LensConnectionError",
    "LensDependencyError",
    "LensEncoder",
    "LensError",
    "LensInputError",
    "LensModel",
    "LensModelError",
    "LensSchemaError",
    "SparseVector",
    "TASKS",
    "Task",
    "__version__",
    "build_lens_model",
    "cluster_token_embeddings",
    "default_model_dir",
    "format_query",
    "get_task",
    "load_model",
    "register_task",
    "to_sparse",
]

if TYPE_CHECKING:
    from ._build import build_lens_model, cluster_token_embeddings
    from ._config import LensConfig
    from ._default import default_model_dir
    from ._encoder import ClusterExplanation, LensEncoder
    from ._loading import load_model
    from ._model import ClusterMap, LensModel
    from ._sparse import SparseVector, to_sparse


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lens_vdb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
