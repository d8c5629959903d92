"""Triton Python-backend model that runs a LENS graph with ONNX Runtime (copied as ``<repo>/<name>/1/model.py``).

For Triton builds without the ONNX Runtime backend (CPU-only builds, the ``nvidia-pytriton`` wheel):
the server's Python stub loads this file, opens ``model.onnx`` beside it with onnxruntime, and runs
each batch the dynamic batcher hands it. Requests of different lengths arrive together (the inputs
allow ragged batches), so it pads them to the longest, runs the graph once, and answers each
request with its own rows. Padding is exact: the graph ignores every position whose attention
mask is 0 (bidirectional mask, positions over real tokens, pooling over real tokens).

Self-contained on purpose: the server's Python has numpy and onnxruntime, not lens-vdb.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend stub

INPUTS = ("input_ids", "attention_mask")
OUTPUT = "lens_embedding"
GRAPH = "model.onnx"


class TritonPythonModel:
    """One ONNX Runtime session per model instance."""

    def initialize(self, args: dict[str, str]) -> None:
        import onnxruntime as ort

        config = json.loads(args["model_config"])
        parameters = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_thread_count", "0") or 0)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        graph = Path(args["model_repository"]) / args["model_version"] / GRAPH
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.k = int(self.session.get_outputs()[0].shape[-1])

    def execute(self, requests: list) -> list:
        checked, responses = [], [None] * len(requests)
        for index, request in enumerate(requests):
            arrays = [pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in INPUTS]
            problem = _problem(*arrays)
            if problem:
                error = pb_utils.TritonError(problem, pb_utils.TritonError.INVALID_ARG)  # HTTP 400: the client's fault
                responses[index] = pb_utils.InferenceResponse(error=error)
            else:
                checked.append((index, arrays[0], arrays[1]))
        if checked:
            width = max(ids.shape[1] for _, ids, _ in checked)
            input_ids = np.concatenate([_pad(ids, width) for _, ids, _ in checked])
            mask = np.concatenate([_pad(m, width) for _, _, m in checked])
            vectors = self.session.run([OUTPUT], {"input_ids": input_ids, "attention_mask": mask})[0]
            start = 0
            for index, ids, _ in checked:
                rows = vectors[start : start + ids.shape[0]].astype(np.float32, copy=False)
                start += ids.shape[0]
                responses[index] = pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(OUTPUT, rows)])
        return responses

    def finalize(self) -> None:
        self.session = None


def _problem(input_ids: np.ndarray, mask: np.ndarray) -> str:
    """Why a request cannot run (Triton checked names, dtypes and ranks already), or ``""``."""
    if input_ids.shape != mask.shape:
        return f"input_ids {list(input_ids.shape)} and attention_mask {list(mask.shape)} must have one shape"
    if input_ids.shape[1] == 0:
        return "texts of 0 tokens: send at least one token per row"
    if not np.isin(mask, (0, 1)).all():
        return "attention_mask holds values other than 0 and 1"
    if (mask.sum(axis=1) == 0).any():
        return "a row of attention_mask is all 0 (no token to pool)"
    return ""


def _pad(array: np.ndarray, width: int) -> np.ndarray:
    return np.pad(array.astype(np.int64, copy=False), ((0, 0), (0, width - array.shape[1])))

