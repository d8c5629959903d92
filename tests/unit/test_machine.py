"""The CPU helper on the ground floor: model name, physical cores, the flags backends depend on, thread defaults."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lens_vdb._machine import (
    RELEVANT_FLAGS,
    CpuInfo,
    _cgroup_quota,
    available_memory,
    cpu_info,
    default_threads,
    parse_cpuinfo,
    usable_cpus,
)

# two logical CPUs of one core each (a KVM guest), then a hyperthreaded pair of one core
EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC   7B13
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse2 avx avx2 fma

processor\t: 1
model name\t: AMD EPYC   7B13
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu sse2 avx avx2 fma
"""
XEON_HT = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 0
flags\t\t: avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 0
flags\t\t: avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def test_cpuinfo_gives_the_model_the_physical_cores_and_the_flags():
    model, cores, flags = parse_cpuinfo(EPYC)
    assert model == "AMD EPYC 7B13" and cores == 2
    assert {"avx2", "fma"} <= flags and "avx512f" not in flags
    model, cores, flags = parse_cpuinfo(XEON_HT)
    assert model.startswith("Intel(R) Xeon(R)") and cores == 1  # two hyperthreads of one core
    assert {"amx_int8", "avx512_vnni"} <= flags


def test_text_without_core_ids_leaves_the_count_to_the_caller():
    assert parse_cpuinfo("processor : 0\nFeatures : fp asimd\n") == ("", None, {"fp", "asimd"})


def test_this_machine_is_described_with_its_relevant_flags_only():
    info = cpu_info()
    assert info.model and info.physical_cores >= 1 and info.usable_cpus >= 1
    assert set(info.flags) <= set(RELEVANT_FLAGS) and list(info.flags) == [f for f in RELEVANT_FLAGS if f in info.flags]
    assert info.model in info.describe() and all(flag in info.describe() for flag in info.flags)
    assert info.to_json()["flags"] == list(info.flags)


def test_the_cache_key_changes_with_the_flags_and_the_cores():
    base = CpuInfo("AMD EPYC", 2, 2, 2, ("avx2",))
    assert base.key() != CpuInfo("AMD EPYC", 2, 2, 2, ("avx2", "avx512_vnni")).key()
    assert base.key() != CpuInfo("AMD EPYC", 4, 4, 4, ("avx2",)).key()
    assert base.key() == CpuInfo("AMD EPYC", 2, 4, 2, ("avx2",)).key()  # hyperthreads do not change it
    assert "none of avx2/" in CpuInfo("ARM", 4, 4, 4, ()).describe()


def test_default_threads_are_the_usable_physical_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    info = cpu_info()
    assert default_threads() == max(1, min(info.physical_cores, info.usable_cpus))
    assert 1 <= usable_cpus() <= (os.cpu_count() or 1)


@pytest.mark.parametrize(("value", "expected"), [("3", 3), ("1", 1), ("0", None), ("four", None), ("", None)])
def test_omp_num_threads_sets_the_default_when_it_is_a_positive_number(monkeypatch, value, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    info = cpu_info()
    assert default_threads() == (expected or max(1, min(info.physical_cores, info.usable_cpus)))


@pytest.mark.parametrize(("files", "expected"), [
    ({"cpu.max": "150000 100000\n"}, 2),  # cgroup v2: 1.5 CPUs -> 2 threads
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "400000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4),  # cgroup v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_a_containers_cpu_quota_caps_the_threads(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert _cgroup_quota(tmp_path) == expected


def _wait_policy(code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env
    done = subprocess.run([sys.executable, "-c", code + "; import os; print(os.environ.get('OMP_WAIT_POLICY'))"],
                          capture_output=True, text=True, env=environment, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_importing_lens_vdb_before_torch_makes_openmp_wait_passively():
    assert _wait_policy("import lens_vdb") == "PASSIVE"
    assert _wait_policy("import lens_vdb", OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"  # the user's choice stands
    assert _wait_policy("import torch, lens_vdb") == "None"  # too late: OpenMP has read it


def test_available_memory_reads_memavailable(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   12000000 kB\n")
    assert available_memory(meminfo) == 12000000 * 1024
    assert available_memory(tmp_path / "absent") is None
    if os.path.exists("/proc/meminfo"):
        assert available_memory() > 0
