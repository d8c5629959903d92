"""Inference backends behind :class:`LensEncoder`. The backend is chosen here and nowhere else."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .._errors import LensInputError
from .._machine import default_threads
from .._model.identity import model_fingerprint
from .._model.lens_model import LensModel
from .._vocabulary import BACKENDS, BackendName, Precision, Provider, check_choice
from .features import positive_int
from .loaded import Loaded
from .torch_backend import TorchBackend, resolve_device, resolve_dtype, set_torch_threads

if TYPE_CHECKING:
    from .candidates import BackendChoice
    from .remote_options import RemoteOptions

__all__ = ["TorchBackend", "load_backend", "resolve_device", "resolve_dtype", "BackendName", "BACKENDS"]



def load_backend(name: BackendName, model: LensModel | str | Path, *, device: str | None,
                 dtype: Precision | torch.dtype | None, provider: Provider | None = None,
                 max_length: int | None = None, threads: int | None = None, url: str | None = None,
                 remote: RemoteOptions | None = None) -> tuple[Loaded, BackendChoice]:
    """The one place a backend name becomes a backend; returns it and the :class:`BackendChoice` that names it.

    ``"torch"`` takes a :class:`LensModel` or anything :meth:`LensModel.from_pretrained` loads;
    ``"onnx"`` takes a directory written by :func:`lens_vdb.export.export_onnx` and needs no
    torch weights (``provider``: ``"cpu"``, ``"cuda"`` or ``"tensorrt"``; ``device="cuda:N"``
    picks the GPU; the precision was fixed at export, so ``dtype`` stays ``"fp32"``);
    ``"auto"`` measures the candidates on this machine and loads the fastest
    (:mod:`lens_vdb._inference.auto`; it picks the precision and provider, so neither is given).
    ``max_length``: the longest input the caller sends (TensorRT's shape profile goes up to it).
    ``threads``: CPU threads for the backend (torch's are per process; ONNX Runtime's per session);
    ``None``: the physical cores this process may use.
    ``"remote"`` (what ``url=`` selects): the graph runs on a KServe v2 server at ``url`` (a model URL,
    ``http://host:8000/v2/models/lens``); ``model`` is the export (or the Triton model folder written by
    ``lens_vdb.export.export_triton``) whose tokenizer, config and cluster map the client uses;
    ``remote``: timeouts, retries, token (:class:`~lens_vdb._inference.remote.RemoteOptions`).
    """
    from .auto import load_auto
    from .candidates import BackendChoice

    if threads is not None:
        positive_int(threads, "threads")
    threads = threads or default_threads()
    if url is not None and name in ("torch", "auto"):  # the defaults (encoder, CLI): url= alone asks for a server
        name = "remote"
    check_choice(name, BACKENDS, "backend")
    if name == "remote":
        return _load_remote(model, url, remote, device=device, dtype=dtype, provider=provider)
    if url is not None or remote is not None:
        raise LensInputError(f"url= and remote= are for the remote backend; backend={name!r} runs the model here. "
                             "Leave backend= out (or pass backend='remote') to call a server.")
    if name in ("auto", "torch"):
        set_torch_threads(threads)  # per process: only where torch runs the model
    if name == "auto":
        if dtype is not None or provider is not None:
            raise LensInputError(f"backend='auto' chooses the precision and the provider itself (got dtype={dtype!r}, "
                                 f"provider={provider!r}); to fix one, name the backend: backend='torch' or 'onnx'.")
        return load_auto(model, device=device, threads=threads, max_length=max_length)
    if name == "torch":
        if provider is not None:
            raise LensInputError("provider= is for backend='onnx'; the torch backend takes device= and dtype=")
        if not isinstance(model, LensModel):
            model = LensModel.from_pretrained(model)
        resolved = resolve_device(device)
        fingerprint = model_fingerprint(model)  # before any cast: the same identity in every dtype
        backend = TorchBackend(model, resolved, resolve_dtype(dtype, resolved))
        choice = BackendChoice(f"torch-{_dtype_name(backend.dtype)}", "backend='torch' was asked for",
                               device=resolved, threads=threads)
        return Loaded(backend, model.tokenizer, model.config, model.cluster_map, fingerprint), choice
    from .onnx_runtime import load_onnx, read_manifest

    if isinstance(model, LensModel):
        raise LensInputError("backend='onnx' takes an exported directory; export it with lens_vdb.export.export_onnx")
    if dtype not in (None, "fp32", torch.float32):
        raise LensInputError(f"dtype={dtype!r} is for backend='torch'; an ONNX graph's precision is fixed when it "
                         "is exported: export_onnx(..., dtype='fp16') or quantize='int8'.")
    on_gpu = device is not None and device.startswith("cuda")
    device_id = int(device.partition(":")[2] or 0) if device is not None and on_gpu else 0
    loaded = load_onnx(Path(model), provider=provider or ("cuda" if on_gpu else "cpu"), max_length=max_length,
                       device_id=device_id, threads=threads)
    manifest = read_manifest(Path(model))
    choice = BackendChoice(f"onnx-{manifest.get('quantize') or manifest['dtype']}", "backend='onnx' was asked for",
                           device=device or "cpu", threads=threads)
    return loaded, choice


def _load_remote(model: LensModel | str | Path, url: str | None, options: RemoteOptions | None, *,
                 device: str | None, dtype: object, provider: str | None) -> tuple[Loaded, BackendChoice]:
    from .candidates import BackendChoice
    from .onnx_runtime import open_export_files
    from .remote import RemoteBackend

    if url is None:
        raise LensInputError("backend='remote' needs url=, the model's KServe v2 URL, e.g. "
                             "http://127.0.0.1:8000/v2/models/lens")
    if isinstance(model, LensModel):
        raise LensInputError("the remote backend takes the export folder (or the Triton model folder) of the model "
                             "the server runs, for its tokenizer and config; not a LensModel")
    if device is not None or dtype is not None or provider is not None:
        raise LensInputError(f"device=, dtype= and provider= are set on the server for a remote encoder (got "
                             f"device={device!r}, dtype={dtype!r}, provider={provider!r}); leave them out.")
    files = open_export_files(Path(model))
    backend = RemoteBackend(url, k=files.config.k, fingerprint=files.fingerprint, options=options)
    choice = BackendChoice("remote", f"url={backend.url!r} was given", device="remote", threads=None)
    return Loaded(backend, files.tokenizer, files.config, files.cluster_map, files.fingerprint), choice


def _dtype_name(dtype: torch.dtype) -> str:
    from .torch_backend import precision_name

    return precision_name(dtype) or str(dtype)
