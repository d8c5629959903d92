"""Retrieval pairs from Debian's package descriptions: the one-line synopsis -> the long description.

The long descriptions are in apt's ``Translation-en`` lists, which Docker images of Debian skip
(``Acquire::Languages "none"``); fetch them with::

    apt-get update -o Acquire::Languages=en

``Packages`` lists give each package's source package, the group that keeps ``libfoo1``,
``libfoo-dev`` and ``libfoo-doc`` (one text, three synopses) on one side of the held-out split.
Compressed lists (``.lz4``, ``.xz``, ``.zst``...) are read through ``apt-helper cat-file``; plain and
``.gz`` files directly. The output depends only on those lists and the seed.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from .._errors import LensDependencyError, LensInputError
from ._pairs import Pair, PairCounts, write_pairs

__all__ = ["APT_LISTS", "debian_pairs", "find_lists", "long_description", "read_list", "write_debian_pairs"]

APT_LISTS = Path("/var/lib/apt/lists")
_APT_HELPER = "/usr/lib/apt/apt-helper"
DATASET = "debian-packages"


def read_list(path: Path) -> str:
    """The text of an apt list file, decompressed (apt's own helper for the formats Python lacks)."""
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
    if path.suffix in ("", ".txt") or path.name.endswith(("Packages", "Translation-en")):
        return path.read_text(encoding="utf-8", errors="replace")
    helper = shutil.which("apt-helper") or _APT_HELPER
    try:
        done = subprocess.run([helper, "cat-file", str(path)], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise LensDependencyError(f"Cannot decompress {path} with {helper} ({exc}); on Debian it comes with apt, "
                                  "elsewhere decompress the list and pass the plain file.") from exc
    return done.stdout.decode("utf-8", errors="replace")


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    """Deb822 stanzas as dicts; a field's continuation lines are kept (with their leading space)."""
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        name = None
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and name is not None:
                fields[name] += "\n" + line
            elif ":" in line:
                name, _, value = line.partition(":")
                fields[name] = value.strip()
        if fields:
            yield fields


def long_description(lines: list[str]) -> str:
    """The extended description as prose: ``" ."`` breaks paragraphs, verbatim lines become list items."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        text = line[1:] if line.startswith(" ") else line
        if text.strip() == ".":
            paragraphs.append([])
        elif text.strip():
            paragraphs[-1].append(text.strip())
    return " ".join(" ".join(p) for p in paragraphs if p)


def debian_pairs(translations: list[Path], packages: Sequence[Path] = ()) -> Iterator[Pair]:
    """One pair per described package: ``Description-en``'s first line -> the rest; grouped by source."""
    sources: dict[str, str] = {}
    for path in packages:
        for stanza in _stanzas(read_list(path)):
            if "Package" in stanza:
                sources[stanza["Package"]] = stanza.get("Source", stanza["Package"]).split(" ")[0]
    for path in translations:
        for stanza in _stanzas(read_list(path)):
            description = stanza.get("Description-en")
            if "Package" not in stanza or not description:
                continue
            synopsis, *rest = description.split("\n")
            yield Pair(synopsis.strip(), long_description(rest), sources.get(stanza["Package"], stanza["Package"]))


def find_lists(directory: Path = APT_LISTS) -> tuple[list[Path], list[Path]]:
    """The ``Translation-en`` and ``Packages`` lists under ``directory`` (sorted, for a stable order)."""
    translations = sorted(p for p in directory.glob("*_i18n_Translation-en*") if p.is_file())
    packages = sorted(p for p in directory.glob("*_Packages*") if p.is_file())
    if not translations:
        raise LensInputError(f"No Translation-en lists in {directory}: fetch them with "
                             "`apt-get update -o Acquire::Languages=en` (Debian images skip them by default).")
    return translations, packages


def write_debian_pairs(path: str | Path, lists_dir: str | Path = APT_LISTS, *, seed: int = 0, held_out: float = 0.02,
                       negatives: int = 3, limit: int | None = None) -> PairCounts:
    """Build the Debian pairs from the apt lists in ``lists_dir``; write ``path`` and its held-out sibling."""
    translations, packages = find_lists(Path(lists_dir))
    return write_pairs(debian_pairs(translations, packages), path, dataset=DATASET, seed=seed, held_out=held_out,
                       negatives=negatives, limit=limit)
