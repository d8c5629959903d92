"""The remote backend: a LENS graph served over KServe v2 (Triton, MLServer...), called with httpx.

The encoder tokenizes here, as it does for a local graph, and sends the graph's inputs; the server
runs the graph (see ``lens_vdb.export.export_triton`` for why the split lies there). One
:class:`RemoteBackend` holds a pooled ``httpx.Client`` for the synchronous API and one
``httpx.AsyncClient`` per event loop for the async one; on first use it checks that the server and
the model are ready, reads the model's batch limit and fingerprint (Triton's config endpoint) and
whether the server speaks the binary tensor extension. Batches are split to the server's limit.
Connection errors, 429 and 503 are retried with exponential backoff (tenacity); nothing else is.
Every failure becomes a :class:`LensConnectionError` (the server cannot be reached or keeps
refusing) or a :class:`LensModelError` (it answered, but not with this model's vectors), naming the
URL and what to do. The token and headers are sent, never logged, never in a ``repr`` or a message.
A copy (pickle, ``copy.deepcopy``: Ray, multiprocessing) carries the URL and options and opens its own
clients on first use, after checking the server again.

Requests and their answers are written once, as generators of :class:`_Call` (``_ready_steps``,
``_infer_steps``); ``_drive`` runs them on the blocking client and ``_adrive`` on the async one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._deps import require
from .._errors import LensConnectionError, LensModelError
from .remote_options import RemoteOptions, parse_model_url
from .remote_protocol import (
    BINARY_EXTENSION,
    HEADER_LENGTH,
    ModelInfo,
    decode_response,
    encode_request,
    parse_config,
)

__all__ = ["RemoteBackend"]

_RETRY_STATUS = (429, 503)


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    content: bytes | None = None
    headers: Mapping[str, str] | None = None


_Steps = Generator[_Call, Any, Any]


class RemoteBackend:
    """Runs the LENS graph on a KServe v2 server: ``run`` (blocking) and ``arun`` (asyncio)."""

    def __init__(self, url: str, *, k: int, fingerprint: str, options: RemoteOptions | None = None) -> None:
        self.root, self.url = parse_model_url(url)
        self.k = k
        self.fingerprint = fingerprint
        self.options = options or RemoteOptions()
        self.info: ModelInfo | None = None  # read on first use
        self.binary = False
        self._client: Any = None
        self._async: dict[asyncio.AbstractEventLoop, Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RemoteBackend(url={self.url!r}, k={self.k}, options={self.options!r})"

    def __getstate__(self) -> dict[str, Any]:
        """The URL, model and options (token and headers too: the copy must reach the same server), without
        the clients and the lock: Ray, ``copy.deepcopy`` and multiprocessing copy the encoder, and a pooled
        client's connections and an event loop's AsyncClient belong to the process and loop that opened them."""
        state = dict(self.__dict__)
        state.update(info=None, binary=False, _client=None, _async={})  # the copy checks the server on first use
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # ---- public ------------------------------------------------------------------------------

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        if self.info is None:
            self._drive(self._ready_steps())
        parts = [self._drive(self._infer_steps(i, m)) for i, m in self._chunks(input_ids, attention_mask)]
        return np.vstack(parts) if parts else np.zeros((0, self.k), np.float32)

    async def arun(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """``run`` on the event loop's own client; the chunks of a large batch are sent at once."""
        if self.info is None:
            await self._adrive(self._ready_steps())
        parts = await asyncio.gather(*(self._adrive(self._infer_steps(i, m))
                                       for i, m in self._chunks(input_ids, attention_mask)))
        return np.vstack(parts) if parts else np.zeros((0, self.k), np.float32)

    def close(self) -> None:
        """Close the blocking client's connections (async clients close with :meth:`aclose`)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    # ---- the exchanges, written once -----------------------------------------------------------

    def _ready_steps(self) -> _Steps:
        server = yield _Call("GET", f"{self.root}/v2")
        metadata = self._json(server, "server metadata") if server.status_code == 200 else {}
        extensions = metadata.get("extensions", []) if isinstance(metadata, dict) else []
        ready = yield _Call("GET", f"{self.url}/ready")
        if ready.status_code != 200:
            # Triton's repository index names a model it has but did not load, and why; other servers: 404
            index = yield _Call("POST", f"{self.root}/v2/repository/index", b"{}")
            state = _index_state(index, self.url.split("/v2/models/", 1)[1].split("/")[0])
            metadata = yield _Call("GET", self.url)
            if state is not None or metadata.status_code == 200:
                why = state or "the server has it but has not loaded it"
                raise LensModelError(f"The model at {self.url} is not ready ({why}); check the server's log and its "
                                     "model repository.")
            raise LensModelError(f"The server at {self.root} has no model at {self.url} (it said: "
                                 f"{_said(metadata)}); check the model name in url= against the server's model "
                                 "repository.")
        config = yield _Call("GET", f"{self.url}/config")
        try:
            info = parse_config(self._json(config, "model config")) if config.status_code == 200 \
                else ModelInfo(None, None)
        except LensModelError as exc:
            raise LensModelError(f"{self.url}/config is not a KServe v2 model config ({exc}); check that url= "
                                 "names a LENS model on a v2 server.") from None
        if info.fingerprint is not None and info.fingerprint != self.fingerprint:
            raise LensModelError(f"The model at {self.url} is {info.fingerprint}, but the tokenizer and config this "
                                 f"encoder opened are from {self.fingerprint}; open the folder of the model the server "
                                 "runs (its Triton model folder has the files).")
        self.binary = BINARY_EXTENSION in extensions if self.options.binary is None else self.options.binary
        self.info = info

    def _infer_steps(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> _Steps:
        body, headers = encode_request(input_ids, attention_mask, binary=self.binary)
        response = yield _Call("POST", f"{self.url}/infer", body, headers)
        if response.status_code != 200:
            kind = "refused" if response.status_code < 500 else "failed on"
            raise LensModelError(f"The server at {self.url} {kind} a batch of {list(input_ids.shape)} token ids "
                                 f"(HTTP {response.status_code}: {_said(response)}). "
                                 + ("Check that it serves this model's exported graph." if response.status_code < 500
                                    else "See the server's log."))
        try:
            return decode_response(response.content, response.headers.get(HEADER_LENGTH), rows=len(input_ids),
                                   k=self.k)
        except LensModelError as exc:
            raise LensModelError(f"{self.url} answered with something that is not this model's KServe v2 inference "
                                 f"response ({exc}); check that url= names a LENS model on a v2 server.") from None

    def _json(self, response: Any, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise LensModelError(f"{response.request.url} answered its {what} with a body that is not JSON "
                                 f"({response.content[:80]!r}); is url= a KServe v2 server?") from None

    def _chunks(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        step = (self.info.max_batch_size if self.info else None) or max(1, len(input_ids))
        return [(input_ids[i : i + step], attention_mask[i : i + step]) for i in range(0, len(input_ids), step)]

    # ---- transport: the two drivers, retries, errors -------------------------------------------

    def _drive(self, steps: _Steps) -> Any:
        with self._lock:  # threads share one pooled client
            if self._client is None:
                self._client = _httpx().Client(**self._client_options())
        try:
            call = next(steps)
            while True:
                call = steps.send(self._retrying()(self._send, call))
        except StopIteration as done:
            return done.value

    async def _adrive(self, steps: _Steps) -> Any:
        loop = asyncio.get_running_loop()
        for closed in [other for other in self._async if other.is_closed()]:  # e.g. an earlier asyncio.run
            del self._async[closed]
        if loop not in self._async:  # an AsyncClient's connections belong to the loop that opened them
            self._async[loop] = _httpx().AsyncClient(**self._client_options())
        try:
            call = next(steps)
            while True:
                call = steps.send(await self._retrying(asynchronous=True)(self._asend, call))
        except StopIteration as done:
            return done.value

    def _send(self, call: _Call) -> Any:
        try:
            response = self._client.request(call.method, call.url, content=call.content, headers=call.headers)
        except _httpx().TransportError as exc:
            raise self._unreachable(exc, call) from None
        return _authorised(response)

    async def _asend(self, call: _Call) -> Any:
        try:
            response = await self._async[asyncio.get_running_loop()].request(
                call.method, call.url, content=call.content, headers=call.headers)
        except _httpx().TransportError as exc:
            raise self._unreachable(exc, call) from None
        return _authorised(response)

    def _unreachable(self, exc: Exception, call: _Call) -> LensConnectionError:
        httpx = _httpx()
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):  # not retried
            return LensConnectionError(f"{call.url} did not answer within {self.options.timeout} s "
                                       f"({type(exc).__name__}); raise RemoteOptions(timeout=...) or lower the batch "
                                       "size.")
        return _Unreachable(f"Cannot reach the LENS server at {self.root} ({type(exc).__name__}: {exc}) after "
                            f"{self.options.retries + 1} tries; check that it runs and that url= is right.")

    def _retrying(self, asynchronous: bool = False) -> Any:
        tenacity = require("tenacity", "remote")
        options = self.options

        def refused(response: Any) -> bool:
            return getattr(response, "status_code", None) in _RETRY_STATUS

        def last(state: Any) -> Any:  # the tries are spent: the last error, or a 429/503, is raised here
            if state.outcome.failed:
                raise LensConnectionError(str(state.outcome.exception())) from None
            response = state.outcome.result()
            raise LensConnectionError(f"{self.url} kept answering HTTP {response.status_code} ({_said(response)}) "
                                      f"after {options.retries + 1} tries; the server is overloaded or starting: "
                                      "retry later, or raise RemoteOptions(retries=...).")

        kind = tenacity.AsyncRetrying if asynchronous else tenacity.Retrying
        return kind(stop=tenacity.stop_after_attempt(options.retries + 1), reraise=True,
                    wait=tenacity.wait_exponential(multiplier=options.backoff, max=8),
                    retry=tenacity.retry_if_exception_type(_Unreachable)
                    | tenacity.retry_if_result(refused), retry_error_callback=last)

    def _client_options(self) -> dict[str, Any]:
        httpx = _httpx()
        headers = dict(self.options.headers)
        if self.options.token:
            headers["Authorization"] = f"Bearer {self.options.token}"
        return {"headers": headers,
                "timeout": httpx.Timeout(self.options.timeout, connect=self.options.connect_timeout),
                "limits": httpx.Limits(max_connections=self.options.max_connections,
                                       max_keepalive_connections=self.options.max_connections)}


class _Unreachable(LensConnectionError):
    """A connection error, retried; raised as a plain :class:`LensConnectionError` when the tries are spent."""


def _authorised(response: Any) -> Any:
    """``response``, unless the server refused the credentials (never retried: the next try would send the same)."""
    if response.status_code in (401, 403):
        raise LensConnectionError(f"{response.request.url} refused the credentials (HTTP {response.status_code}: "
                                  f"{_said(response)}); give RemoteOptions(token=...) or headers=... the server "
                                  "accepts.")
    return response


def _index_state(response: Any, name: str) -> str | None:
    """``"UNAVAILABLE: why"`` for ``name`` in Triton's repository index, ``None`` if absent or unknown."""
    try:
        models = response.json() if response.status_code == 200 else []
    except ValueError:
        return None
    for model in models if isinstance(models, list) else []:
        if isinstance(model, dict) and model.get("name") == name:
            return ": ".join(str(model[key]) for key in ("state", "reason") if model.get(key)) or "listed, not ready"
    return None


def _said(response: Any) -> str:
    """What the server said, short: the ``error`` field of a JSON body, or the start of the body."""
    try:
        body = response.json()
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])[:300]
    except ValueError:
        pass
    return response.text[:200] or f"HTTP {response.status_code}, empty body"


def _httpx() -> Any:
    return require("httpx", "remote")
