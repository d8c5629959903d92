"""Retrieval pairs from manual pages: the NAME line -> the DESCRIPTION section.

Install pages with e.g. ``apt-get install manpages manpages-dev libssl-doc git-man tcl8.6-doc``; every
English page under ``/usr/share/man/man[1-9]`` is read (localised trees and ``.so`` redirects are
skipped). The roff source is read directly rather than rendered by ``man`` (one groff process per
page would cost tens of minutes on two cores): comments, conditionals, macro definitions and
tables are dropped, font and size escapes removed, special characters mapped to text, and the
words of formatting macros (``.B``, ``.BR``, mdoc's ``.Nm``, ``.Xr``...) kept. ``man`` and ``mdoc``
pages both work (``.SH``/``.Sh``; mdoc's NAME is ``.Nm`` + ``.Nd``).

Perl's core documentation (the ``perl*.1`` pages: ``perl-doc``'s ``perlfaq1`` .. ``perlfaq9``,
``perlfunc``, ``perlop``...) is skipped: the FAQ is an evaluation set
(:func:`lens_vdb.eval.perl_faq_corpus`), and the other core pages quote whole paragraphs of it
(measured on Debian 12: ``perlop``, ``perlfunc``, ``perlrun`` and six more share 10-word runs with
13 of its answers), so no training pair may come from them.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from .._errors import LensInputError
from ._pairs import Pair, PairCounts, write_pairs

__all__ = ["EVAL_PAGES", "MAN_DIR", "manpage_pairs", "parse_manpage", "roff_to_text", "write_manpage_pairs"]

MAN_DIR = Path("/usr/share/man")
DATASET = "manpages"
# pages that hold or quote an evaluation set's text (Perl's core docs: the FAQ and the pages quoting it): never read
EVAL_PAGES = re.compile(r"perl[\w.-]*\.1\b")
_CHARS = {"em": "-", "en": "-", "hy": "-", "mi": "-", "aq": "'", "dq": '"', "lq": '"', "rq": '"', "oq": "'",
          "cq": "'", "bu": "*", "co": "(C)", "rg": "(R)", "tm": "(TM)", "ga": "`", "ti": "~", "ha": "^",
          "rs": "\\", "bv": "|", "<=": "<=", ">=": ">=", "!=": "!=", "->": "->", "mu": "x", "de": " degrees"}
_ESCAPES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"\\\((..)"), lambda m: _CHARS.get(m.group(1), "")),
    (re.compile(r"\\\[([^\]]*)\]"), lambda m: _CHARS.get(m.group(1), "")),
    (re.compile(r"\\f(\(..|\[[^\]]*\]|.)"), ""),
    (re.compile(r"\\s[+-]?(\(\d\d|\[\d+\]|\d)"), ""),
    (re.compile(r"\\\*(\(..|\[[^\]]*\]|.)"), ""),
    (re.compile(r"\\[nkgz]\(?..?|\\[hvwlLoxHSR]'[^']*'"), ""),
    (re.compile(r"\\[-e]"), lambda m: "-" if m.group(0) == "\\-" else "\\"),
    (re.compile(r"\\[ ~0]"), " "),
    (re.compile(r"\\[&|^c%:)!/,dut{}]"), ""),
    (re.compile(r"\\(.)"), r"\1"),
]
_STRUCTURE = {"TH", "Dd", "Dt", "Os", "PP", "P", "LP", "Pp", "RS", "RE", "br", "sp", "nf", "fi", "in", "ti", "HP",
              "TP", "TQ", "ad", "na", "nh", "hy", "ne", "ft", "ps", "vs", "ll", "ce", "Bl", "El", "Bd", "Ed", "Ss",
              "SS", "PD", "UC", "IX", "ds", "nr", "rm", "tr", "cs", "ss", "so", "ME", "UE", "EE", "EX", "YS", "SY",
              "OP", "ie", "el", "if", "\\\""}
_QUOTED = re.compile(r'"([^"]*)"|(\S+)')


def roff_to_text(text: str) -> str:
    """Inline roff escapes removed or mapped to plain characters."""
    for pattern, replacement in _ESCAPES:
        text = pattern.sub(replacement, text)
    return text


def _macro_words(line: str) -> tuple[str, str]:
    """``(".BR", "open (2)")`` -> the macro name and the words it prints (quotes removed, args joined)."""
    name, _, rest = line[1:].strip().partition(" ")
    words = [a if a is not None and a != "" else b for a, b in _QUOTED.findall(rest)]
    joiner = "" if name in ("BR", "RB", "BI", "IB", "IR", "RI") else " "
    return name, joiner.join(words)


def _sections(source: str) -> dict[str, list[str]]:
    """Section name -> its text lines (requests turned into their printed words, or dropped)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    skipping = None
    for raw in source.splitlines():
        line = raw.rstrip()
        if skipping is not None:
            if line.startswith(skipping):
                skipping = None
            continue
        if line.startswith((".de", ".TS", ".ig", ".EQ")):
            skipping = {"d": "..", "T": ".TE", "i": "..", "E": ".EN"}[line[1]]
            continue
        if line.startswith(("'", '.\\"', "\\#")) or line.startswith('.\\"'):
            continue
        if line.startswith("."):
            name, words = _macro_words(line)
            if name in ("SH", "Sh"):
                current = sections.setdefault(roff_to_text(words).upper(), [])
                continue
            if name in _STRUCTURE or name.startswith(("if", "ie", "el")):
                words = words if name in ("IP", "TP", "SS", "Ss") else ""
            line = f"- {words}" if name == "Nd" else words  # mdoc's NAME: .Nm ls / .Nd list directory contents
        if current is not None and line.strip():
            current.append(roff_to_text(line))
    return sections


def parse_manpage(source: str) -> tuple[str, str] | None:
    """``(NAME line, DESCRIPTION text)`` of a page's roff source, or ``None`` if either is missing."""
    sections = _sections(source)
    name = " ".join(" ".join(sections.get("NAME", [])).split())
    if not name:
        return None
    description = " ".join(" ".join(sections.get("DESCRIPTION", [])).split())
    return (name, description) if description else None


def _pages(directory: Path) -> Iterator[Path]:
    for section in sorted(directory.glob("man[1-9]")):
        for path in sorted(section.iterdir()):
            if path.is_file() and not path.is_symlink() and not EVAL_PAGES.match(path.name):
                yield path


def _read(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def manpage_pairs(directory: str | Path = MAN_DIR) -> Iterator[Pair]:
    """One pair per page with a NAME and a DESCRIPTION; grouped by page name (``open.2``)."""
    directory = Path(directory)
    if not any(directory.glob("man[1-9]")):
        raise LensInputError(f"No man[1-9] folders in {directory}: install pages (e.g. `apt-get install "
                             "manpages manpages-dev`) or pass the folder that holds them.")
    for path in _pages(directory):
        source = _read(path)
        if source.lstrip().startswith(".so "):
            continue
        parsed = parse_manpage(source)
        if parsed is not None:
            yield Pair(parsed[0], parsed[1], path.name.removesuffix(".gz"))


def write_manpage_pairs(path: str | Path, directory: str | Path = MAN_DIR, *, seed: int = 0, held_out: float = 0.02,
                        negatives: int = 3, limit: int | None = None) -> PairCounts:
    """Build the man page pairs from ``directory``; write ``path`` and its held-out sibling."""
    return write_pairs(manpage_pairs(directory), path, dataset=DATASET, seed=seed, held_out=held_out,
                       negatives=negatives, limit=limit)
