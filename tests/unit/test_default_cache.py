"""The default model is built once into the cache, however many processes ask for it at the same time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lens_vdb._files import CONFIG_NAME
from lens_vdb._model.default import _cached


class _SlowModel:
    """Stands in for a LENS model: saving writes the config file the cache checks for."""

    def save_pretrained(self, directory: Path) -> None:
        (Path(directory) / CONFIG_NAME).write_text("{}")


def test_concurrent_first_uses_build_the_model_once(tmp_path):
    builds: list[int] = []

    def build() -> _SlowModel:
        builds.append(1)
        time.sleep(0.5)  # long enough for every other caller to arrive while this one builds
        return _SlowModel()

    target = tmp_path / "home" / "model"
    results: list[Path] = []
    callers = [threading.Thread(target=lambda: results.append(_cached(target, build))) for _ in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert len(builds) == 1 and results == [target] * 4
    assert (target / CONFIG_NAME).is_file()
    assert [p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")] == ["model"]  # no staging left


def test_a_failed_build_leaves_nothing_and_the_next_call_builds_again(tmp_path):
    target = tmp_path / "model"

    def broken() -> _SlowModel:
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        _cached(target, broken)
    assert not target.exists() and not [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")]
    assert _cached(target, _SlowModel) == target and (target / CONFIG_NAME).is_file()
