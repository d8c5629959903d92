"""Ray for the distributed-ingestion tests: a local runtime of 2 CPUs, a two-node cluster on loopback, and
the documents, points and processes the tests compare.

Everything started here is stopped here by its process id (or process group), never with ``ray stop``,
which would stop every Ray process of the user on this machine.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lens_vdb.connectors import RayOptions
from lens_vdb.connectors._ray.cluster import GCS_WAIT_VARIABLE, LOCAL_START_SECONDS, start_or_join

ray = pytest.importorskip("ray", reason="distributed ingestion needs lens-vdb[ray] (ray[data])")
pytest.importorskip("ray.data", reason="distributed ingestion needs lens-vdb[ray] (ray[data])")

WINDOW = 64  # the LENS window of these tests' encoder: a BBC lead of ~400 characters makes one to three chunks


def local_ray():
    """A module's local Ray runtime, started as lens-vdb starts one (2 CPUs, no dashboard, on loopback, with
    time to start on a loaded machine); shut down (its own processes) after. ``address="local"``: a new
    runtime, never a cluster someone else started on this machine with `ray start`."""
    start_or_join(RayOptions(address="local", num_cpus=2), logging.WARNING)
    try:
        yield ray
    finally:
        ray.shutdown()


def bbc_rows(count: int, *, chars: int = 400) -> list[dict]:
    """``count`` BBC News articles, headline and the first ``chars`` characters of the body, with topics."""
    from lens_vdb._datasets import load_bbc_news

    return [{"id": a.id, "text": f"{a.title}\n{a.body[:chars]}", "topic": a.topic}
            for a in load_bbc_news(limit=count)]


def points(connector) -> dict[str, tuple[list[float], list[float], dict]]:
    """Every point of a connector's collection: id -> (lens, dense, payload), read from the engine itself."""
    store = connector.store
    if hasattr(store, "shard"):  # qdrant-edge
        out, offset = {}, None
        while True:
            found, offset = store.shard.scroll(store.qe.ScrollRequest(offset=offset, limit=256, with_payload=True,
                                                                      with_vector=True))
            out.update({str(p.id): (p.vector["lens"], p.vector["dense"], dict(p.payload)) for p in found})
            if offset is None:
                return out
    rows = store.client.query(store.collection, filter="chunk >= 0", output_fields=["*"], limit=16384)
    return {row["id"]: (row["lens"], row["dense"], {k: v for k, v in row.items() if k not in ("lens", "dense")})
            for row in rows}


def descendants_named(marker: str) -> list[int]:
    """Process ids of this test process's descendants whose command line holds ``marker``."""
    import psutil

    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if marker in " ".join(child.cmdline()):
                out.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return out


class RayStartError(RuntimeError):
    """A ``ray start`` of the two-node cluster exited; the message ends with what it printed."""


class TwoNodeCluster:
    """A Ray head (``ray start --head`` on a free port) and a second node (``ray start --address``), each with
    its own CPU, both on loopback; each ``ray start --block`` runs in a process group of its own, and ``stop``
    ends exactly those two groups."""

    def __init__(self, port: int, cpus_per_node: int = 1) -> None:
        self.address = f"127.0.0.1:{port}"
        self.groups: list[subprocess.Popen] = []
        # a token of this cluster's own: Ray's default token file (~/.ray/auth_token) is shared by every Ray
        # cluster of the user on this machine; drivers joining this one need ``env`` too
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
                    GCS_WAIT_VARIABLE: os.environ.get(GCS_WAIT_VARIABLE, str(LOCAL_START_SECONDS))}  # as lens-vdb's
        # a temp dir of its own (short: Ray's socket paths live in it): `ray start --head` records the cluster as
        # "the current one" in its temp dir, where every later plain ray.init() of the machine would look for it
        self.temp_dir = tempfile.mkdtemp(prefix="lensray-", dir="/tmp")
        ray_cli = str(Path(sys.executable).with_name("ray"))
        common = ["--block", f"--num-cpus={cpus_per_node}", "--num-gpus=0", "--node-ip-address=127.0.0.1",
                  "--disable-usage-stats", f"--temp-dir={self.temp_dir}"]
        try:
            self._start([ray_cli, "start", "--head", f"--port={port}", "--include-dashboard=false", *common])
            self._wait_for_nodes(1)
            self._start([ray_cli, "start", f"--address={self.address}", *common])
            self._wait_for_nodes(2)
        except BaseException:
            self.stop()
            raise

    def _start(self, command: list[str]) -> None:
        with open(self._log(len(self.groups)), "w") as log:  # the child keeps its own copy of the descriptor
            self.groups.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True, env={**os.environ, **self.env}))

    def _log(self, index: int) -> Path:
        return Path(self.temp_dir) / f"ray-start-{index}.log"

    def _wait_for_nodes(self, count: int, timeout: float = 180) -> None:
        """Until the cluster has ``count`` live nodes (asked from a short-lived driver process)."""
        probe = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                 "print(sum(n['Alive'] for n in ray.nodes()))")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, group in enumerate(self.groups):
                if group.poll() is not None:
                    printed = self._log(index).read_text(errors="replace").splitlines()[-15:]
                    raise RayStartError(f"`ray start` exited with {group.returncode}:\n" + "\n".join(printed))
            try:
                done = subprocess.run([sys.executable, "-c", probe, self.address], capture_output=True, text=True,
                                      env={**os.environ, **self.env}, timeout=60)
            except subprocess.TimeoutExpired:  # something answers on the port, but no Ray cluster (yet)
                continue
            if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] == [str(count)]:
                return
            time.sleep(1)
        raise RuntimeError(f"the Ray cluster at {self.address} did not reach {count} node(s)")

    def stop(self) -> list[int]:
        """SIGTERM, then SIGKILL, each process group started here; returns the groups still alive (none)."""
        for group in reversed(self.groups):
            _signal_group(group.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_group_alive(g.pid) for g in self.groups):
            time.sleep(0.5)
        for group in self.groups:
            _signal_group(group.pid, signal.SIGKILL)
            group.wait()
        deadline = time.monotonic() + 20  # killed processes take a moment to leave the process table
        while time.monotonic() < deadline and any(_group_alive(g.pid) for g in self.groups):
            time.sleep(0.5)
        left = [g.pid for g in self.groups if _group_alive(g.pid)]
        if not left:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        return left


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
