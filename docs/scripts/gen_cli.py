"""Write the CLI reference at build time from ``lens_vdb.cli.build_parser()``: every subcommand, its
usage and a table of its arguments, read from the parser itself, so the page follows the CLI."""

from __future__ import annotations

import argparse
import os

import mkdocs_gen_files

os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal width: fix it for a stable page
os.environ["NO_COLOR"] = "1"  # and no colour codes (Python 3.14 colours help by default)

from lens_vdb.cli import build_parser  # noqa: E402


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommands, in the order they were added."""
    for action in parser._actions:  # argparse has no public accessor for its subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each subcommand's one-line help, as ``lens-vdb --help`` lists it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {choice.dest: choice.help or "" for choice in action._choices_actions}
    return {}


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | default | choices | what it does |", "|---|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = ", ".join(f"`{flag}`" for flag in action.option_strings) or f"`{action.dest}`"
        if action.nargs in ("*", "+"):
            name += " (repeatable)" if action.option_strings else f" ({action.nargs})"
        elif isinstance(action, argparse._AppendAction):
            name += " (repeatable)"
        default = "" if action.default in (None, argparse.SUPPRESS, False) or action.required else f"`{action.default}`"
        if action.required and action.option_strings:
            default = "required"
        choices = ", ".join(f"`{c}`" for c in action.choices) if action.choices else ""
        text = action.help % dict(vars(action), prog=parser.prog) if action.help else ""  # as argparse expands it
        rows.append(f"| {name} | {cell(default)} | {choices} | {cell(text)} |")
    return rows


def page() -> str:
    parser = build_parser()
    commands, summaries = subcommands(parser), helps(parser)
    lines = ["# Command line", "",
             "`lens-vdb` (or `python -m lens_vdb.cli`). This page is generated from the CLI's argument parser "
             "when the site is built.", "",
             "```text", parser.format_help().rstrip(), "```", "",
             "| command | what it does |", "|---|---|"]
    lines += [f"| [`{name}`](#lens-vdb-{name}) | {cell(summaries.get(name, ''))} |" for name in commands]
    for name, sub in commands.items():
        lines += ["", f"## lens-vdb {name}", "", summaries.get(name, ""), "",
                  "```text", sub.format_usage().strip(), "```", "", *argument_rows(sub)]
    return "\n".join(lines) + "\n"


with mkdocs_gen_files.open("reference/cli.md", "w") as out:
    out.write(page())
