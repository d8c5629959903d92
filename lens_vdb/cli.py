"""The ``lens-vdb`` command line.

The CLI is the application layer: it wires the core, ``lens_vdb.connectors`` and
``lens_vdb.export`` together, importing each inside the command that needs it. No other module
of the core imports connectors or export (a test checks this). The commands live by family in
``_cli_model`` (build, embed, export), ``_cli_store`` (demo, ingest, search) and ``_cli_train``
(train, wordnet-pairs, eval); ``_cli_common`` holds the argument checks they share.

A user error (a bad argument, a missing file, a model or store that cannot be used) is one line
on stderr and exit code 2, reported before any model loads where the arguments alone show it;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from . import __version__
from ._cli_common import LensArgumentParser
from ._errors import LensError

__all__ = ["main", "build_parser"]

# libraries that log tracebacks the user cannot act on: milvus_lite for errors lens-vdb reports itself on one line
# (a .db file another process holds), grpc._server for every Milvus Lite write (its in-process server does not
# implement AllocTimestamp, which pymilvus calls and then does without); -v shows them
_QUIET_LOGGERS = ("milvus_lite", "grpc._server")


def build_parser() -> LensArgumentParser:
    """The parser of every subcommand; building it imports no model code."""
    from ._cli_model import add_model_commands
    from ._cli_store import add_store_commands
    from ._cli_train import add_train_commands

    parser = LensArgumentParser(prog="lens-vdb", description="LENS lexicon embeddings for hybrid retrieval.")
    parser.add_argument("--version", action="version", version=f"lens-vdb {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and library details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=LensArgumentParser)
    add_model_commands(commands)  # build, embed, export
    add_store_commands(commands)  # demo, ingest, search
    add_train_commands(commands)  # train, wordnet-pairs, eval
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        return args.func(args)
    except LensError as exc:  # the message says what to do; a traceback would bury it
        print(f"lens-vdb {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lens-vdb {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
