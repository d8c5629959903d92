"""A Triton Inference Server model repository from an ONNX export: one folder, CPU and GPU servers.

Where tokenization happens: in the client. The server takes the graph's own inputs (``input_ids``,
``attention_mask``, INT64 ``[batch, length]``) and returns ``lens_embedding`` (FP32 ``[batch, k]``).
Why: the query/document rule (``<instruct>...\\n<query>`` prompts, special tokens kept as text in
documents, EOS once, truncation that keeps the instruction) lives in one place,
``lens_vdb._inference.features``, and a remote vector is then the local ONNX backend's by
construction, not by a second implementation kept in step on the server. The server stays the thinnest
possible (no tokenizer, no Python on GPU servers), and the same repository serves two kinds of server:

- ``config.pbtxt``: the Python backend (``1/model.py``) runs ``1/model.onnx`` with onnxruntime on
  the CPU, for Triton builds without the ONNX Runtime backend (CPU-only builds, the ``nvidia-pytriton``
  wheel). Its inputs allow ragged batches, so the dynamic batcher groups requests of any length and
  ``model.py`` pads them together.
- ``configs/gpu.pbtxt`` (``tritonserver --model-config-name gpu``): the ONNX Runtime backend on a GPU
  with the TensorRT accelerator, set up as lens-vdb's own TensorRT path is (fp16, engine and timing
  cache, the shape profiles of :func:`lens_vdb._inference.onnx_runtime.tensorrt_profile`).

The model folder also carries the export's tokenizer, ``lens_config.json``, ``manifest.json`` and
cluster map: :class:`lens_vdb.LensEncoder` opens it as the client side of a remote encoder
(``LensEncoder(REPO / name, url=...)``), and a client in another language finds the tokenizer there.
The model's fingerprint is in both configs' ``parameters``; the client checks it against its own files.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lens_vdb import LensError, LensInputError
from lens_vdb._files import GRAPH_NAME, MANIFEST_NAME
from lens_vdb._inference.onnx_runtime import INPUTS, OUTPUT, TRT_MAX_BATCH, read_manifest, tensorrt_profile
from lens_vdb._inference.remote_protocol import FINGERPRINT_PARAMETER
from lens_vdb._model.config import LensConfig

__all__ = ["export_triton", "TritonOptions", "render_config", "GPU_CONFIG_NAME"]

GPU_CONFIG_NAME = "gpu"
_MODEL_PY = Path(__file__).with_name("_triton_model.py")


@dataclass(frozen=True, kw_only=True)
class TritonOptions:
    """How Triton schedules the model: batch sizes, the batcher's wait, instances, threads, the TensorRT cache.

    ``max_batch_size``: rows per execution (clients split larger batches; 64 is also the top of
    the TensorRT profile); ``preferred_batch_sizes``: the sizes the dynamic batcher waits to fill, up
    to ``max_queue_delay_us`` microseconds; ``cpu_instances``: Python-backend model instances (each
    its own onnxruntime session of ``cpu_threads`` threads, 0 = all cores); ``gpu_instances``: ONNX
    Runtime instances per GPU; ``engine_cache``: where TensorRT keeps its engines on the GPU server
    (an absolute path there; built once, on the first load); ``max_length``: the longest input
    TensorRT's profile accepts (default: the model's).
    """

    max_batch_size: int = TRT_MAX_BATCH
    preferred_batch_sizes: tuple[int, ...] = (16, 32, 64)
    max_queue_delay_us: int = 2000
    cpu_instances: int = 1
    cpu_threads: int = 0
    gpu_instances: int = 1
    engine_cache: str = "/tmp/lens-vdb-trt-cache"
    max_length: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "cpu_instances", "gpu_instances"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LensInputError(f"TritonOptions.{name} must be an int >= 1, got {value!r}")
        if any(not isinstance(s, int) or not 1 <= s <= self.max_batch_size for s in self.preferred_batch_sizes):
            raise LensInputError(f"TritonOptions.preferred_batch_sizes must be ints from 1 to max_batch_size="
                                 f"{self.max_batch_size}, got {self.preferred_batch_sizes!r}")
        if self.max_batch_size > TRT_MAX_BATCH:
            raise LensInputError(f"TritonOptions.max_batch_size={self.max_batch_size} is over {TRT_MAX_BATCH}, the "
                                 "largest batch of the TensorRT profile; clients split larger batches themselves.")
        if self.max_queue_delay_us < 0 or self.cpu_threads < 0:
            raise LensInputError("TritonOptions.max_queue_delay_us and cpu_threads must be >= 0")
        if not Path(self.engine_cache).is_absolute():
            raise LensInputError(f"TritonOptions.engine_cache must be an absolute path on the GPU server, got "
                                 f"{self.engine_cache!r}")


def export_triton(export: str | Path, repository: str | Path, *, name: str = "lens",
                  options: TritonOptions | None = None, overwrite: bool = False) -> Path:
    """Write ``repository/name`` from the ONNX export in ``export``; returns the model folder.

    The layout: ``config.pbtxt`` (Python backend, CPU), ``configs/gpu.pbtxt`` (ONNX Runtime +
    TensorRT), ``1/model.onnx`` (+ ``model.onnx_data``) and ``1/model.py``, and the export's
    tokenizer, config, manifest and cluster map. Other models in ``repository`` are left alone;
    ``overwrite`` replaces an earlier ``name`` folder that holds a lens-vdb manifest, nothing else.
    The folder is written beside its target and moved into place whole.
    """
    options = options or TritonOptions()
    source = Path(export).expanduser().resolve()
    if not (source / GRAPH_NAME).is_file():
        raise LensError(f"{source} has no {GRAPH_NAME}; export the model first: lens-vdb export --out DIR, or "
                        "lens_vdb.export.export_onnx.")
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise LensInputError(f"name must be letters, digits, '-' or '_' (it is the model's URL path), got {name!r}")
    manifest = read_manifest(source)
    config = LensConfig.load(source)
    target = Path(repository).expanduser().resolve() / name
    _check_target(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        fingerprint = manifest.get("model_fingerprint") or f"onnx-{manifest['source_model_hash'][:24]}"
        max_length = options.max_length or config.max_length
        (staging / "config.pbtxt").write_text(render_config(name, k=config.k, fingerprint=fingerprint,
                                                            options=options, gpu=False, max_length=max_length))
        (staging / "configs").mkdir()
        (staging / "configs" / f"{GPU_CONFIG_NAME}.pbtxt").write_text(
            render_config(name, k=config.k, fingerprint=fingerprint, options=options, gpu=True,
                          max_length=max_length))
        version = staging / "1"
        version.mkdir()
        for graph_file in source.glob(f"{GRAPH_NAME}*"):
            shutil.copy2(graph_file, version / graph_file.name)
        shutil.copy2(_MODEL_PY, version / "model.py")
        for path in source.iterdir():  # the rest of the export: tokenizer, config, manifest, cluster map
            if path.is_file() and not path.name.startswith(GRAPH_NAME):
                shutil.copy2(path, staging / path.name)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _check_target(target: Path, overwrite: bool) -> None:
    if not target.exists():
        return
    if not overwrite:
        raise LensError(f"{target} exists; pass overwrite=True (--overwrite) to replace an earlier lens-vdb model "
                        "there, or choose another name.")
    if not (target / MANIFEST_NAME).is_file():
        raise LensError(f"{target} is not a lens-vdb model folder (no {MANIFEST_NAME}); overwrite only replaces "
                        "one. Choose another name.")


def render_config(name: str, *, k: int, fingerprint: str, options: TritonOptions, gpu: bool, max_length: int) -> str:
    """``config.pbtxt`` text (Triton's ``ModelConfig`` in protobuf text format) for the CPU or GPU server."""
    ragged = "" if gpu else " allow_ragged_batch: true"
    inputs = ",\n".join(f'  {{ name: "{i}" data_type: TYPE_INT64 dims: [ -1 ]{ragged} }}' for i in INPUTS)
    preferred = ", ".join(str(s) for s in options.preferred_batch_sizes)
    lines = [
        f'name: "{name}"',
        'backend: "onnxruntime"' if gpu else 'backend: "python"',
        f"max_batch_size: {options.max_batch_size}",
        f"input [\n{inputs}\n]",
        f'output [\n  {{ name: "{OUTPUT}" data_type: TYPE_FP32 dims: [ {k} ] }}\n]',
        f"dynamic_batching {{\n  preferred_batch_size: [ {preferred} ]\n"
        f"  max_queue_delay_microseconds: {options.max_queue_delay_us}\n}}",
        f"instance_group [ {{ count: {options.gpu_instances} kind: KIND_GPU }} ]" if gpu else
        f"instance_group [ {{ count: {options.cpu_instances} kind: KIND_CPU }} ]",
    ]
    if gpu:
        lines.append(_tensorrt(options, max_length))
    else:
        lines.append(_parameter("intra_op_thread_count", str(options.cpu_threads)))
    lines.append(_parameter(FINGERPRINT_PARAMETER, fingerprint))
    return "\n".join(lines) + "\n"


def _tensorrt(options: TritonOptions, max_length: int) -> str:
    """The TensorRT accelerator of the ONNX Runtime backend, as ``provider="tensorrt"`` sets it up locally."""
    settings = {"precision_mode": "FP16", "max_workspace_size_bytes": str(4 << 30), "trt_engine_cache_enable": "1",
                "trt_engine_cache_path": options.engine_cache, "trt_timing_cache_enable": "1",
                "trt_timing_cache_path": options.engine_cache, **tensorrt_profile(max_length)}
    parameters = "\n".join(f'      parameters {{ key: "{key}" value: "{value}" }}' for key, value in settings.items())
    return ("optimization {\n  execution_accelerators {\n    gpu_execution_accelerator: [ {\n"
            f'      name: "tensorrt"\n{parameters}\n    }} ]\n  }}\n}}')


def _parameter(key: str, value: str) -> str:
    return f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}'
