"""``backend="auto"``: the fastest backend for this model on this machine, by measuring the candidates.

On a CPU the candidates are torch fp32, torch bf16, the ONNX fp32 graph and the ONNX int8 graph;
on a GPU torch fp32/bf16/fp16 and the exported graphs on the CUDA and TensorRT providers that
the installed onnxruntime has. Which one wins depends on the CPU's instructions (VNNI or AMX
for int8, AVX512-BF16 or AMX for bf16), so it is measured, not assumed: see
:mod:`.candidates` for what is measured and how one is picked, :mod:`.calibration` for how,
:mod:`.gemm_proxy` for graphs not exported yet, and :mod:`.auto_cache` for what is kept. Every candidate must give the vectors of torch fp32 (cosine
>= :data:`MIN_COSINE` on the calibration batch, which also decides whether bf16 may run), and
a lossy one must beat the fastest exact one by :data:`LOSSY_MARGIN`. The model stays the same:
the fingerprint of every candidate is the model's.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

from .._errors import LensError
from .._files import GRAPH_NAME, MANIFEST_NAME
from .._machine import cpu_info
from .._model.identity import model_fingerprint
from .._model.lens_model import LensModel
from . import exporters
from .auto_cache import DecisionCache, decision_key, find_graph, graph_dir, model_stamp
from .calibration import CALIBRATION_TOKENS, calibration_batch, measure
from .candidates import (
    CANDIDATES,
    TORCH_DTYPES,
    BackendChoice,
    OnnxCandidate,
    device_id,
    open_candidates,
    pick,
)
from .loaded import Loaded
from .onnx_runtime import load_onnx, read_manifest
from .torch_backend import TorchBackend, resolve_device

__all__ = ["load_auto", "MIN_COSINE", "EXPORT_MARGIN"]

logger = logging.getLogger(__name__)

MIN_COSINE = 0.99  # the export's bar for lossy graphs, applied to every candidate here
EXPORT_MARGIN = 1.15  # a graph not exported yet must be predicted this much faster than the best measured


def load_auto(source: LensModel | str | Path, *, device: str | None, threads: int, max_length: int | None,
              use_cache: bool = True, export: bool = True) -> tuple[Loaded, BackendChoice]:
    """Measure (or read the measurement of) each candidate and load the fastest one that gives fp32's vectors.

    ``use_cache=False`` measures even when this machine has measured before (and keeps the new
    measurement); ``export=False`` never exports a graph, and keeps nothing (the bench uses both).
    """
    if isinstance(source, (str, Path)) and (Path(source) / MANIFEST_NAME).is_file() \
            and (Path(source) / GRAPH_NAME).is_file():
        on_gpu = (device or "").startswith("cuda")
        loaded = load_onnx(Path(source), provider="cuda" if on_gpu else "cpu", max_length=max_length,
                           threads=threads, device_id=device_id(device or "cpu"))
        manifest = read_manifest(Path(source))
        name = f"onnx-{manifest.get('quantize') or manifest['dtype']}"
        return loaded, BackendChoice(name, "an exported graph: only ONNX Runtime runs it", threads=threads)
    device = resolve_device(device)
    directory = Path(source) if isinstance(source, (str, Path)) and Path(source).is_dir() else None
    stamp = model_stamp(directory) if directory is not None else None
    cache = DecisionCache.for_model(directory) if directory is not None else None
    if cache is not None and stamp is not None and use_cache and (known := cache.fingerprint_of(stamp)):
        found = _reuse(cache, known, source, device, threads, max_length)
        if found is not None:
            return found
    model = source if isinstance(source, LensModel) else LensModel.from_pretrained(source)
    fingerprint = model_fingerprint(model)
    cache = cache or DecisionCache.for_model(None, fingerprint)
    if use_cache and directory is None:
        found = _reuse(cache, fingerprint, model, device, threads, max_length)
        if found is not None:
            return found
    loaded, choice = _calibrate(model, fingerprint, device, threads, max_length, export=export)
    if export:  # with export=False the choice may miss a graph that would have won: not kept
        cache.store(decision_key(fingerprint, device, threads), choice.to_json() | {"fingerprint": fingerprint},
                    stamp=stamp, fingerprint=fingerprint)
    logger.info("backend='auto' chose %s", choice)
    return loaded, choice


def _reuse(cache: DecisionCache, fingerprint: str, source: LensModel | str | Path, device: str, threads: int,
           max_length: int | None) -> tuple[Loaded, BackendChoice] | None:
    """The backend an earlier measurement chose, if it is still there (an exported graph can be deleted)."""
    entry = cache.lookup(decision_key(fingerprint, device, threads))
    if entry is None or entry.get("name") not in CANDIDATES:
        return None
    fields = {key: entry[key] for key in BackendChoice.__dataclass_fields__ if key in entry}
    choice = BackendChoice(**fields | {"cached": True})
    candidate = CANDIDATES[choice.name]
    if isinstance(candidate, OnnxCandidate):
        graph = find_graph(fingerprint, candidate.dtype)
        if graph is None:
            return None
        loaded = load_onnx(graph, provider=candidate.provider, max_length=max_length, threads=threads,
                           device_id=device_id(device))
    else:
        model = source if isinstance(source, LensModel) else LensModel.from_pretrained(source)
        if isinstance(source, LensModel) and candidate.dtype != "fp32":
            model = copy.deepcopy(model)  # the caller's model keeps its fp32 weights (and fingerprint)
        backend = TorchBackend(model, device, TORCH_DTYPES[candidate.dtype])
        loaded = Loaded(backend, model.tokenizer, model.config, model.cluster_map, fingerprint)
    logger.info("backend='auto' uses %s, measured earlier on this machine (%s)", choice.name, cache.path)
    return loaded, choice


def _calibrate(model: LensModel, fingerprint: str, device: str, threads: int, max_length: int | None, *,
               export: bool) -> tuple[Loaded, BackendChoice]:
    start = time.perf_counter()
    length = min(CALIBRATION_TOKENS, max_length or model.config.max_length)
    pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else model.tokenizer.eos_token_id
    batch = calibration_batch(model.tokenizer, int(pad), length)
    loaded, excluded, missing = open_candidates(model, fingerprint, device, threads, max_length)
    measured = measure({name: item.backend for name, item in loaded.items()}, batch)
    docs = batch[0].shape[0]
    reference = measured["torch-fp32"].vectors
    speed = {}
    for name, result in measured.items():
        cosine = result.min_cosine(reference)
        if name != "torch-fp32" and cosine < MIN_COSINE:  # the reference itself always stands
            excluded[name] = f"its vectors' cosine to torch fp32 fell to {cosine:.4f} (< {MIN_COSINE})"
        else:
            speed[name] = docs / result.seconds
    predicted = _predict(model, missing, speed, excluded, rows=docs * length, threads=threads,
                         on_gpu=device.startswith("cuda"))
    calibration_seconds = time.perf_counter() - start
    export_seconds = None
    hopeful = _worth_exporting(predicted, max(speed.values()), excluded, export=export)
    if hopeful is not None:
        export_start = time.perf_counter()
        _export_and_measure(hopeful, model, fingerprint, threads, max_length, batch, loaded, speed, excluded)
        export_seconds = time.perf_counter() - export_start
    name, reason = pick(speed)
    choice = BackendChoice(name, reason, speed, predicted, excluded, calibration_seconds, export_seconds,
                           cpu=cpu_info().describe(), device=device, threads=threads)
    return loaded[name], choice


def _predict(model: LensModel, missing: list[str], speed: dict[str, float], excluded: dict[str, str], *,
             rows: int, threads: int, on_gpu: bool) -> dict[str, float]:
    """Predicted documents/s of the graphs not exported yet that could be (CPU only), from the GEMM proxy."""
    exporter = None if on_gpu or not missing else exporters.find()
    exportable = []
    for name in missing:
        kind = CANDIDATES[name].dtype
        why = ("not exported; on a GPU backend='auto' measures only graphs exported already (the proxy that "
               "predicts a graph's speed is for CPUs): export it with lens_vdb.export.export_onnx"
               if on_gpu else exporters.why_not(exporter, kind))
        if why is None:
            exportable.append(name)
        else:
            excluded[name] = why
    if not exportable:
        return {}
    from .gemm_proxy import proxy_speedups

    kinds = tuple(CANDIDATES[name].dtype for name in exportable)
    try:
        ratios = proxy_speedups(model.backbone.config, rows=rows, threads=threads, kinds=kinds)
    except LensError as exc:  # onnx or onnxruntime missing
        excluded.update(dict.fromkeys(exportable, str(exc)))
        return {}
    return {name: speed["torch-fp32"] * ratios[CANDIDATES[name].dtype] for name in exportable}


def _worth_exporting(predicted: dict[str, float], best: float, excluded: dict[str, str], *,
                     export: bool) -> str | None:
    """The graph to export: the one predicted fastest, when :data:`EXPORT_MARGIN` faster than ``best``
    (documents/s measured); says in ``excluded`` why each other one is not exported."""
    hopeful = max(predicted, key=predicted.__getitem__, default=None)
    for name, value in predicted.items():
        if not export:
            excluded[name] = "not exported (export=False)"
        elif name != hopeful:
            excluded[name] = f"not exported: {hopeful} is predicted faster"
        elif value <= EXPORT_MARGIN * best:
            excluded[name] = (f"not exported: predicted {value / best:.2f}x the best measured, under the "
                              f"{EXPORT_MARGIN:.2f}x that pays for an export")
    return hopeful if hopeful is not None and hopeful not in excluded else None


def _export_and_measure(name: str, model: LensModel, fingerprint: str, threads: int, max_length: int | None,
                        batch: Any, loaded: dict[str, Loaded], speed: dict[str, float],
                        excluded: dict[str, str]) -> None:
    """Export the predicted winner once, then measure it and the others again, side by side."""
    kind = CANDIDATES[name].dtype
    exporter = exporters.find()
    if exporter is None:  # a prediction needs the exporter; it can still fail to load the second time
        excluded[name] = "not exported: the ONNX exporter cannot load (pip install 'lens-vdb[export]')"
        return
    logger.warning("backend='auto': exporting the %s ONNX graph of this model into %s, once (minutes: the "
                   "export, then its checks against torch); it is predicted to be the fastest here.",
                   kind, graph_dir(fingerprint, kind))
    try:
        graph = exporter.export(model, graph_dir(fingerprint, kind), kind)
        loaded[name] = load_onnx(graph, provider="cpu", max_length=max_length, threads=threads)
    except LensError as exc:  # a check refused the graph: nothing was written
        excluded[name] = f"its export was refused: {exc}"
        return
    except Exception as exc:  # the tracer or a converter failed: a speed-up lost, never the encoder
        logger.warning("backend='auto': the %s export failed (%s: %s); choosing among what was measured.",
                       kind, type(exc).__name__, exc)
        excluded[name] = f"its export failed ({type(exc).__name__}: {exc})"
        return
    again = measure({key: item.backend for key, item in loaded.items() if key not in excluded}, batch)
    cosine = again[name].min_cosine(again["torch-fp32"].vectors)
    if cosine < MIN_COSINE:
        excluded[name] = f"its vectors' cosine to torch fp32 fell to {cosine:.4f} (< {MIN_COSINE})"
        return
    docs = batch[0].shape[0]  # all measured again side by side: the export took minutes, the load has moved
    speed.update({key: docs / result.seconds for key, result in again.items() if key in speed or key == name})
