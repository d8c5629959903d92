"""A local Ray runtime that lens-vdb starts gets time to start on a loaded machine (Ray's own 30 s ran out once
on a busy 2-core CI machine); one that does not start in time is a LensConnectionError saying what to set, and a
user's own setting of Ray's wait rules."""

from __future__ import annotations

import logging
import os
import signal

import pytest

from lens_vdb import LensConnectionError
from lens_vdb.connectors import RayOptions
from lens_vdb.connectors._ray.cluster import GCS_WAIT_VARIABLE, LOCAL_START_SECONDS, _gcs_wait, start_or_join
from tests.integration.ray_support import descendants_named, ray  # skips the module without ray

pytestmark = pytest.mark.engine_only  # about Ray's behaviour, not the model's: once, in the 4.57 suite


def test_a_local_runtime_that_does_not_start_in_time_says_what_to_set(monkeypatch):
    monkeypatch.setenv(GCS_WAIT_VARIABLE, "0")  # the user's setting rules: no time at all
    before = set(descendants_named("gcs_server"))
    try:
        with pytest.raises(LensConnectionError) as caught:
            start_or_join(RayOptions(address="local", num_cpus=1), logging.WARNING)
    finally:  # the GCS Ray started before it gave up on it (it would go with this process anyway)
        for pid in set(descendants_named("gcs_server")) - before:
            os.kill(pid, signal.SIGKILL)
    message = str(caught.value)
    assert "Ray's local runtime did not start" in message and "waited 0 s" in message
    assert f"set {GCS_WAIT_VARIABLE} to more seconds" in message and "ray start --head" in message
    assert not ray.is_initialized()


def test_the_wait_is_raised_for_the_start_only_and_a_users_setting_is_kept(monkeypatch):
    monkeypatch.delenv(GCS_WAIT_VARIABLE, raising=False)
    with _gcs_wait(LOCAL_START_SECONDS):
        assert os.environ[GCS_WAIT_VARIABLE] == str(LOCAL_START_SECONDS)
    assert GCS_WAIT_VARIABLE not in os.environ
    monkeypatch.setenv(GCS_WAIT_VARIABLE, "7")
    with _gcs_wait(LOCAL_START_SECONDS):
        assert os.environ[GCS_WAIT_VARIABLE] == "7"
    assert os.environ[GCS_WAIT_VARIABLE] == "7"
