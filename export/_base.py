"""What every exporter shares: the options, the manifest it writes, and the hash of the source model.

An exporter turns a :class:`~lens_vdb.LensModel` into a directory that a lens-vdb backend opens
without the torch weights, and writes :class:`Manifest` into it only after the graph passed
validation against the torch model. The runtime (``lens_vdb._inference.onnx_runtime``) reads the manifest
back and refuses a directory without one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from lens_vdb import LensInputError, LensModel, LensModelError
from lens_vdb._files import MANIFEST_NAME
from lens_vdb._inference.onnx_runtime import MANIFEST_FORMAT, MANIFEST_VERSION
from lens_vdb._vocabulary import EXPORT_DTYPES, QUANTIZATIONS, ExportDtype, Quantization, check_choice

__all__ = ["Manifest", "ExportDtype", "Quantization", "model_hash", "check_options"]



@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Written as ``manifest.json`` beside the graph, only after validation passed.

    ``max_abs_diff`` and ``min_cosine`` compare the exported graph with the torch model on the
    validation texts; ``retrieval`` (int8 graphs) holds the MRR@10 of torch and of the graph on
    the bench corpus, ``None`` where that check did not run; ``query_token_id`` is the
    ``<query>`` id baked into the graph's pooling (the loader checks the tokenizer beside it
    still has it); ``source_model_hash`` is :func:`model_hash` of the model that was exported, and
    ``model_fingerprint`` its identity, the one :attr:`lens_vdb.LensEncoder.fingerprint` reports
    on every backend (``None`` in manifests written before lens-vdb recorded it); ``cpu`` is the
    CPU the figures (differences, cosines, MRRs) were measured on: model name, cores and the
    instruction sets int8 and bf16 speed and rounding depend on (:func:`lens_vdb._machine.cpu_info`).
    """

    format: str = MANIFEST_FORMAT
    version: int = MANIFEST_VERSION
    source_model_hash: str
    model_fingerprint: str | None = None
    base_model: str | None
    k: int
    opset: int
    dtype: str
    quantize: str | None
    max_abs_diff: float
    min_cosine: float
    validated_texts: int
    query_token_id: int | None = None
    retrieval: dict[str, Any] | None = None
    cpu: dict[str, Any] | None = None
    external_data: bool
    versions: dict[str, str] = field(default_factory=dict)

    def save(self, directory: Path) -> Path:
        path = directory / MANIFEST_NAME
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> Manifest:
        """The manifest of an export dir (checked by the runtime's reader first)."""
        from lens_vdb._inference.onnx_runtime import read_manifest

        data = read_manifest(Path(directory))
        try:
            return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
        except TypeError as exc:  # a field without a default is missing
            raise LensModelError(f"{Path(directory) / MANIFEST_NAME} is incomplete ({exc}); export the model "
                                 "again.") from exc


def check_options(dtype: ExportDtype, quantize: Quantization | None) -> None:
    """Refuse unknown or contradictory precision options, naming the valid ones."""
    check_choice(dtype, EXPORT_DTYPES, "dtype")
    check_choice(quantize, (None, *QUANTIZATIONS), "quantize")
    if quantize and dtype != "fp32":
        raise LensInputError(f"int8 quantization starts from the fp32 graph: use dtype='fp32' with quantize={quantize!r}")


def model_hash(model: LensModel) -> str:
    """SHA-256 over the LENS config (attention, pooling, k...) and every parameter and buffer (name,
    dtype, shape, bytes, in name order): the same weights with causal attention hash differently."""
    digest = hashlib.sha256(json.dumps(asdict(model.config), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()
