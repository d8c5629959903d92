"""The Perl FAQ (Debian's ``perl-doc``) as question -> answer pairs: a second offline evaluation set.

``perlfaq1.pod`` .. ``perlfaq9.pod`` hold about 300 questions, each a ``=head2`` heading with its
answer in the paragraphs below it. No training source reads them: the man page builder skips
Perl's core pages, the FAQ's and those quoting it (:data:`lens_vdb.train._manpages.EVAL_PAGES`);
the other builders read apt's package lists, Python sources and WordNet (measured on Debian 12:
two answers share one sentence with a package description, perltidy's and Plack's). The POD is read directly, not through ``pod2text``:
formatting codes become their text (``C<open>`` -> ``open``, ``L<perlfunc/"open">`` -> ``"open"
in perlfunc``), code blocks are kept as text, ``=begin``/``=for`` blocks and leading
"(contributed by ...)" credits are dropped. The output depends only on the installed perl-doc.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._errors import LensDependencyError

__all__ = ["PERL_ROOT", "FaqEntry", "find_perlfaq", "pod_to_text", "read_perl_faq"]

PERL_ROOT = Path("/usr/share/perl")
_INSTALL = "`apt-get install perl-doc` (Debian/Ubuntu)"
_LT, _GT = "\ue000", "\ue001"  # E<lt> and E<gt> while codes are resolved, so they do not pair with code brackets
_ESCAPE = re.compile(r"E<([^<>]*)>")
_DOUBLE = [re.compile(rf"([A-Z])<{{{n}}}\s+(.*?)\s+>{{{n}}}", re.S) for n in (4, 3, 2)]
_SINGLE = re.compile(r"([A-Z])<([^<>]*)>")
_CREDIT = re.compile(r"^\(contributed by [^)]*\)\s*", re.I)
_BULLET = re.compile(r"^(\*|\d+\.?)(\s+|$)")  # an item's bullet or number, not its text


@dataclass(frozen=True)
class FaqEntry:
    """One question of the FAQ: ``section`` (``"perlfaq4"``), its position in that file, the question
    (the ``=head2`` heading) and the answer (the text under it, code blocks included)."""

    section: str
    index: int
    question: str
    answer: str

    @property
    def id(self) -> str:
        """``perlfaq4/12``: stable for one perl-doc version."""
        return f"{self.section}/{self.index}"


def _escape(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in ("lt", "gt"):
        return _LT if name == "lt" else _GT
    if name in ("verbar", "sol"):
        return "|" if name == "verbar" else "/"
    if re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", name):
        return chr(int(name, 0) if name.lower().startswith("0x") else int(name))
    return html.unescape(f"&{name};")


def _link(target: str) -> str:
    """``L<text|name/"sec">`` -> ``text``; ``L<name/"sec">`` -> ``"sec" in name``; ``L<name>`` -> ``name``."""
    if "|" in target:
        return target.split("|", 1)[0]
    if re.match(r"\w+:[^:\s]", target):  # a URL
        return target
    name, slash, section = target.partition("/")
    if not slash:
        return name
    section = section.strip('"')
    return f'"{section}" in {name}' if name else f'"{section}"'


def _code(letter: str, content: str) -> str:
    if letter in ("X", "Z"):
        return ""
    return _link(content) if letter == "L" else content


def pod_to_text(text: str) -> str:
    """A POD paragraph's formatting codes resolved to plain text (nested codes, ``C<< >>`` forms included)."""
    text = _ESCAPE.sub(_escape, text)
    for pattern in _DOUBLE:  # their content is literal: brackets inside are protected
        text = pattern.sub(lambda m: _code(m.group(1), m.group(2)).replace("<", _LT).replace(">", _GT), text)
    while True:  # innermost first
        resolved = _SINGLE.sub(lambda m: _code(m.group(1), m.group(2)), text)
        if resolved == text:
            break
        text = resolved
    return text.replace(_LT, "<").replace(_GT, ">")


def _paragraphs(source: str) -> Iterator[str]:
    """POD paragraphs: blocks separated by lines that are empty or only whitespace."""
    for block in re.split(r"\n[ \t]*\n", source.replace("\r\n", "\n")):
        if block.strip():
            yield block.strip("\n")


def _entries(source: str, section: str) -> Iterator[FaqEntry]:
    question: str | None = None
    answer: list[str] = []
    skipping: str | None = None
    index = 0

    def flush() -> Iterator[FaqEntry]:
        nonlocal index
        if question is not None:
            text = _CREDIT.sub("", " ".join(" ".join(answer).split()))
            yield FaqEntry(section, index, question, text)
            index += 1

    for paragraph in _paragraphs(source):
        if skipping is not None:
            if paragraph.startswith("=end"):
                skipping = None
            continue
        if paragraph.startswith("="):
            command, _, rest = paragraph[1:].partition(" ")
            command = command.split("\n", 1)[0]
            if command.startswith("head"):
                yield from flush()
                heading = " ".join(pod_to_text(rest).split())
                question, answer = (heading, []) if command == "head2" else (None, [])
            elif command == "begin":
                skipping = rest.split()[0] if rest.split() else ""
            elif command == "item":
                item = _BULLET.sub("", pod_to_text(rest).strip())
                if question is not None and item:
                    answer.append(item)
            continue  # =over, =back, =for, =pod, =cut, =encoding
        if question is not None:
            answer.append(paragraph if paragraph[0] in " \t" else pod_to_text(paragraph))  # verbatim: literal
    yield from flush()


def find_perlfaq(root: str | Path = PERL_ROOT) -> list[Path]:
    """``perlfaq1.pod`` .. ``perlfaq9.pod`` of the newest perl under ``root`` (``/usr/share/perl/<version>/pod``)."""
    folders = sorted({p.resolve() for p in Path(root).glob("*/pod") if (p / "perlfaq1.pod").is_file()},
                     key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")])
    files = sorted(folders[-1].glob("perlfaq[1-9].pod")) if folders else []
    if len(files) < 9:
        raise LensDependencyError(f"No Perl FAQ (perlfaq1.pod .. perlfaq9.pod) under {root}/<version>/pod: install "
                                  f"it with {_INSTALL}, or pass the folder that holds perl's pod folders.")
    return files


def read_perl_faq(root: str | Path = PERL_ROOT) -> list[FaqEntry]:
    """Every question with a non-empty answer, in file order; a question asked twice is kept once."""
    entries: list[FaqEntry] = []
    seen: set[str] = set()
    for path in find_perlfaq(root):
        for entry in _entries(path.read_text(encoding="utf-8", errors="replace"), path.stem):
            key = entry.question.lower()
            if entry.answer and key not in seen:
                seen.add(key)
                entries.append(entry)
    return entries
