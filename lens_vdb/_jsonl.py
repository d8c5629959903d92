"""The one JSONL reader: documents to ingest, BEIR corpora and training data all read their files here.

One file format, one set of rules: UTF-8 with or without a byte-order mark (what Windows tools
write), plain or gzip-compressed (a name ending in ``.gz``), blank lines skipped, and every error a
:class:`~lens_vdb.LensInputError` naming the file and the line (``corpus.jsonl:12: not valid JSON``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ._errors import LensInputError

__all__ = ["read_jsonl", "read_jsonl_objects", "JSONL_SUFFIXES"]

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")


def read_jsonl(path: str | Path, *, what: str = "JSONL file") -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line of ``path``; the first bad line stops with its number.

    ``what`` names the file in the errors that concern the whole file ("training data file
    pairs.jsonl does not exist"). A missing file is reported when the first value is asked for.
    """
    path = Path(path)
    if not path.is_file():
        raise LensInputError(f"{what} {path} does not exist (or is not a file).")
    try:
        with _open(path) as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LensInputError(f"{path}:{number}: not valid JSON ({exc.msg}, column {exc.colno}).") from None
                yield number, value
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # gzip.BadGzipFile is an OSError
        raise LensInputError(f"Cannot read {what} {path}: {exc}. It must be UTF-8 text (gzip-compressed if its "
                             "name ends in .gz).") from exc


def read_jsonl_objects(path: str | Path, *, what: str = "JSONL file") -> Iterator[tuple[int, dict[str, Any]]]:
    """As :func:`read_jsonl`, each line a JSON object; any other value stops with its line number."""
    for number, value in read_jsonl(path, what=what):
        if not isinstance(value, dict):
            raise LensInputError(f"{path}:{number}: a JSON object is expected, got {type(value).__name__}.")
        yield number, value


def _open(path: Path) -> IO[str]:
    # utf-8-sig drops a byte-order mark at the start and reads plain UTF-8 alike
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return path.open(encoding="utf-8-sig")

