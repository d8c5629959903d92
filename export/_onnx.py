"""Export a LENS model to one self-contained ONNX graph through Optimum, validated against torch.

The graph takes ``input_ids`` and ``attention_mask`` (any batch, any length) and returns the
L2-normalised LENS embedding ``lens_embedding [batch, k]``. Inside it: the bidirectional 4-D
mask, positions over real tokens, the backbone (eager attention, so the mask is a plain tensor
add), the centroid head, the query-only pooling mask computed from the ``<query>`` token id,
shift-by-one max pooling of ``log(1 + relu(logits))``, and the normalisation. The query mask is
in the graph, not a third input: callers send exactly what they send to any embedding graph.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from lens_vdb import LensError, LensModel
from lens_vdb._deps import require
from lens_vdb._onnx_runtime import CLUSTER_MAP_NAME, GRAPH_NAME, INPUTS, OUTPUT

from ._manifest import Manifest, model_hash
from ._validate import validate_export

__all__ = ["export_onnx"]

DEFAULT_OPSET = 17


def _onnx_config_class():
    require("optimum.exporters.onnx", "onnx")
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


def __getattr__(name: str):
    if name == "LensOnnxConfig":
        return _onnx_config_class()
    raise AttributeError(name)


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
    dtype: Literal["fp32", "fp16"] = "fp32",
    quantize: Literal["int8"] | None = None,
    opset: int = DEFAULT_OPSET,
    texts: list[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Export, validate and write ``out_dir`` (graph, manifest, config, tokenizer, cluster map).

    Validation runs the graph in ONNX Runtime on fixed queries and documents of mixed lengths
    (or ``texts``) and compares with the torch model: fp32 must stay within 1e-4 max abs
    difference; fp16 and int8 must keep every cosine >= 0.99. Everything is written to a
    temporary folder and moved into place only when validation passed, so a failed export
    leaves nothing that looks like a success. Returns ``out_dir``.
    """
    if dtype not in ("fp32", "fp16"):
        raise ValueError(f"dtype must be 'fp32' or 'fp16', got {dtype!r}")
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    if quantize and dtype != "fp32":
        raise ValueError("int8 quantization starts from the fp32 graph: use dtype='fp32' with quantize='int8'")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise LensError(f"{out_dir} exists and is not empty; pass overwrite=True to replace it.")
    if not isinstance(model, LensModel):
        model = LensModel.from_pretrained(model)
    model = model.float().eval()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        external = _export_fp32(model, staging, opset)
        if dtype == "fp16":
            _to_fp16(staging / GRAPH_NAME)
        if quantize == "int8":
            _quantize_int8(staging)
        _write_side_files(model, staging)
        report = validate_export(model, staging, texts=texts, fp32=(dtype == "fp32" and quantize is None))
        Manifest(source_model_hash=model_hash(model), base_model=model.config.base_model, k=model.k, opset=opset,
                 dtype=dtype, quantize=quantize, max_abs_diff=report.max_abs_diff, min_cosine=report.min_cosine,
                 validated_texts=report.texts, external_data=external).save(staging)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _export_fp32(model: LensModel, directory: Path, opset: int) -> bool:
    from optimum.exporters.onnx.convert import export_pytorch

    backbone_config = model.backbone.config
    previous = backbone_config._attn_implementation
    backbone_config._attn_implementation = "eager"  # the mask is a plain add; SDPA's mask path can fail to trace
    try:
        config = _onnx_config_class()(backbone_config, task="feature-extraction")
        export_pytorch(_LensGraph(model), config, opset, directory / GRAPH_NAME,
                       input_shapes={"batch_size": 2, "sequence_length": 16})
    finally:
        backbone_config._attn_implementation = previous
    return any(p.name != GRAPH_NAME and p.name.startswith(GRAPH_NAME) for p in directory.iterdir())


def _to_fp16(path: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    graph = onnx.load(str(path))
    converted = convert_float_to_float16(graph, keep_io_types=True)
    large = converted.ByteSize() > 2**31 - 1 if hasattr(converted, "ByteSize") else False
    onnx.save(converted, str(path), save_as_external_data=large, location=f"{GRAPH_NAME}_data" if large else None)


def _quantize_int8(directory: Path) -> None:
    """Dynamic int8 quantization of the weights through Optimum's ORTQuantizer."""
    require("optimum.onnxruntime", "onnx")
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    quantizer = ORTQuantizer.from_pretrained(directory, file_name=GRAPH_NAME)
    config = AutoQuantizationConfig.avx2(is_static=False, per_channel=True)
    quantized_dir = directory / "int8"
    quantizer.quantize(save_dir=quantized_dir, quantization_config=config)
    produced = next(quantized_dir.glob("*.onnx"))
    for leftover in directory.glob(f"{GRAPH_NAME}*"):
        leftover.unlink()
    produced.rename(directory / GRAPH_NAME)
    shutil.rmtree(quantized_dir)


def _write_side_files(model: LensModel, directory: Path) -> None:
    from safetensors.torch import save_file

    model.config.replace(has_cluster_map=model.cluster_map is not None).save(directory)
    model.tokenizer.save_pretrained(directory)
    if model.cluster_map is not None:
        save_file({"cluster_tokens": model.cluster_map.tokens.contiguous(),
                   "cluster_offsets": model.cluster_map.offsets.contiguous()}, str(directory / CLUSTER_MAP_NAME))


