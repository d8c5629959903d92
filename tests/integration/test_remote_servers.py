"""The remote encoder follows KServe v2, not one server: MLServer, unchanged client, the same vectors.

MLServer (in a venv of its own, ``.ci/mlserver_venv.sh``; ``LENS_VDB_MLSERVER_VENV`` names another)
serves the tiny model's graph through a custom runtime (``mlserver_runtime.py``). It has no binary
tensor extension and no config endpoint, so the client's fallbacks run: JSON, and its own batch size.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from lens_vdb import LensEncoder, LensModelError
from lens_vdb._inference.remote_protocol import ModelInfo
from tests.integration.engines import free_port

VENV = Path(os.environ.get("LENS_VDB_MLSERVER_VENV") or Path(__file__).resolve().parents[2] / ".venv-mlserver")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (VENV / "bin" / "mlserver").is_file(),
    reason=f"no MLServer venv at {VENV} (build it with `.ci/mlserver_venv.sh`, or set LENS_VDB_MLSERVER_VENV)")]

TEXTS = ["The Bank of England raised interest rates.", "", "Chelsea won the cup final.", "fox " * 40] * 5


@pytest.fixture(scope="module")
def mlserver(tmp_path_factory, exported):
    import httpx

    root = tmp_path_factory.mktemp("mlserver")
    port = free_port()
    (root / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(),
        "parallel_workers": 0, "load_models_at_startup": True}))
    model = root / "lens"
    model.mkdir()
    shutil.copy(Path(__file__).with_name("mlserver_runtime.py"), model / "lens_runtime.py")
    (model / "model-settings.json").write_text(json.dumps({
        "name": "lens", "implementation": "lens_runtime.LensRuntime",
        "parameters": {"uri": str(exported / "model.onnx")}}))
    env = dict(os.environ, PATH=f"{VENV / 'bin'}:{os.environ.get('PATH', '')}")
    env.pop("PYTHONPATH", None)
    log = (root / "mlserver.log").open("wb")
    process = subprocess.Popen([str(VENV / "bin" / "mlserver"), "start", str(root)], stdout=log,
                               stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, (root / "mlserver.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/v2/models/lens/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError("MLServer did not get ready:\n" + (root / "mlserver.log").read_text()[-3000:])
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_mlserver_gives_the_local_vectors_to_the_unchanged_client(mlserver, exported):
    local = LensEncoder(exported, backend="onnx", threads=1)
    remote = LensEncoder(exported, url=f"{mlserver}/v2/models/lens", batch_size=8)
    assert np.abs(remote.encode_documents(TEXTS) - local.encode_documents(TEXTS)).max() <= 1e-5
    assert np.abs(remote.encode_queries(TEXTS[:4]) - local.encode_queries(TEXTS[:4])).max() <= 1e-5
    assert remote._backend.binary is False and remote._backend.info == ModelInfo(None, None)  # the fallbacks ran
    with pytest.raises(LensModelError, match=r"has no model at .*/v2/models/nope"):
        LensEncoder(exported, url=f"{mlserver}/v2/models/nope").encode_documents(["a"])
