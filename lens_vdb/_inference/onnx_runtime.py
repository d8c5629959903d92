"""The ONNX Runtime backend: runs a graph written by ``lens_vdb.export.export_onnx``, no torch weights needed.

An export directory holds ``model.onnx`` (``input_ids``, ``attention_mask`` -> ``lens_embedding``,
with the bidirectional mask, centroid head, pooling and normalisation inside; ``model.onnx_data``
beside it for graphs over 2 GB), ``manifest.json``, ``lens_config.json``, the tokenizer, and
``cluster_map.safetensors`` when the model has one. Everything is checked when the directory is
opened, so a corrupt or mismatched export fails before any text is encoded.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from .._errors import LensDependencyError, LensInputError, LensModelError
from .._files import CLUSTER_MAP_NAME, GRAPH_NAME, MANIFEST_NAME, cache_home
from .._instructions import QUERY_TOKEN
from .._machine import default_threads
from .._model.cluster_map import ClusterMap
from .._model.config import LensConfig
from .._vocabulary import PROVIDERS, Provider, check_choice
from .loaded import Loaded

__all__ = [
    "OnnxBackend", "load_onnx", "open_export_files", "open_graph", "read_manifest", "tensorrt_profile", "PROVIDERS",
    "MANIFEST_FORMAT", "MANIFEST_VERSION", "INPUTS", "OUTPUT",
]

MANIFEST_FORMAT = "lens-vdb-onnx"
MANIFEST_VERSION = 1
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "lens_embedding"
_MISSING_LIBRARIES = {
    "cpu": "",
    "cuda": "Its CUDA and cuDNN libraries must match the onnxruntime-gpu build: pip install 'onnxruntime-gpu[cuda,cudnn]'.",
    "tensorrt": "It needs the TensorRT 10 libraries (libnvinfer.so.10; onnxruntime-gpu is built against 10.x, "
                "not 11) on the library path, e.g. pip install 'tensorrt-cu13-libs==10.*' "
                "('tensorrt-cu12-libs==10.*' for a CUDA 12 build of onnxruntime-gpu).",
}
_ORT_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
# TensorRT builds its engine for a range of shapes; batches above the range are split, never refused.
TRT_MAX_BATCH = 64
TRT_OPT_BATCH, TRT_OPT_LENGTH = 32, 256
# Whether idle intra-op threads spin between operators. Off: on 2 busy cores (load average 14-18) a
# spinning thread burns the time slice its partner needs; the int8 graph on 2 threads ran 0.63-0.92x
# of 1 thread with spinning, 1.42-2.13x without (README "Threads"). bench/threads.py flips it.
SPINNING = False


class OnnxBackend:
    """An ONNX Runtime session over a LENS graph.

    ``max_batch``/``max_length`` bound the shapes the session was built for (TensorRT's profile):
    larger batches run in slices, longer inputs are refused with the limit named.
    """

    def __init__(self, session: Any, *, max_batch: int | None = None, max_length: int | None = None,
                 directory: Path | None = None, opened_with: dict[str, Any] | None = None) -> None:
        self._session = session
        self.max_batch = max_batch
        self.max_length = max_length
        self.directory = directory  # the export folder the graph came from
        self.opened_with = opened_with  # open_graph's arguments: a copy opens its own session from them

    @property
    def session(self) -> Any:
        """The ONNX Runtime session; a copy (pickle, ``copy.deepcopy``) opens its own on first use."""
        if self._session is None:
            self._session = open_graph(**self.opened_with)._session  # type: ignore[arg-type]
        return self._session

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the session, which does not pickle (Ray, multiprocessing, ``copy.deepcopy``): the copy
        opens the same graph file again, with the same provider and threads, when it first runs."""
        if self.opened_with is None:
            raise LensModelError("This ONNX Runtime session was not opened from a graph file, so a copy could not "
                                 "open it again; open the export with LensEncoder(folder, backend='onnx').")
        return {**self.__dict__, "_session": None}

    @property
    def provider(self) -> str:
        """The ONNX Runtime provider that runs the graph first (``"CPUExecutionProvider"``...)."""
        return self.session.get_providers()[0]

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        if self.max_length is not None and input_ids.shape[1] > self.max_length:
            raise LensInputError(
                f"A batch of {input_ids.shape[1]} tokens exceeds the {self.max_length} tokens this graph's "
                "TensorRT profile was built for; lower the encoder's max_length."
            )
        step = self.max_batch or max(1, input_ids.shape[0])
        parts = [self._run(input_ids[i : i + step], attention_mask[i : i + step])
                 for i in range(0, input_ids.shape[0], step)]
        return np.vstack(parts) if parts else np.zeros((0, self.session.get_outputs()[0].shape[-1]), np.float32)

    def _run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids.astype(np.int64, copy=False),
                "attention_mask": attention_mask.astype(np.int64, copy=False)}
        (out,) = self.session.run([OUTPUT], feed)
        return np.asarray(out, dtype=np.float32)


def tensorrt_profile(max_length: int) -> dict[str, str]:
    """TensorRT's min/opt/max shapes for both inputs: batch 1..64 (opt 32), length 1..max_length (opt 256)."""
    opt_length = min(TRT_OPT_LENGTH, max_length)
    shapes = {"min": (1, 1), "opt": (TRT_OPT_BATCH, opt_length), "max": (TRT_MAX_BATCH, max_length)}
    return {f"trt_profile_{name}_shapes": ",".join(f"{i}:{b}x{t}" for i in INPUTS) for name, (b, t) in shapes.items()}


def _trt_cache_dir(directory: Path) -> Path:
    """The engine cache: inside the export dir when writable (it goes when the export is replaced), else
    under ``LENS_VDB_HOME``, named by a hash of the export's manifest so another export never reuses it.

    TensorRT names its cached engines by the graph's file, input and node names, not its weights:
    a cache shared by two exports would hand one the other's engine.
    """
    if os.access(directory, os.W_OK):
        cache = directory / "trt_cache"
    else:
        export_id = hashlib.sha256((directory / MANIFEST_NAME).read_bytes()).hexdigest()[:16]
        cache = cache_home() / "trt_cache" / export_id
    cache.mkdir(parents=True, exist_ok=True)  # TensorRT creates only the last level itself
    return cache


def _providers(provider: str, directory: Path, max_length: int, device_id: int = 0) -> list[Any]:
    """ONNX Runtime's provider list for ``provider`` (with CPU last, for the few nodes a GPU provider leaves)."""
    if provider == "cpu":
        return ["CPUExecutionProvider"]
    cuda = ("CUDAExecutionProvider", {"device_id": device_id})
    if provider == "cuda":
        return [cuda, "CPUExecutionProvider"]
    cache = str(_trt_cache_dir(directory))
    options = {"device_id": device_id, "trt_fp16_enable": True, "trt_engine_cache_enable": True,
               "trt_engine_cache_path": cache, "trt_timing_cache_enable": True, "trt_timing_cache_path": cache,
               **tensorrt_profile(max_length)}
    return [("TensorrtExecutionProvider", options), cuda, "CPUExecutionProvider"]


def read_manifest(directory: Path) -> dict[str, Any]:
    """``manifest.json`` of an export dir, checked for format, version and the fields the loader needs."""
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise LensModelError(f"{directory} has no {MANIFEST_NAME}: the graph was never validated; export it again "
                             "with `lens-vdb export`.")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LensModelError(f"{path} is not valid JSON ({exc}); export the model again.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise LensModelError(f"{path} is not a lens-vdb export manifest (format {found!r}, "
                             f"expected {MANIFEST_FORMAT!r}).")
    if not isinstance(manifest.get("version", 0), int):
        raise LensModelError(f"{path} has version {manifest['version']!r}, not a number; export the model again.")
    if manifest.get("version", 0) > MANIFEST_VERSION:
        raise LensModelError(f"{path} has version {manifest['version']}; this lens-vdb reads up to "
                             f"{MANIFEST_VERSION}. Upgrade lens-vdb.")
    missing = [key for key in ("k", "dtype", "opset", "source_model_hash") if key not in manifest]
    if missing:
        raise LensModelError(f"{path} lacks {missing}; export the model again.")
    return manifest


def load_onnx(directory: Path, *, provider: Provider = "cpu", max_length: int | None = None, device_id: int = 0,
              threads: int | None = None) -> Loaded:
    """Open an export directory, checking it is complete and consistent before any text is encoded.

    ``max_length``: the longest input the caller will send (default: the model's); TensorRT builds
    its shape profile up to it. ``device_id``: the GPU of the CUDA and TensorRT providers.
    """
    if not directory.is_dir():
        raise LensModelError(f"{directory} is not a directory; backend='onnx' takes a dir written by `lens-vdb export`.")
    if not (directory / GRAPH_NAME).is_file():
        raise LensModelError(f"{directory} has no {GRAPH_NAME}; export one with `lens-vdb export`.")
    files = open_export_files(directory)
    backend = open_graph(directory / GRAPH_NAME, k=files.config.k, provider=provider,
                         max_length=max_length or files.config.max_length, device_id=device_id, threads=threads)
    return Loaded(backend, files.tokenizer, files.config, files.cluster_map, files.fingerprint)


def open_export_files(directory: Path) -> Loaded:
    """What an export holds beside its graph (manifest, config, tokenizer, cluster map), checked as one.

    The returned :class:`Loaded` has no backend yet (``None``): :func:`load_onnx` adds the graph's
    session, the remote backend a server that runs the same graph.
    """
    if not directory.is_dir():
        raise LensModelError(f"{directory} is not a directory; give a folder written by `lens-vdb export` (or "
                             "`lens-vdb export --triton`, whose model folder holds the same files).")
    manifest = read_manifest(directory)
    config = LensConfig.load(directory)
    if manifest["k"] != config.k:
        raise LensModelError(f"{directory / MANIFEST_NAME} says k={manifest['k']} but lens_config.json says "
                             f"k={config.k}; the files come from different exports.")
    tokenizer = _tokenizer(directory)
    _check_query_token(directory, manifest, tokenizer)
    return Loaded(None, tokenizer, config, _cluster_map(directory, config.k), _fingerprint(manifest))  # type: ignore[arg-type]


def _fingerprint(manifest: dict[str, Any]) -> str:
    """The exported model's identity: recorded by the export, or (older manifests) its source hash."""
    return manifest.get("model_fingerprint") or f"onnx-{manifest['source_model_hash'][:24]}"


def _session_options(ort: Any, threads: int | None) -> Any:
    """CPU session settings, set deliberately: ``threads`` intra-op threads (default: the physical cores this
    process may use, see :func:`lens_vdb._machine.default_threads`), one inter-op thread (the graph is one
    chain of operators), and no spinning while idle (:data:`SPINNING`)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if SPINNING else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return options


def _check_query_token(directory: Path, manifest: dict[str, Any], tokenizer: Any) -> None:
    """The graph recognises queries by the ``<query>`` id it was exported with; the tokenizer must still use it."""
    baked = manifest.get("query_token_id")  # absent from manifests written before lens-vdb recorded it
    found = tokenizer.convert_tokens_to_ids(QUERY_TOKEN) if QUERY_TOKEN in tokenizer.get_vocab() else None
    if baked is not None and found != baked:
        raise LensModelError(f"The graph in {directory} pools queries from token id {baked} ({QUERY_TOKEN}) but the "
                             f"tokenizer beside it maps {QUERY_TOKEN} to {found}; the files come from different "
                             "exports. Export the model again.")


def _tokenizer(directory: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(directory)
    except Exception as exc:  # transformers raises OSError, ValueError or its own errors here
        raise LensModelError(f"{directory} has no usable tokenizer ({exc}); export the model again.") from exc


def _cluster_map(directory: Path, k: int) -> ClusterMap | None:
    path = directory / CLUSTER_MAP_NAME
    return ClusterMap.load(path, k=k, remedy="export the model again") if path.is_file() else None


def open_graph(path: Path, *, k: int, provider: str = "cpu", max_length: int = 512, device_id: int = 0,
               threads: int | None = None) -> OnnxBackend:
    """An ONNX Runtime session over ``path``, after checking its inputs and output width.

    A GPU provider missing from the installed onnxruntime is an error, never a silent CPU run.
    """
    check_choice(provider, PROVIDERS, "provider")
    ort = require("onnxruntime", "onnx")
    wanted = _ORT_NAMES[provider]
    if wanted not in ort.get_available_providers():
        raise LensDependencyError(
            f"provider={provider!r} needs {wanted}, which this onnxruntime build lacks (it has "
            f"{ort.get_available_providers()}). Install the GPU build: pip install 'lens-vdb[gpu]'"
        )
    try:
        session = ort.InferenceSession(str(path), _session_options(ort, threads),
                                       providers=_providers(provider, path.parent, max_length, device_id))
    except Exception as exc:  # onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
        raise LensModelError(f"ONNX Runtime cannot load {path}: {exc}") from exc
    if session.get_providers()[0] != wanted:  # onnxruntime falls back, with a log line only, when an EP fails
        raise LensDependencyError(
            f"provider={provider!r}: ONNX Runtime could not start {wanted} and fell back to "
            f"{session.get_providers()}. {_MISSING_LIBRARIES[provider]}"
        )
    names = tuple(i.name for i in session.get_inputs())
    if set(names) != set(INPUTS):
        raise LensModelError(f"{path} takes inputs {names}; a LENS graph takes {INPUTS}.")
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if OUTPUT not in outputs or outputs[OUTPUT][-1] != k:
        raise LensModelError(f"{path} outputs {outputs}; expected {OUTPUT} of width k={k}.")
    opened_with = {"path": path, "k": k, "provider": provider, "max_length": max_length, "device_id": device_id,
                   "threads": threads}
    if provider == "tensorrt":
        return OnnxBackend(session, max_batch=TRT_MAX_BATCH, max_length=max_length, directory=path.parent,
                           opened_with=opened_with)
    return OnnxBackend(session, directory=path.parent, opened_with=opened_with)
