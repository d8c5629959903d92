"""How fast ONNX Runtime would run a graph not exported yet, measured in seconds instead of minutes.

Exporting a graph just to time it costs minutes (int8: about 3, its MRR@10 check included).
The forward pass of a decoder LENS model is matrix products (the README's ONNX section: 85% of
ONNX Runtime's time is MatMul; each runtime runs the model at its own GEMM ceiling), so this
module times the products of :data:`LAYERS` decoder layers of the model's own shapes (q, k, v,
o, gate, up, down on ``rows`` tokens) three ways on this CPU: in torch fp32, as ONNX Runtime
``MatMul`` (what the fp32 graph runs) and as ONNX Runtime ``MatMulNBits`` with 8-bit weights
in blocks of 128 and int8 compute (exactly the kernel and settings of ``quantize="int8"``).
The speed-up of each over torch, times torch's measured speed on the real model, predicts the
graph's speed; ``backend="auto"`` exports a graph only when that prediction beats what it
measured by a margin, then measures the real graph before choosing it. The weights are random:
the kernels' speed does not depend on their values.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._deps import require

__all__ = ["proxy_speedups", "LAYERS", "BLOCK_SIZE"]

LAYERS = 2
REPEATS = 3
BLOCK_SIZE = 128  # the int8 export's block size (lens_vdb.export._quantize.BLOCK_SIZE)


def _shapes(config: Any) -> list[tuple[str, str, int, int]]:
    """(output, input, K, N) of one decoder layer's weight products, in the order they depend on each other."""
    hidden, inter = config.hidden_size, config.intermediate_size
    head_dim = getattr(config, "head_dim", None) or hidden // config.num_attention_heads
    q, kv = config.num_attention_heads * head_dim, config.num_key_value_heads * head_dim
    return [("q", "x", hidden, q), ("k", "x", hidden, kv), ("v", "x", hidden, kv), ("o", "q", q, hidden),
            ("gate", "o", hidden, inter), ("up", "o", hidden, inter), ("down", "act", inter, hidden)]


def _weights(config: Any) -> list[dict[str, np.ndarray]]:
    generator = np.random.default_rng(0)
    return [{name: generator.standard_normal((k, n), dtype=np.float32) * 0.02 for name, _, k, n in _shapes(config)}
            for _ in range(LAYERS)]


def _torch_layers(weights: list[dict[str, np.ndarray]], config: Any) -> Callable[[np.ndarray], None]:
    tensors = [{name: torch.from_numpy(w) for name, w in layer.items()} for layer in weights]

    @torch.inference_mode()
    def run(x: np.ndarray) -> None:
        h = torch.from_numpy(x)
        for layer in tensors:
            out = {"x": h}
            for name, source, _, _ in _shapes(config):
                if name == "down":
                    out["act"] = out["gate"] * out["up"]
                out[name] = out[source] @ layer[name]
            h = out["down"]
    return run


def _onnx_graph(weights: list[dict[str, np.ndarray]], config: Any, rows: int, int8: bool) -> bytes:
    require("onnx", "onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers = [], []
    current = "x"
    for index, layer in enumerate(weights):
        names = {"x": current}
        for name, source, k, n in _shapes(config):
            if name == "down":
                names["act"] = f"act{index}"
                nodes.append(helper.make_node("Mul", [names["gate"], names["up"]], [names["act"]]))
            out, weight = f"{name}{index}", f"w_{name}{index}"
            names[name] = out
            if int8:
                blocks = -(-k // BLOCK_SIZE)
                codes = np.random.default_rng(index).integers(0, 256, (n, blocks, BLOCK_SIZE), dtype=np.uint8)
                scales = np.full((n, blocks), 1e-3, np.float32)
                initializers += [numpy_helper.from_array(codes, weight), numpy_helper.from_array(scales, weight + "_s")]
                nodes.append(helper.make_node("MatMulNBits", [names[source], weight, weight + "_s"], [out],
                                              domain="com.microsoft", K=k, N=n, bits=8, block_size=BLOCK_SIZE,
                                              accuracy_level=4))
            else:
                initializers.append(numpy_helper.from_array(layer[name], weight))
                nodes.append(helper.make_node("MatMul", [names[source], weight], [out]))
        current = names["down"]
    hidden = config.hidden_size
    graph = helper.make_graph(nodes, "lens-gemm-proxy",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, hidden])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, [rows, hidden])],
                              initializers)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8).SerializeToString()


def _run_session(session: Any, x: np.ndarray) -> object:
    """One run of an ONNX Runtime session over the proxy's input ``x``."""
    return session.run(None, {"x": x})


def proxy_speedups(config: Any, *, rows: int, threads: int, kinds: tuple[str, ...] = ("fp32", "int8")
                   ) -> dict[str, float]:
    """Torch fp32's time over ONNX Runtime's for each ``kind`` of graph (``"fp32"``, ``"int8"``), on the
    weight products of the backbone ``config`` for ``rows`` tokens and ``threads`` threads."""
    ort = require("onnxruntime", "onnx")
    from .onnx_runtime import _session_options

    weights = _weights(config)
    runs: dict[str, Callable[[np.ndarray], object]] = {"torch": _torch_layers(weights, config)}
    for kind in kinds:
        session = ort.InferenceSession(_onnx_graph(weights, config, rows, int8=(kind == "int8")),
                                       _session_options(ort, threads), providers=["CPUExecutionProvider"])
        runs[kind] = functools.partial(_run_session, session)
    x = np.random.default_rng(1).standard_normal((rows, config.hidden_size), dtype=np.float32)
    best = dict.fromkeys(runs, float("inf"))
    for run in runs.values():
        run(x)
    for _ in range(REPEATS):  # interleaved, as in the calibration
        for name, run in runs.items():
            start = time.perf_counter()
            run(x)
            best[name] = min(best[name], time.perf_counter() - start)
    return {kind: best["torch"] / best[kind] for kind in kinds}
