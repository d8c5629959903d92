"""What ``backend="auto"`` keeps between runs: its measurements per machine, and the graphs it exported.

Measurements go to a small JSON beside the model (``lens_auto_backend.json`` in the model's
folder), or under :func:`lens_vdb._files.cache_home` when that folder is read-only or the model
was not loaded from a folder. Each entry is keyed by the model's fingerprint, the CPU (model
name, usable cores, relevant instruction sets), the library versions that run it, the device
and the thread count: anything else re-measures. A stamp of the model's files (names, sizes,
modification times) maps the folder to its fingerprint, so a cached choice loads only the
backend it names, never the torch weights first.

Graphs made for ``auto`` live under ``cache_home()/onnx/<fingerprint>-<kind>``: named by the
model's identity, so two copies of one model share them and a changed model never finds
another's graph; a graph counts only when its manifest names that identity.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from .._errors import LensInputError, LensModelError
from .._files import MANIFEST_NAME, cache_home
from .._machine import cpu_info
from .._model.fusion import FUSION_FILE
from .._model.specificity import SPECIFICITY_FILE

__all__ = ["DecisionCache", "graph_dir", "find_graph", "library_versions", "model_stamp", "decision_key",
           "AUTO_FILE"]

logger = logging.getLogger(__name__)

AUTO_FILE = "lens_auto_backend.json"
FORMAT, VERSION = "lens-vdb-auto-backend", 1
_VERSIONED = ("lens-vdb", "torch", "transformers", "onnxruntime", "onnxruntime-gpu")
_MODEL_FILES = (".safetensors", ".json", ".bin", ".gguf", ".model")


def library_versions() -> dict[str, str]:
    """The versions a backend's speed depends on (those installed)."""
    out = {}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def decision_key(fingerprint: str, device: str, threads: int) -> str:
    """One measurement's key: the model, this CPU, the library versions, the device and the threads."""
    parts = [fingerprint, cpu_info().key(), library_versions(), device, threads]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def model_stamp(directory: Path) -> str:
    """Names, sizes and modification times of a model folder's weight and config files, hashed (not the
    records written beside the model: auto's measurements, the fusion and specificity records)."""
    files = sorted(p for p in directory.iterdir() if p.suffix in _MODEL_FILES and p.name not in (AUTO_FILE, FUSION_FILE, SPECIFICITY_FILE))
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.is_file()]
    return hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:24]


def graph_dir(fingerprint: str, kind: str) -> Path:
    """Where ``auto`` exports the ``kind`` graph (``"fp32"``, ``"int8"``, ``"fp16"``) of a model."""
    return cache_home() / "onnx" / f"{fingerprint}-{kind}"


def find_graph(fingerprint: str, kind: str) -> Path | None:
    """The exported ``kind`` graph of the model ``fingerprint`` names, if one passed every check of its export.

    An int8 graph counts only with its MRR@10 check recorded (the check cosine cannot make).
    """
    from .onnx_runtime import read_manifest

    directory = graph_dir(fingerprint, kind)
    if not (directory / MANIFEST_NAME).is_file():
        return None
    try:
        manifest = read_manifest(directory)
    except LensModelError as exc:
        logger.warning("Ignoring %s: %s", directory, exc)
        return None
    made = manifest.get("quantize") or manifest["dtype"]
    checked = kind != "int8" or manifest.get("retrieval") is not None
    return directory if manifest.get("model_fingerprint") == fingerprint and made == kind and checked else None


class DecisionCache:
    """The JSON file of ``auto``'s measurements for one model (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_model(cls, directory: Path | None, fingerprint: str | None = None) -> DecisionCache:
        """Beside the model in ``directory`` when it is writable; else under the cache home."""
        if directory is not None and os.access(directory, os.W_OK):
            return cls(directory / AUTO_FILE)
        if directory is not None:
            name = "dir-" + hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
        elif fingerprint is not None:
            name = fingerprint
        else:
            raise LensInputError("a model folder or a fingerprint is needed to place the cache")
        return cls(cache_home() / "auto" / f"{name}.json")

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("Ignoring the unreadable %s (%s); measuring again.", self.path, exc)
            return {}
        return data if isinstance(data, dict) and data.get("format") == FORMAT else {}

    def fingerprint_of(self, stamp: str) -> str | None:
        """The fingerprint measured for model files with this stamp, if any."""
        return self._read().get("models", {}).get(stamp)

    def lookup(self, key: str) -> dict[str, Any] | None:
        entry = self._read().get("entries", {}).get(key)
        return entry if isinstance(entry, dict) else None

    def store(self, key: str, entry: dict[str, Any], *, stamp: str | None = None,
              fingerprint: str | None = None) -> None:
        """Add one entry (and the stamp's fingerprint); written whole and renamed into place. A cache that
        cannot be written is a warning: the next run measures again."""
        data = self._read() or {"format": FORMAT, "version": VERSION}
        data.setdefault("entries", {})[key] = entry
        if stamp is not None and fingerprint is not None:
            data.setdefault("models", {})[stamp] = fingerprint
        temporary = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}-", dir=self.path.parent)
            with os.fdopen(handle, "w") as out:
                out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
            os.replace(temporary, self.path)
        except OSError as exc:
            logger.warning("Could not write %s (%s); backend='auto' will measure again next time.", self.path, exc)
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
