"""This machine's CPU: its model name, cores and the instruction sets that decide which backend is fast.

int8 and bf16 speed depend on the CPU's instructions, not on "a CPU" in general: VNNI
(``avx512_vnni``, ``avx_vnni``) or AMX (``amx_int8``) make int8 matrix products fast, without them
int8 can lose to fp32; ``avx512_bf16`` or ``amx_bf16`` make bf16 fast, without them torch
emulates it slowly. So the bench scripts print :func:`cpu_info`, the export manifest records it
beside its figures, and ``backend="auto"`` keys its measurements on it.

Read from ``/proc/cpuinfo`` on Linux; elsewhere the model comes from :mod:`platform` and the
flags from numpy's runtime CPU dispatch table (the same detection numpy runs its kernels by).

It also holds the thread defaults (see :func:`default_threads` and :func:`prefer_passive_openmp`).
"""

from __future__ import annotations

import functools
import importlib
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuInfo", "cpu_info", "parse_cpuinfo", "default_threads", "usable_cpus", "prefer_passive_openmp",
           "available_memory", "RELEVANT_FLAGS"]

# the flags that change which backend wins, as /proc/cpuinfo names them
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
# numpy's names for the same features (the fallback off Linux)
_NUMPY_NAMES = {"AVX2": "avx2", "AVX512F": "avx512f", "AVX512VNNI": "avx512_vnni", "AVXVNNI": "avx_vnni",
                "AVX512BF16": "avx512_bf16", "AMX_BF16": "amx_bf16", "AMX_INT8": "amx_int8"}


@dataclass(frozen=True)
class CpuInfo:
    """The CPU: ``model`` name, ``physical_cores``, ``logical_cpus``, ``usable_cpus`` (what this process
    may run on: its affinity mask and cgroup CPU quota), and which of :data:`RELEVANT_FLAGS` it has."""

    model: str
    physical_cores: int
    logical_cpus: int
    usable_cpus: int
    flags: tuple[str, ...]

    def describe(self) -> str:
        """One line for tables and logs: ``AMD EPYC, 2 cores (2 usable), avx2 avx512f avx512_vnni ...``."""
        flags = " ".join(self.flags) or "none of " + "/".join(RELEVANT_FLAGS)
        usable = f" ({self.usable_cpus} usable)" if self.usable_cpus < self.physical_cores else ""
        return f"{self.model}, {self.physical_cores} cores{usable}, {flags}"

    def key(self) -> str:
        """What a measurement on this CPU depends on: model name, usable cores and the relevant flags."""
        return f"{self.model}|{min(self.physical_cores, self.usable_cpus)}|{','.join(self.flags)}"

    def to_json(self) -> dict[str, object]:
        return {"model": self.model, "physical_cores": self.physical_cores, "logical_cpus": self.logical_cpus,
                "usable_cpus": self.usable_cpus, "flags": list(self.flags)}


def parse_cpuinfo(text: str) -> tuple[str, int | None, set[str]]:
    """Model name, physical core count (``None`` if the text does not say) and flags of ``/proc/cpuinfo`` text."""
    model = ""
    cores: set[tuple[str | None, str]] = set()
    flags: set[str] = set()
    physical_id: str | None = None
    core_id: str | None = None
    for line in text.splitlines() + [""]:
        key, _, value = (part.strip() for part in line.partition(":"))
        if not key:  # a blank line ends one logical CPU's block
            if core_id is not None:
                cores.add((physical_id, core_id))
            physical_id = core_id = None
        elif key == "model name" and not model:
            model = value
        elif key in ("flags", "Features") and not flags:  # "Features" on ARM
            flags = set(value.split())
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            core_id = value
    return " ".join(model.split()), len(cores) or None, flags


@functools.lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """This machine's CPU (read once per process)."""
    logical = os.cpu_count() or 1
    path = Path("/proc/cpuinfo")
    model, cores, flags = parse_cpuinfo(path.read_text()) if path.is_file() else ("", None, set())
    if not flags:
        flags = _numpy_flags()
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    return CpuInfo(model=model, physical_cores=cores or logical, logical_cpus=logical,
                   usable_cpus=usable_cpus(), flags=tuple(f for f in RELEVANT_FLAGS if f in flags))


def _numpy_flags() -> set[str]:
    # numpy's private module moved in 2.0 (numpy._core) and ships no stubs: found by name, typed as a dict
    features: dict[str, bool] | None = None
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            features = importlib.import_module(module).__cpu_features__
            break
        except (ImportError, AttributeError):
            continue
    if features is None:
        return set()
    return {ours for theirs, ours in _NUMPY_NAMES.items() if features.get(theirs)}


def usable_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (containers)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota()
    return max(1, min(count, quota)) if quota else max(1, count)


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Whole CPUs of the cgroup quota (v2 ``cpu.max``, v1 ``cfs_quota_us``/``cfs_period_us``), rounded up."""
    try:
        if (root / "cpu.max").is_file():
            quota, _, period = (root / "cpu.max").read_text().partition(" ")
        else:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text()
        if quota.strip() in ("max", "-1"):
            return None
        return -(-int(quota) // int(period))
    except (OSError, ValueError):
        return None


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Bytes of RAM free for new allocations (``MemAvailable``), or ``None`` where the system does not say."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def default_threads() -> int:
    """The encoder's thread count when none is given: ``OMP_NUM_THREADS`` where it is set to a positive
    number (as torch itself reads it: the usual way to give each of several processes its share of the
    cores), else the physical cores this process may use.

    Hyperthreads share a core's matrix units, so more threads than cores buys nothing for GEMM;
    a container's quota or an affinity mask can allow fewer.
    """
    configured = os.environ.get("OMP_NUM_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    info = cpu_info()
    return max(1, min(info.physical_cores, info.usable_cpus))


def prefer_passive_openmp() -> bool:
    """Make torch's OpenMP threads sleep rather than spin while they wait (``OMP_WAIT_POLICY=PASSIVE``),
    unless the environment already says; returns whether it was set.

    Measured on 2 busy cores (load average 9-21, README "Threads"): with OpenMP's default
    spinning, torch on 2 threads ran 3-13x slower than on 1 (each thread burns its time slice
    waiting for the other, which is not running); waiting passively, 2 threads ran 0.84-2.7x 1.
    OpenMP reads the variable once, when torch loads, so this only helps before ``import torch``;
    being an environment variable, it also reaches the processes started from this one.
    """
    if "OMP_WAIT_POLICY" in os.environ or "torch" in sys.modules:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
