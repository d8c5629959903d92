"""The encoder on CUDA in fp32, bf16 and fp16 agrees with the CPU. Skipped with a reason without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lens_vdb import LensEncoder

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on CI); run on a GPU machine"),
]

TEXTS = ["The Bank of England raised interest rates.", "fox", "Chelsea won the cup final after extra time at Wembley."]


@pytest.mark.parametrize("dtype, floor", [("fp32", 0.9999), ("bf16", 0.98), ("fp16", 0.99)])
def test_cuda_matches_cpu(built_dirs, dtype, floor):
    cpu = LensEncoder(built_dirs["mistral"], device="cpu")
    gpu = LensEncoder(built_dirs["mistral"], device="cuda", dtype=dtype)
    for encode in ("encode_documents", "encode_queries"):
        expected = getattr(cpu, encode)(TEXTS)
        got = getattr(gpu, encode)(TEXTS)
        assert got.dtype == np.float32
        assert (expected * got).sum(1).min() > floor
