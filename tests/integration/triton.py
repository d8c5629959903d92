"""A real Triton Inference Server for the remote-encoder tests, started from the Triton venv and stopped by its pid.

The server is Triton 2.51 from the ``nvidia-pytriton`` wheel, in a venv of its own (``.ci/triton_venv.sh``
builds ``.venv-triton``; ``LENS_VDB_TRITON_VENV`` names another). It serves a repository written by
``lens_vdb.export.export_triton`` through its Python backend, on free loopback ports. Two things the
server needs from its environment: the venv's ``bin`` first on ``PATH`` (the Python backend runs
``model.py`` with that interpreter, numpy and onnxruntime), and the interpreter's ``LIBDIR`` first on
``LD_LIBRARY_PATH`` (else the stub loads the system's libpython, not the venv's).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.engines import free_port, stop_process

__all__ = ["TRITON_VENV_ENV", "triton_venv", "triton_problem", "TritonServer", "requires_triton"]

TRITON_VENV_ENV = "LENS_VDB_TRITON_VENV"
_ROOT = Path(__file__).resolve().parents[2]


def triton_venv() -> Path:
    """The Triton venv: ``LENS_VDB_TRITON_VENV``, else ``.venv-triton`` at the repository's root."""
    return Path(os.environ.get(TRITON_VENV_ENV) or _ROOT / ".venv-triton")


def _site_packages(venv: Path) -> Path | None:
    found = sorted(venv.glob("lib/python3*/site-packages/pytriton/tritonserver"))
    return found[0] if found else None


def triton_problem() -> str | None:
    """Why no Triton server can start here, or ``None``."""
    venv = triton_venv()
    server = _site_packages(venv)
    if not (venv / "bin" / "python").is_file() or server is None:
        return (f"no Triton venv at {venv} (build it with `.ci/triton_venv.sh`, or set {TRITON_VENV_ENV}); "
                "make test builds it")
    if not (server / "backends" / "python" / "triton_python_backend_stub").is_file():
        return f"the Triton venv at {venv} lacks its Python-backend stub; rebuild it with `.ci/triton_venv.sh`"
    return None


requires_triton = pytest.mark.skipif(triton_problem() is not None, reason=str(triton_problem()))


class TritonServer:
    """``tritonserver`` on a repository, on 127.0.0.1 ports chosen once (a restart keeps its URL)."""

    def __init__(self, repository: Path, log: Path, *, extra: tuple[str, ...] = ()) -> None:
        self.repository, self.log, self.extra = repository, log, extra
        self.http, self.grpc, self.metrics = free_port(), free_port(), free_port()
        self.process: subprocess.Popen | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def url(self, name: str = "lens") -> str:
        return f"{self.root}/v2/models/{name}"

    def start(self, timeout: float = 180) -> TritonServer:
        import httpx

        venv = triton_venv()
        python = venv / "bin" / "python"
        libdir = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
                                capture_output=True, text=True, check=True).stdout.strip()
        server = _site_packages(venv)
        env = dict(os.environ, PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
                   LD_LIBRARY_PATH=":".join(p for p in (libdir, os.environ.get("LD_LIBRARY_PATH")) if p))
        env.pop("PYTHONPATH", None)
        command = [str(server / "bin" / "tritonserver"), "--model-repository", str(self.repository),
                   "--backend-directory", str(server / "backends"), "--http-address", "127.0.0.1",
                   "--http-port", str(self.http), "--grpc-address", "127.0.0.1", "--grpc-port", str(self.grpc),
                   "--metrics-address", "127.0.0.1", "--metrics-port", str(self.metrics),
                   "--exit-timeout-secs", "3", *self.extra]  # idle keep-alive connections would hold it 30 s
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tritonserver exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.root}/v2/health/live", timeout=1).status_code == 200 and \
                        httpx.get(f"{self.root}/v2/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"tritonserver was not ready within {timeout} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: the server dies mid-request, as a crashed or preempted one does."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=40)
            self.process = None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""
