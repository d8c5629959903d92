"""What every ``lens-vdb`` command shares: one-line errors, defaults in ``--help``, and argument checks.

Every check here runs while the command line is parsed, before any model (or torch) loads: a
missing file, a bad number or an unknown task is reported at once, on one line, with exit code 2.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from ._errors import LensInputError
from ._jsonl import JSONL_SUFFIXES
from ._vocabulary import BACKENDS, DEFAULT_BACKEND

__all__ = ["LensArgumentParser", "ENCODER_BACKENDS", "DEFAULT_ENCODER_BACKEND", "STORES", "positive_int",
           "non_negative_int", "filter_item", "task_name", "model_source", "existing_source", "add_encoder_options",
           "store_location"]

# The encoder backends the CLI offers and its default: lens_vdb._vocabulary's, which imports nothing heavy, so
# --help and argument errors need no torch import.
ENCODER_BACKENDS: tuple[str, ...] = BACKENDS
DEFAULT_ENCODER_BACKEND: str = DEFAULT_BACKEND  # torch, the exact model; why it is the default: lens_vdb._vocabulary
STORES: tuple[str, ...] = ("qdrant", "milvus")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _no_default(value: object) -> bool:
    """Nothing worth showing as a default (``0`` is worth showing, so no ``in (None, False)``: 0 == False)."""
    return value is None or value is False or value is argparse.SUPPRESS


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` after every option that has a default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if _no_default(action.default) or isinstance(action, argparse._HelpAction):
            return action.help
        return super()._get_help_string(action)


class LensArgumentParser(argparse.ArgumentParser):
    """argparse, with defaults in ``--help`` and every usage error on one line (exit code 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if "help" not in kwargs and not _no_default(kwargs.get("default")):
            kwargs["help"] = "(default: %(default)s)"  # so that options without a help text show theirs too
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _checked(kind: str, check: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        return check(value)

    parse.__name__ = kind  # argparse names the type in its "invalid <type> value" messages
    return parse


def _int_at_least(minimum: int, kind: str) -> Callable[[str], int]:
    def check(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be {'positive' if minimum == 1 else f'>= {minimum}'}, "
                                             f"got {number}")
        return number

    return _checked(kind, check)


positive_int = _int_at_least(1, "positive int")
non_negative_int = _int_at_least(0, "int >= 0")


def _filter_item(value: str) -> tuple[str, str]:
    field, sep, wanted = value.partition("=")
    if not sep or not field.strip():
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE (e.g. topic=sport), got {value!r}")
    return field.strip(), wanted


filter_item = _checked("FIELD=VALUE", _filter_item)


def _task_name(value: str) -> str:
    from ._instructions import TASKS

    if value not in TASKS:
        raise argparse.ArgumentTypeError(f"unknown task {value!r}; known tasks: {', '.join(sorted(TASKS))}")
    return value


task_name = _checked("task", _task_name)


def _model_source(value: str) -> str:
    """A model name (default, untrained), an existing directory, or something shaped like a hub id."""
    from ._model.default import MODEL_NAMES

    path = Path(value).expanduser()
    if value in MODEL_NAMES or path.is_dir():
        return value
    if path.exists():
        raise argparse.ArgumentTypeError(f"{value} is a file; a model is a directory, a hub id, 'default' or "
                                         "'untrained'")
    if not _HUB_ID.match(value):
        raise argparse.ArgumentTypeError(f"no model directory {value}; give a directory, a hub id (org/name), "
                                         "'default' or 'untrained'")
    return value


model_source = _checked("model", _model_source)


def _existing_source(value: str) -> str:
    path = Path(value).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file or folder: {value}")
    if path.is_file() and not path.name.endswith((*JSONL_SUFFIXES, ".csv", ".parquet")):
        raise argparse.ArgumentTypeError(f"cannot ingest {value}: expected a .jsonl, .jsonl.gz or .csv file, a "
                                         "folder of .txt files, or (with --ray) Parquet")
    return value


existing_source = _checked("source", _existing_source)


def store_location(store: str, location: str | None) -> str:
    """The store's location, with the default filled in; an embedded location of the wrong kind is refused."""
    if location is None:
        return "./lens-vdb-milvus.db" if store == "milvus" else "./lens-vdb-data"
    if "://" in location or location == ":memory:":
        return location
    path = Path(location).expanduser()
    if store == "qdrant" and path.exists() and not path.is_dir():
        raise LensInputError(f"--location {location} is a file; embedded Qdrant keeps a folder "
                             "(give a folder, or a server URL such as http://localhost:6333)")
    return location


def add_encoder_options(parser: argparse.ArgumentParser, *, backends: tuple[str, ...] = ENCODER_BACKENDS,
                        default: str = DEFAULT_ENCODER_BACKEND, backend_help: str | None = None) -> None:
    """``--backend`` (the encoder's) and ``--threads``, the same in every command that encodes."""
    parser.add_argument("--backend", choices=backends, default=default, metavar="{" + ",".join(ENCODER_BACKENDS) + "}",
                        help=backend_help or "encoder backend: torch (the exact model), auto (the fastest "
                                             "measured on this machine), or onnx for a folder written by "
                                             "`lens-vdb export`")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads of the encoder (default: the physical cores this process may use)")
    if "remote" in backends:
        parser.add_argument("--url", default=None, metavar="URL",
                            help="encode on a KServe v2 server (Triton): the model's URL, e.g. "
                                 "http://127.0.0.1:8000/v2/models/lens; --model is then the export (or Triton model "
                                 "folder) it serves")
