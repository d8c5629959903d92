"""How a remote encoder reaches its server: :class:`RemoteOptions` and the KServe v2 model URL.

Kept apart from the client (``remote``) so that ``lens_vdb.RemoteOptions`` imports without httpx.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .._errors import LensInputError

__all__ = ["RemoteOptions", "parse_model_url"]

_MODEL_URL = re.compile(r"^(?P<root>.*?)/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/?$")


@dataclass(frozen=True, kw_only=True)
class RemoteOptions:
    """How a remote encoder talks to its server.

    ``timeout``: seconds to wait for an answer (a long batch on a busy CPU server takes seconds);
    ``connect_timeout``: seconds to open a connection; ``retries``: further tries after a
    connection error, 429 or 503, waiting ``backoff`` seconds, doubled each time (at most 8);
    ``max_connections``: the pool of each client (concurrent requests beyond it wait);
    ``binary``: the binary tensor extension, ``None`` = when the server lists it; ``token``: sent as
    ``Authorization: Bearer ...``; ``headers``: sent with every request. Neither is ever shown.
    """

    timeout: float = 60.0
    connect_timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    max_connections: int = 16
    binary: bool | None = None
    token: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in ("timeout", "connect_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise LensInputError(f"RemoteOptions.{name} must be a number of seconds > 0, got {value!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise LensInputError(f"RemoteOptions.retries must be an int >= 0, got {self.retries!r}")
        if isinstance(self.max_connections, bool) or not isinstance(self.max_connections, int) \
                or self.max_connections < 1:
            raise LensInputError(f"RemoteOptions.max_connections must be an int >= 1, got {self.max_connections!r}")
        if not isinstance(self.backoff, (int, float)) or self.backoff < 0:
            raise LensInputError(f"RemoteOptions.backoff must be seconds >= 0, got {self.backoff!r}")

    def __hash__(self) -> int:  # the headers are a dict: hashed as their items (integration objects key on it)
        return hash((self.timeout, self.connect_timeout, self.retries, self.backoff, self.max_connections,
                     self.binary, self.token, tuple(sorted(self.headers.items()))))

    def __repr__(self) -> str:
        hidden = (", token=<hidden>" if self.token else "") + (
            f", headers=<{len(self.headers)} hidden>" if self.headers else "")
        return (f"RemoteOptions(timeout={self.timeout}, connect_timeout={self.connect_timeout}, retries={self.retries}, "
                f"backoff={self.backoff}, max_connections={self.max_connections}, binary={self.binary}{hidden})")


def parse_model_url(url: str) -> tuple[str, str]:
    """``(server root, model URL)`` of a KServe v2 model URL such as ``http://host:8000/v2/models/lens``."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise LensInputError(f"url must be an http(s) URL of a KServe v2 model, like "
                             f"http://127.0.0.1:8000/v2/models/lens; got {url!r}")
    match = _MODEL_URL.match(url.split("?", 1)[0])
    if not match:
        raise LensInputError(f"url={url!r} does not name a model: a KServe v2 model URL ends in /v2/models/NAME "
                             "(or /v2/models/NAME/versions/N), e.g. http://127.0.0.1:8000/v2/models/lens")
    return match["root"], url.split("?", 1)[0].rstrip("/")
