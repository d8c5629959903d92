"""lens-vdb: LENS lexicon embeddings for production hybrid retrieval.

``import lens_vdb`` is light: torch and transformers load when a model is first used.

    >>> from lens_vdb import LensEncoder
    >>> encoder = LensEncoder()                      # offline default model, built on first use
    >>> docs = encoder.encode_documents(["LENS clusters the LM head into lexicon dimensions."])
    >>> query = encoder.encode_queries(["what is LENS?"])
    >>> float(query @ docs.T)

``from lens_vdb import LensEmbeddings`` gives the LangChain embeddings (loaded on first use;
without ``lens-vdb[langchain]`` it raises :class:`LensDependencyError` naming the extra). Being
optional, it is not in ``__all__``: ``from lens_vdb import *`` works on a bare install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import (
    LensConnectionError,
    LensDependencyError,
    LensError,
    LensInputError,
    LensModelError,
    LensSchemaError,
    LensTypeError,
    LensUnavailableError,
)
from ._instructions import TASKS, Task, format_query, get_task, register_task
from ._lazy import lazy_exports
from ._machine import prefer_passive_openmp
from ._minilm import default_dense_model_dir

# Before torch loads (it loads with the first model): OpenMP threads that sleep while they wait, unless
# OMP_WAIT_POLICY is set. Spinning made torch on 2 threads 3-13x slower on busy cores (README "Threads").
prefer_passive_openmp()

__version__ = "0.1.0"

# public name -> the module that defines it (imported on first use: torch loads only then)
_LAZY = {
    "LensModel": "._model.lens_model",
    "load_model": "._model.lens_model",
    "ClusterMap": "._model.cluster_map",
    "LensConfig": "._model.config",
    "build_lens_model": "._model.build",
    "cluster_token_embeddings": "._model.build",
    "default_model_dir": "._model.default",
    "LensEncoder": "._inference.encoder",
    "RemoteOptions": "._inference.remote_options",
    "BackendChoice": "._inference.candidates",
    "ClusterExplanation": "._inference.encoder",
    "SparseVector": "._inference.sparse",
    "to_sparse": "._inference.sparse",
}
# optional: needs a framework extra, so importable by name but left out of __all__ (and of star imports)
_OPTIONAL = {
    "LensEmbeddings": ".integrations.langchain",
}

__all__ = [
    "BackendChoice",
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
    "LensTypeError",
    "LensUnavailableError",
    "RemoteOptions",
    "SparseVector",
    "TASKS",
    "Task",
    "__version__",
    "build_lens_model",
    "cluster_token_embeddings",
    "default_dense_model_dir",
    "default_model_dir",
    "format_query",
    "get_task",
    "load_model",
    "register_task",
    "to_sparse",
]

if TYPE_CHECKING:
    from ._inference.candidates import BackendChoice
    from ._inference.encoder import ClusterExplanation, LensEncoder
    from ._inference.remote_options import RemoteOptions
    from ._inference.sparse import SparseVector, to_sparse
    from ._model.build import build_lens_model, cluster_token_embeddings
    from ._model.cluster_map import ClusterMap
    from ._model.config import LensConfig
    from ._model.default import default_model_dir
    from ._model.lens_model import LensModel, load_model
    from .integrations.langchain import LensEmbeddings as LensEmbeddings  # re-exported, optional


__getattr__, __dir__ = lazy_exports(__name__, {**_LAZY, **_OPTIONAL}, __all__, hidden=_OPTIONAL)
