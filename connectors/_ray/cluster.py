"""Joining the Ray cluster a run names, or starting a local runtime, and failing fast where none answers.

Ray itself keeps retrying an address where nothing listens (minutes, printing its own GCS warnings),
so an address is first probed with a plain TCP connection: no answer within :data:`PROBE_SECONDS` is
a :class:`LensConnectionError` naming the address and what to start. A local runtime, and the driver
of a cluster on this machine's loopback, stay on 127.0.0.1 (Ray would otherwise advertise the machine's
network address). A local runtime gets :data:`LOCAL_START_SECONDS` to start its GCS (Ray's own 30 s can pass
on a loaded small machine); ``$RAY_gcs_server_port_wait_time_s``, when set, is left to rule.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from lens_vdb import LensConnectionError, LensInputError

from .options import RayOptions

__all__ = ["LOCAL_START_SECONDS", "PROBE_SECONDS", "start_or_join", "probe_address"]

PROBE_SECONDS = 15.0  # a head that is still starting gets this long to accept connections
LOCAL_START_SECONDS = 120  # a local runtime's GCS gets this long to bind its port (Ray's default: 30 s)
GCS_WAIT_VARIABLE = "RAY_gcs_server_port_wait_time_s"  # Ray's own setting of that wait, in seconds
LOOPBACK = "127.0.0.1"
_KEYWORDS = {"auto", "local"}


def start_or_join(options: RayOptions, logging_level: int) -> bool:
    """Ray for a run: the runtime this process already joined, the cluster at ``options.address`` (or
    ``$RAY_ADDRESS``) once it answers, else a local runtime of ``options.num_cpus`` CPUs bound to loopback.

    Returns whether it started or joined one here (the run then shuts it down). An address is probed first,
    whatever this process joined before: a dead address is an error, never silently another cluster. An
    address other than the runtime's this process already joined is an error too (Ray joins one per process).
    """
    import ray

    address = options.address or os.environ.get("RAY_ADDRESS") or None
    host = probe_address(address) if address is not None and address not in _KEYWORDS else None
    if ray.is_initialized():
        _check_same_cluster(options.address, ray)
        return False
    settings: dict[str, Any] = {"runtime_env": options.runtime_env, "logging_level": logging_level}
    if address is None or address == "local":
        settings |= {"num_cpus": options.num_cpus, "include_dashboard": False, "_node_ip_address": LOOPBACK}
        _start_local(ray, address, settings)
        return True
    if host is not None and _is_loopback(host) and not address.startswith("ray://"):
        settings["_node_ip_address"] = LOOPBACK
    try:
        ray.init(address=address, **settings)
    except ConnectionError as exc:  # address="auto" with no cluster on this machine
        raise LensConnectionError(f"No Ray cluster to join at address={address!r}: {exc} Start one with "
                                  f"`ray start --head`, or leave the address out to run on a local Ray "
                                  f"runtime.") from None
    return True


def _start_local(ray: Any, address: str | None, settings: dict[str, Any]) -> None:
    """A local runtime (``address`` None or ``"local"``, as :func:`ray.init` reads them), given
    :data:`LOCAL_START_SECONDS` to start unless the user set Ray's own wait."""
    try:
        with _gcs_wait(LOCAL_START_SECONDS):
            ray.init(address=address, **settings)
    except RuntimeError as exc:
        if "Timed out waiting for file" not in str(exc):  # Ray's words when the GCS did not bind its port in time
            raise
        waited = os.environ.get(GCS_WAIT_VARIABLE, str(LOCAL_START_SECONDS))
        raise LensConnectionError(
            f"Ray's local runtime did not start: {exc} (waited {waited} s). A loaded machine can need longer: set "
            f"{GCS_WAIT_VARIABLE} to more seconds, or start Ray with `ray start --head` and pass its address. Ray's "
            f"own logs are in that session folder, logs/gcs_server.*.") from None


@contextmanager
def _gcs_wait(seconds: int) -> Iterator[None]:
    """Ray's wait for a new GCS set to ``seconds`` for the block, unless the user set it already."""
    if GCS_WAIT_VARIABLE in os.environ:
        yield
        return
    os.environ[GCS_WAIT_VARIABLE] = str(seconds)
    try:
        yield
    finally:
        os.environ.pop(GCS_WAIT_VARIABLE, None)


def _check_same_cluster(address: str | None, ray: Any) -> None:
    """With a runtime joined already, ``address`` (when given as ``host:port``) must name that runtime's cluster."""
    if address is None or address in _KEYWORDS or address.startswith("ray://"):
        return
    joined = ray.get_runtime_context().gcs_address
    if _canonical(address) != _canonical(joined):
        raise LensInputError(f"This process already joined the Ray cluster at {joined!r}; RayOptions(address="
                             f"{address!r}) names another. Ray joins one cluster per process: leave the address "
                             f"out to run there, or call ray.shutdown() first.")


def _canonical(address: str) -> tuple[str, int]:
    host, port = _host_port(address)
    return ("127.0.0.1" if _is_loopback(host) else host), port


def probe_address(address: str, timeout: float = PROBE_SECONDS) -> str:
    """The host of a Ray address (``"host:port"``, ``"ray://host:port"``) once its port accepts a TCP connection;
    :class:`LensConnectionError` when it does not within ``timeout`` seconds."""
    host, port = _host_port(address)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=min(2.0, timeout)).close()
            return host
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise LensConnectionError(
                    f"No Ray cluster answers at {address!r} ({exc.strerror or exc}, for {timeout:.0f} s). Start its "
                    f"head there (`ray start --head --port={port}`; `--ray-client-server-port` for ray:// "
                    f"addresses), or leave the address out to run on a local Ray runtime.") from None
            time.sleep(0.5)


def _host_port(address: str) -> tuple[str, int]:
    parts = urlsplit(address if "://" in address else f"gcs://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise LensConnectionError(f"A Ray address is 'host:port', 'ray://host:port', 'auto' or 'local'; got "
                                  f"{address!r}.")
    return parts.hostname, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
