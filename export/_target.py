"""Where an export is written: what may be replaced, and the swap that never leaves half an export.

An export is built in a hidden folder beside its target and moved into place only when it passed
validation. ``overwrite`` replaces an earlier lens-vdb export and nothing else: a folder of other
files, or the model being exported, is never deleted for an export.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lens_vdb import LensError
from lens_vdb._files import MANIFEST_NAME
from lens_vdb._inference.onnx_runtime import MANIFEST_FORMAT

__all__ = ["check_target", "staged_export"]


def check_target(out_dir: str | Path, *, overwrite: bool, source: str | Path | None = None) -> Path:
    """``out_dir`` made absolute, once it is known to be new, empty, or an earlier export to replace.

    ``source``: the model's folder, when it was given as one; an export may not replace it or
    a folder holding it.
    """
    target = Path(out_dir).expanduser().resolve()
    if source is not None and Path(source).expanduser().exists():
        model_dir = Path(source).expanduser().resolve()
        if target == model_dir or target in model_dir.parents:
            raise LensError(f"{target} holds the model being exported ({model_dir}); write the export to "
                            "another folder.")
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return target
    if not target.is_dir():
        raise LensError(f"{target} is a file; give a folder for the export.")
    if not overwrite:
        raise LensError(f"{target} exists and is not empty; pass overwrite=True (--overwrite) to replace an "
                        "earlier export there.")
    if not _is_export(target):
        raise LensError(f"{target} is not a lens-vdb export (no lens-vdb {MANIFEST_NAME}), and overwrite only "
                        "replaces an earlier export; choose a new or empty folder.")
    return target


def _is_export(directory: Path) -> bool:
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT


@contextmanager
def staged_export(target: Path) -> Iterator[Path]:
    """A hidden folder beside ``target`` to build the export in; it becomes ``target`` if the block succeeds.

    On any error (a failed validation, Ctrl-C) the folder is removed and ``target`` is untouched.
    An earlier export at ``target`` is moved aside, replaced, and only then deleted.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield staging
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}-replaced-", dir=target.parent))
    aside.rmdir()
    target.rename(aside)
    try:
        staging.rename(target)
    except BaseException:
        aside.rename(target)
        raise
    shutil.rmtree(aside, ignore_errors=True)
