"""Faults a real server does not produce on demand: garbage bodies, 500s, 429/503 bursts, slow answers.

A fake KServe v2 server (the standard library's HTTP server, on 127.0.0.1) answers each path from a
script; a real Triton server is the subject of ``test_remote_encoder.py``. Each fault must surface as a
LensConnectionError or LensModelError naming the URL, retried only where the brief allows it
(connection errors, 429, 503), and the bearer token must be sent yet never shown.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from lens_vdb import LensConnectionError, LensEncoder, LensModelError, RemoteOptions

pytest.importorskip("httpx", reason="the remote backend needs lens-vdb[remote]")


class FakeServer:
    """Answers ``GET /v2``, ``/ready`` and ``/config`` as a v2 server does, and ``/infer`` from ``script``."""

    def __init__(self, k: int) -> None:
        self.k, self.script, self.requests = k, [], []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append(("GET", self.path, dict(self.headers)))
                body = {"/v2": {"name": "fake", "extensions": []}, "/v2/models/lens/ready": {}}.get(self.path)
                self._send(200 if body is not None else 404, json.dumps(body or {"error": "no such path"}).encode())

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(("POST", self.path, dict(self.headers)))
                status, body = fake.script.pop(0) if fake.script else (200, None)
                if body is None:  # a well-formed answer: the row index in every dimension
                    rows = request["inputs"][0]["shape"][0]
                    data = np.repeat(np.arange(rows, dtype=np.float32)[:, None], fake.k, axis=1)
                    body = json.dumps({"outputs": [{"name": "lens_embedding", "datatype": "FP32",
                                                    "shape": [rows, fake.k], "data": data.ravel().tolist()}]}).encode()
                self._send(status, body)

            def _send(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # a client that timed out hung up: expected here
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v2/models/lens"

    def infers(self) -> int:
        return sum(1 for method, path, _ in self.requests if path.endswith("/infer"))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake(exported):
    server = FakeServer(LensEncoder(exported, backend="onnx").k)
    yield server
    server.close()


def _encoder(exported, fake, **options):
    return LensEncoder(exported, url=fake.url, remote=RemoteOptions(backoff=0.01, **options))


def test_the_fake_answers_as_a_v2_server_so_the_faults_below_are_the_only_difference(exported, fake):
    vectors = _encoder(exported, fake).encode_documents(["a", "b c"])
    assert vectors.shape[0] == 2 and fake.infers() == 1  # no config endpoint: the client's batch is sent whole


@pytest.mark.parametrize("body, match", [
    (b"<html>gateway</html>", "not JSON"),
    (b'{"outputs": [{"name": "lens_embedding", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}',
     r"expected \[1, "),
    (b'{"model_name": "lens"}', "no 'outputs' list"),
])
def test_a_garbage_body_is_a_model_error_naming_the_url(exported, fake, body, match):
    fake.script = [(200, body)]
    with pytest.raises(LensModelError, match=rf"{fake.url} answered with something that is not.*{match}"):
        _encoder(exported, fake).encode_documents(["a"])


def test_a_500_is_not_retried_and_says_to_read_the_servers_log(exported, fake):
    fake.script = [(500, b'{"error": "CUDA out of memory"}')]
    with pytest.raises(LensModelError, match=rf"{fake.url} failed on a batch .*HTTP 500: CUDA out of memory.*log"):
        _encoder(exported, fake).encode_documents(["a"])
    assert fake.infers() == 1


def test_429_and_503_are_retried_with_backoff_then_succeed(exported, fake):
    fake.script = [(503, b'{"error": "loading"}'), (429, b'{"error": "slow down"}')]
    vectors = _encoder(exported, fake, retries=2).encode_documents(["a"])
    assert vectors.shape[0] == 1 and fake.infers() == 3


def test_429_until_the_tries_are_spent_is_a_connection_error(exported, fake):
    fake.script = [(429, b'{"error": "slow down"}')] * 3
    with pytest.raises(LensConnectionError, match=rf"{fake.url} kept answering HTTP 429 \(slow down\) after 3 tries"):
        asyncio.run(_encoder(exported, fake, retries=2).aencode_documents(["a"]))
    assert fake.infers() == 3


def test_batches_are_split_to_the_servers_max_batch_size(exported, fake):
    config = {"max_batch_size": 2, "parameters": {}}
    original = fake.httpd.RequestHandlerClass.do_GET

    def do_get(handler):
        if handler.path.endswith("/config"):
            return handler._send(200, json.dumps(config).encode())
        return original(handler)

    fake.httpd.RequestHandlerClass.do_GET = do_get
    vectors = _encoder(exported, fake).encode_documents(["a", "b", "c", "d", "e"], batch_size=5)
    assert fake.infers() == 3 and vectors.shape[0] == 5


def test_the_token_is_sent_as_a_bearer_header_and_shown_nowhere(exported, fake):
    encoder = _encoder(exported, fake, token="s3cret-token", headers={"X-Team": "search"})
    encoder.encode_documents(["a"])
    assert all(headers.get("Authorization") == "Bearer s3cret-token" and headers.get("X-Team") == "search"
               for _, _, headers in fake.requests)
    fake.script = [(500, b'{"error": "boom"}')]
    with pytest.raises(LensModelError) as caught:
        encoder.encode_documents(["b"])
    for text in (str(caught.value), repr(encoder._backend), repr(encoder._backend.options)):
        assert "s3cret" not in text and "search" not in text


def test_a_server_that_stops_answering_is_a_timeout_error_not_retried(exported, fake):
    release, calls = threading.Event(), []
    original = fake.httpd.RequestHandlerClass.do_POST

    def stall(handler):
        calls.append(handler.path)
        release.wait(5)
        return original(handler)

    fake.httpd.RequestHandlerClass.do_POST = stall
    try:
        with pytest.raises(LensConnectionError, match=r"/infer did not answer within 0.3 s.*RemoteOptions\(timeout"):
            _encoder(exported, fake, timeout=0.3).encode_documents(["a"])
    finally:
        release.set()
    assert len(calls) == 1


def test_refused_credentials_are_a_connection_error_saying_so_and_not_retried(exported, fake):
    fake.script = [(401, b'{"error": "invalid token"}')]
    with pytest.raises(LensConnectionError, match=r"/infer refused the credentials \(HTTP 401: invalid token\).*token="):
        _encoder(exported, fake, token="wrong-token", retries=3).encode_documents(["a"])
    assert fake.infers() == 1
