"""notebooks/deploy.ipynb runs top to bottom in a real Jupyter kernel, against a real tritonserver it starts and
stops, and shows what it says."""

from __future__ import annotations

import os
import re
import signal

import pytest

from lens_vdb._inference.onnx_runtime import TRT_MAX_BATCH
from tests.integration.notebooks.support import check_clean, markdown_tables, outputs, run_notebook
from tests.integration.triton import TRITON_VENV_ENV, requires_triton, triton_venv

pytestmark = [pytest.mark.slow, requires_triton]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_deploy_notebook_executes(tmp_path, monkeypatch):
    pytest.importorskip("langchain_core", reason="the deploy notebook needs lens-vdb[langchain]")
    pytest.importorskip("qdrant_edge", reason="the deploy notebook needs lens-vdb[qdrant]")
    pytest.importorskip("tritonclient.grpc", reason="the deploy notebook parses the config with tritonclient[grpc] "
                                                    "(the test extra)")
    monkeypatch.setenv(TRITON_VENV_ENV, str(triton_venv()))  # the notebook runs in tmp_path, away from the repository
    try:
        notebook = run_notebook("deploy.ipynb", tmp_path)
    finally:  # a failed cell: the kernel's atexit hook stops the server; a killed kernel's is stopped here
        written = tmp_path / "tritonserver.pid"
        if written.is_file() and _alive(int(written.read_text())):
            os.kill(int(written.read_text()), signal.SIGKILL)
    check_clean(notebook)
    printed = outputs(notebook)
    (pid,) = (int(p) for p in re.findall(r"^tritonserver pid (\d+) ready on http://127\.0\.0\.1:\d+ ", printed, re.M))
    assert int((tmp_path / "tritonserver.pid").read_text()) == pid
    assert f"tritonserver pid {pid} stopped (exit code 0)" in printed and not _alive(pid)  # cleanly, no connection left
    assert "lens/configs/gpu.pbtxt" in printed and "lens/1/model.onnx" in printed
    # the GPU config as Triton's schema parsed it: ONNX Runtime with the TensorRT accelerator in fp16
    (table,) = markdown_tables(notebook, "setting")
    settings = {name: (cpu, gpu) for name, cpu, gpu in table}
    assert settings["backend"] == ("python", "onnxruntime")
    assert settings["instance_group"] == ("KIND_CPU", "KIND_GPU")
    assert settings["accelerator"][1] == "tensorrt" and settings["precision_mode"][1] == "FP16"
    # lens-vdb's own TensorRT profile: batches up to TRT_MAX_BATCH, the tiny model's max_length of 256 tokens
    assert settings["profile: max shapes"][1] == f"input_ids:{TRT_MAX_BATCH}x256,attention_mask:{TRT_MAX_BATCH}x256"
    assert settings["lens_fingerprint"][0] == settings["lens_fingerprint"][1] != ""
    # remote vectors are the local ONNX backend's, through the encoder, LangChain and an unpickled copy
    gaps = dict(re.findall(r"^([\w ,:]+?): *(?:\(\d+, \d+\), )?max \|(?:remote - local|copy - original)\| = (\S+)$",
                           printed, re.M))
    assert set(gaps) == {"queries", "documents", "documents, async", "embed_documents", "aembed_query",
                         "unpickled embed_query"}, gaps
    assert all(float(gap) <= 1e-5 for gap in gaps.values()), gaps
    assert "sparse top-8 dimensions the same: True" in printed
    assert "token=<hidden>" in printed and "not-a-real-token" not in printed
    # the hybrid search: the connector's LENS vectors were encoded by the server, one row per article
    assert re.search(r"ingested 20, skipped 0 .*failed 0", printed), printed
    rows = int(re.search(r"^the server encoded (\d+) rows for the ingest$", printed, re.M)[1])
    assert rows >= 20, rows
    hits = re.findall(r"^(\S+) \((\d\.\d{4})\): ", printed, re.M)
    assert len(hits) == 3 and [float(s) for _, s in hits] == sorted((float(s) for _, s in hits), reverse=True)
