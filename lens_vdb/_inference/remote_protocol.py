"""The KServe v2 (Open Inference Protocol) messages a remote LENS encoder sends and reads; no I/O here.

A request carries the graph's own inputs, ``input_ids`` and ``attention_mask`` (INT64 ``[batch,
length]``), and asks for ``lens_embedding`` (FP32 ``[batch, k]``). Two encodings:

- JSON: tensors as flat lists (every v2 server: Triton, MLServer, KServe's ModelServer);
- the binary tensor extension (Triton, when ``GET /v2`` lists ``binary_tensor_data``): a JSON header
  of ``Inference-Header-Content-Length`` bytes, then the raw little-endian tensors, and the same in
  the response: about a third of the bytes and no float printing or parsing.

Every parse failure is a :class:`ValueError` with what was wrong; the caller names the URL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import LensModelError

__all__ = ["FINGERPRINT_PARAMETER", "HEADER_LENGTH", "ModelInfo", "encode_request", "decode_response",
           "parse_config", "BINARY_EXTENSION"]

# the model config parameter holding the LENS model's fingerprint (written by lens_vdb.export.export_triton)
FINGERPRINT_PARAMETER = "lens_fingerprint"
HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_EXTENSION = "binary_tensor_data"
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "lens_embedding"


@dataclass(frozen=True)
class ModelInfo:
    """What the client reads from the model's config endpoint: batch limit and identity (``None``: not said)."""

    max_batch_size: int | None
    fingerprint: str | None


def parse_config(body: Any) -> ModelInfo:
    """Triton's ``GET /v2/models/{name}/config`` JSON; servers without that endpoint give ``ModelInfo(None, None)``."""
    if not isinstance(body, dict):
        raise LensModelError(f"the model config is a {type(body).__name__}, not a JSON object")
    size = body.get("max_batch_size")
    parameter = (body.get("parameters") or {}).get(FINGERPRINT_PARAMETER) or {}
    fingerprint = parameter.get("string_value") if isinstance(parameter, dict) else None
    return ModelInfo(int(size) if isinstance(size, int) and size > 0 else None, fingerprint or None)


def encode_request(input_ids: np.ndarray, attention_mask: np.ndarray, *, binary: bool) -> tuple[bytes, dict[str, str]]:
    """The body and content headers of ``POST /v2/models/{name}/infer`` for one padded batch."""
    arrays = [np.ascontiguousarray(a, dtype="<i8") for a in (input_ids, attention_mask)]
    if not binary:
        body = {"inputs": [{"name": n, "shape": list(a.shape), "datatype": "INT64", "data": a.ravel().tolist()}
                           for n, a in zip(INPUTS, arrays)],
                "outputs": [{"name": OUTPUT}]}
        return json.dumps(body, separators=(",", ":")).encode(), {"Content-Type": "application/json"}
    header = {"inputs": [{"name": n, "shape": list(a.shape), "datatype": "INT64",
                          "parameters": {"binary_data_size": a.nbytes}} for n, a in zip(INPUTS, arrays)],
              "outputs": [{"name": OUTPUT, "parameters": {"binary_data": True}}]}
    head = json.dumps(header, separators=(",", ":")).encode()
    return head + b"".join(a.tobytes() for a in arrays), {"Content-Type": "application/octet-stream",
                                                          HEADER_LENGTH: str(len(head))}


def decode_response(content: bytes, header_length: str | None, *, rows: int, k: int) -> np.ndarray:
    """``lens_embedding`` of an inference response as float32 ``[rows, k]``, checked against what was sent."""
    if header_length is not None:
        try:
            split = int(header_length)
        except ValueError:
            raise LensModelError(f"{HEADER_LENGTH} is {header_length!r}, not a number") from None
        if not 0 < split <= len(content):
            raise LensModelError(f"{HEADER_LENGTH}={split} but the body has {len(content)} bytes")
        head, tail = content[:split], content[split:]
    else:
        head, tail = content, b""
    try:
        body = json.loads(head)
    except ValueError as exc:
        raise LensModelError(f"the body is not JSON ({exc}): {content[:80]!r}") from None
    outputs = body.get("outputs") if isinstance(body, dict) else None
    if not isinstance(outputs, list):
        raise LensModelError(f"no 'outputs' list in {str(body)[:120]!r}")
    offset = 0
    for output in outputs:
        if not isinstance(output, dict):
            raise LensModelError(f"an output is {type(output).__name__}, not an object")
        size = (output.get("parameters") or {}).get("binary_data_size")
        if output.get("name") != OUTPUT:
            offset += int(size or 0)
            continue
        if output.get("datatype") != "FP32":
            raise LensModelError(f"{OUTPUT} has datatype {output.get('datatype')!r}, expected FP32")
        if size is not None:
            raw = tail[offset : offset + int(size)]
            if len(raw) != int(size) or len(raw) != rows * k * 4:
                raise LensModelError(f"{OUTPUT} has {len(raw)} bytes, expected {rows * k * 4} ([{rows}, {k}] FP32)")
            values = np.frombuffer(raw, dtype="<f4")
        else:
            data = output.get("data")
            if not isinstance(data, list):
                raise LensModelError(f"{OUTPUT} has no 'data' list")
            values = np.asarray(data, dtype=np.float32).ravel()
        if list(output.get("shape") or []) != [rows, k] or values.size != rows * k:
            raise LensModelError(f"{OUTPUT} has shape {output.get('shape')} ({values.size} values), expected [{rows}, {k}]")
        return values.reshape(rows, k).astype(np.float32)
    raise LensModelError(f"the response has no {OUTPUT!r} output (outputs: {[o.get('name') for o in outputs]})")
