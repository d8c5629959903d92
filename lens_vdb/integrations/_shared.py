"""What the framework integrations share: one encoder per model and settings, and one LENS forward per text.

A hybrid index runs two views of one LENS vector: the whole vector as the dense embedding
(``LensEmbeddings``, ``LensEmbedding``) and its top-k dimensions as the sparse one
(``LensSparseEmbeddings``, ``lens_sparse_functions``). The frameworks ask for the two views
separately, over the same chunks: langchain-qdrant per batch of 64 (dense, then sparse),
LlamaIndex for up to 2048 nodes at a time (dense for all of them, then sparse 64 by 64). Run
naively, the model encodes every chunk twice.

So every integration object built with the same model and encoder settings, or over the same
:class:`LensEncoder`, shares one :class:`SharedLens`: one encoder (one copy of the weights) and a
bounded LRU of its most recent vectors, keyed by side (query or document), task, ``max_length``
and a digest of the text. Whichever view asks first runs the model; the other reads the LRU. The
LRU holds at most ``DEFAULT_CACHE_BYTES`` of vectors (64 MiB: 4,194 texts at k=4000, 2,097 at
k=8000), enough for LlamaIndex's 2048-node insert batches at k <= 8000.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lens_vdb._errors import LensInputError
from lens_vdb._inference.encoder import LensEncoder
from lens_vdb._inference.features import validate_texts
from lens_vdb._inference.remote_options import RemoteOptions
from lens_vdb._inference.sparse import to_sparse
from lens_vdb._vocabulary import DEFAULT_BACKEND, BackendName, Precision, Provider

__all__ = ["EncoderSettings", "SharedLens", "resolve_shared", "shared_for", "shared_over", "sparse_pairs",
           "DEFAULT_CACHE_BYTES"]

DEFAULT_CACHE_BYTES = 64 * 2**20

_Key = tuple[bool, str | None, int, bytes]


@dataclass(frozen=True)
class EncoderSettings:
    """What builds an encoder: the key integration objects share an encoder by, and what they keep (and
    pickle) to build it again. ``backend`` defaults to torch, as everywhere (``lens_vdb._vocabulary``
    says why); ``"auto"`` runs the fastest backend measured on this machine; ``dtype``/``provider``
    fix one and go with ``backend="torch"``/``"onnx"``. ``url``/``remote``: a remote encoder's server and
    options (``model_name`` is then the export folder the client reads its tokenizer from), so a copy
    of an integration object calls the same server, with the same credentials."""

    model_name: str = "default"
    backend: BackendName = DEFAULT_BACKEND
    provider: Provider | None = None
    device: str | None = None
    dtype: Precision | None = None
    max_length: int | None = None
    threads: int | None = None
    url: str | None = None
    remote: RemoteOptions | None = None

    def build(self) -> LensEncoder:
        return LensEncoder(self.model_name, backend=self.backend, provider=self.provider, device=self.device,
                           dtype=self.dtype, max_length=self.max_length, threads=self.threads, url=self.url,
                           remote=self.remote)

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class SharedLens:
    """One encoder and a bounded LRU of its recent vectors (see the module docstring)."""

    def __init__(self, encoder: LensEncoder, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.encoder = encoder
        self.capacity = max(1, cache_bytes // (4 * encoder.k))  # vectors the LRU holds
        self._cache: OrderedDict[_Key, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        """Forget every cached vector (the next request of any text runs the model)."""
        with self._lock:
            self._cache.clear()

    def encode(self, texts: Any, *, query: bool, task: str | None, batch_size: int | None,
               show_progress: bool = False) -> np.ndarray:
        """LENS vectors of ``texts`` (float32 ``[n, k]``): the ones in the LRU from it, the rest (each
        distinct text once) through the model."""
        texts, out, missing = self._lookup(texts, query, task)
        if missing:
            encode = self.encoder.encode_queries if query else self.encoder.encode_documents
            self._fill(out, missing, encode([texts[rows[0]] for rows in missing.values()], task,
                                            batch_size=batch_size, show_progress=show_progress))
        return out

    async def aencode(self, texts: Any, *, query: bool, task: str | None, batch_size: int | None) -> np.ndarray:
        """:meth:`encode` for asyncio: a remote encoder awaits its server (``httpx.AsyncClient``), a local
        one runs in a worker thread (:meth:`LensEncoder.aencode_queries`)."""
        texts, out, missing = self._lookup(texts, query, task)
        if missing:
            encode = self.encoder.aencode_queries if query else self.encoder.aencode_documents
            self._fill(out, missing, await encode([texts[rows[0]] for rows in missing.values()], task,
                                                  batch_size=batch_size))
        return out

    def _lookup(self, texts: Any, query: bool, task: str | None) -> tuple[list[str], np.ndarray, dict[_Key, list[int]]]:
        """The texts checked, the vectors the LRU has filled in, and the rows of each text it lacks."""
        texts = validate_texts(texts, what="queries" if query else "texts")
        keys = [self._key(text, query, task) for text in texts]
        out = np.empty((len(texts), self.encoder.k), dtype=np.float32)
        missing: dict[_Key, list[int]] = {}
        with self._lock:
            for row, key in enumerate(keys):
                vector = self._cache.get(key)
                if vector is None:
                    missing.setdefault(key, []).append(row)
                else:
                    self._cache.move_to_end(key)
                    out[row] = vector
        return texts, out, missing

    def _fill(self, out: np.ndarray, missing: dict[_Key, list[int]], vectors: Any) -> None:
        with self._lock:
            for (key, rows), vector in zip(missing.items(), vectors):
                out[rows] = vector
                self._cache[key] = vector.copy()
                self._cache.move_to_end(key)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)

    def _key(self, text: str, query: bool, task: str | None) -> _Key:
        return query, task, self.encoder.max_length, hashlib.blake2b(text.encode("utf-8", "surrogatepass"),
                                                                     digest_size=16).digest()


# one SharedLens per settings and per encoder, alive while an integration object holds it
_BY_SETTINGS: weakref.WeakValueDictionary[EncoderSettings, SharedLens] = weakref.WeakValueDictionary()
_BY_ENCODER: weakref.WeakValueDictionary[int, SharedLens] = weakref.WeakValueDictionary()
_LOCK = threading.RLock()  # shared_for holds it while it calls shared_over


def shared_for(settings: EncoderSettings) -> SharedLens:
    """The SharedLens of an encoder built with ``settings`` (built now if no live object holds one)."""
    with _LOCK:  # a build takes seconds; two threads asking for one model still get one copy
        shared = _BY_SETTINGS.get(settings)
        if shared is None:
            shared = shared_over(settings.build())
            _BY_SETTINGS[settings] = shared
        return shared


def shared_over(encoder: LensEncoder) -> SharedLens:
    """The SharedLens of a ready encoder (keyed by identity: it holds the encoder, so the id stays unique)."""
    with _LOCK:
        shared = _BY_ENCODER.get(id(encoder))
        if shared is None or shared.encoder is not encoder:
            shared = SharedLens(encoder)
            _BY_ENCODER[id(encoder)] = shared
        return shared


def settings_of(encoder: LensEncoder) -> EncoderSettings:
    """The settings a ready encoder runs with, as far as it tells them (its thread count it does not)."""
    if encoder.url is not None:  # the server runs the graph; the client has no device or dtype
        return EncoderSettings(encoder.model_name, encoder.backend, max_length=encoder.max_length, url=encoder.url,
                               remote=encoder.remote)
    device: str | None = None
    dtype: Precision = "fp32"
    try:
        parameter = next(encoder.model.parameters())
    except AttributeError:  # an exported graph: its precision was fixed at export
        pass
    else:
        from lens_vdb._inference.torch_backend import precision_name

        device = str(parameter.device)
        dtype = precision_name(parameter.dtype) or "fp32"
    return EncoderSettings(encoder.model_name, encoder.backend, None, device, dtype, encoder.max_length)


def resolve_shared(model: Any, model_name: str | None, settings: EncoderSettings) -> tuple[SharedLens, EncoderSettings]:
    """The SharedLens for what an integration class was given, and the settings to show and pickle.

    ``model``: a :class:`LensEncoder` (used as is), another integration object (its encoder is
    shared), a model dir / hub id / ``"default"`` / ``"untrained"``, or ``None``; ``model_name``
    names the model as a keyword instead (as other framework embeddings take it).
    """
    if model is not None and model_name is not None:
        raise LensInputError(f"Name the model once: got model={model!r} and model_name={model_name!r}.")
    encoder = model if isinstance(model, LensEncoder) else getattr(model, "encoder", None)
    if isinstance(encoder, LensEncoder):
        return shared_over(encoder), settings_of(encoder)
    if model is not None and not isinstance(model, (str, Path)):
        raise LensInputError(f"model must be a LensEncoder, a lens-vdb embeddings object, a model dir or hub id, "
                             f"'default' or 'untrained'; got {type(model).__name__}.")
    name = str(model if model is not None else model_name if model_name is not None else "default")
    settings = EncoderSettings(name, **{k: v for k, v in settings.fields().items() if k != "model_name"})
    return shared_for(settings), settings


def deepcopy_sharing_encoder(obj: Any, memo: dict[int, Any] | None) -> Any:
    """``copy.deepcopy`` of an integration object (a pydantic model with a ``_lens``): its fields copied, its
    encoder and recent vectors shared (pydantic's own deep copy would copy the encoder, weights and all)."""
    import copy

    from pydantic import BaseModel

    clone = object.__new__(type(obj))  # no __init__: the fields come from the state, the encoder is shared
    BaseModel.__setstate__(clone, copy.deepcopy(obj.__getstate__(), memo))
    clone._lens = obj._lens
    return clone


def sparse_pairs(vectors: np.ndarray, top_k: int) -> tuple[list[list[int]], list[list[float]]]:
    """Top-k pruned LENS vectors as (indices per text, values per text)."""
    sparse = to_sparse(vectors, top_k=top_k)
    return [s.indices.tolist() for s in sparse], [s.values.tolist() for s in sparse]
