"""The retrieval pair builders on small real-format slices: Debian lists, roff pages, Python sources."""

from __future__ import annotations

import gzip
import json
import textwrap
from pathlib import Path

import pytest

from lens_vdb import LensInputError
from lens_vdb.train import load_examples
from lens_vdb.train._debian import debian_pairs, long_description, write_debian_pairs
from lens_vdb.train._manpages import parse_manpage, write_manpage_pairs
from lens_vdb.train._pairs import (
    Pair,
    cut_words,
    dedupe,
    held_out_path,
    mine_negatives,
    split_held_out,
    write_pairs,
)
from lens_vdb.train._pydoc import docstring_pairs, split_docstring, write_pydoc_pairs

# Stanzas as in bookworm's main Translation-en and Packages lists (shortened).
TRANSLATION = """\
Package: 0ad
Description-md5: d943033bedada21853d2ae54a2578a7b
Description-en: Real-time strategy game of ancient warfare
 0 A.D. (pronounced "zero ey-dee") is a free, open-source, cross-platform
 real-time strategy (RTS) game of ancient warfare.
 .
 The project is highly ambitious, involving state-of-the-art 3D graphics.

Package: 0ad-data
Description-md5: 26581e685027d5ae84824362a4ba59ee
Description-en: Real-time strategy game of ancient warfare (data files)
 0 A.D. (pronounced "zero ey-dee") is a free, open-source, cross-platform
 real-time strategy (RTS) game of ancient warfare.
 .
 The project is highly ambitious, involving state-of-the-art 3D graphics.
 .
 This package contains the main data files required by 0 A.D.

Package: csvkit
Description-md5: 0c8d6ad6eb1d9b0cbf21b4d1c1c2a3bb
Description-en: command-line tools for working with CSV
 csvkit is a suite of command-line tools for converting to and working with
 CSV, the king of tabular file formats. Its tools:
   * csvcut: filter and truncate CSV files
   * csvgrep: search CSV files

Package: xmlstarlet
Description-md5: 7a2a1e1f8a1f4e5b6c7d8e9f0a1b2c3d
Description-en: command line XML toolkit
 XMLStarlet is a set of command line utilities (tools) to transform, query,
 validate, and edit XML documents and files using a simple set of shell
 commands in a similar way it is done for text files with UNIX grep, sed, awk.

Package: tinyone
Description-md5: 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d
Description-en: too short
 Two words.
"""
PACKAGES = """\
Package: 0ad
Version: 0.0.26-3
Description: Real-time strategy game of ancient warfare

Package: 0ad-data
Source: 0ad (0.0.26-1)
Version: 0.0.26-1
Description: Real-time strategy game of ancient warfare (data files)
"""

PAGE = r""".\" Copyright (C) 1992 Drew Eckhardt
.TH open 2 2023-02-05 "Linux man-pages 6.03"
.SH NAME
open, openat, creat \- open and possibly create a file
.SH SYNOPSIS
.nf
.B #include <fcntl.h>
.fi
.SH DESCRIPTION
The
.BR open ()
system call opens the file specified by
.IR pathname .
If the specified file does not exist,
it may optionally (if
.B O_CREAT
is specified in
.IR flags )
be created by
.BR open ().
.PP
The return value of \fBopen\fP() is a file descriptor \(em a small, nonnegative integer.
.TS
tab(:);
l l.
ignored:table
.TE
.SH RETURN VALUE
On success, the new file descriptor is returned.
"""
MDOC = """.Dd March 1, 2023
.Dt TOUCH 1
.Sh NAME
.Nm touch
.Nd change file access and modification times
.Sh DESCRIPTION
The
.Nm
utility sets the modification and access times of files to the current time of day.
If the file does not exist, it is created with default permissions.
"""

MODULE = '''\
"""Tools for frobnicating widgets.

Widgets are frobnicated in place; nothing is copied and no widget is ever lost on the way.
"""


class Frobnicator:
    """Frobnicate widgets one at a time.

    A frobnicator keeps no state between calls, so one instance serves every thread of a program.
    """

    def run(self, widget):
        """Run once. The widget comes back frobnicated, with its handle and its colour left as they were."""


def helper():
    """No body here."""
'''


def test_debian_descriptions_become_synopsis_to_text_pairs_grouped_by_source(tmp_path):
    (tmp_path / "x_i18n_Translation-en").write_text(TRANSLATION)
    (tmp_path / "x_Packages").write_text(PACKAGES)
    pairs = {p.query: p for p in debian_pairs([tmp_path / "x_i18n_Translation-en"], [tmp_path / "x_Packages"])}
    assert pairs["Real-time strategy game of ancient warfare (data files)"].group == "0ad"  # Source: 0ad (version)
    assert pairs["command-line tools for working with CSV"].passage.endswith(
        "Its tools: * csvcut: filter and truncate CSV files * csvgrep: search CSV files")
    assert long_description([" one", " .", " two"]) == "one two"


def test_debian_builder_drops_near_duplicates_and_short_texts_and_writes_both_splits(tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "deb_main_i18n_Translation-en.gz").write_bytes(gzip.compress(TRANSLATION.encode()))
    (lists / "deb_main_binary-amd64_Packages").write_text(PACKAGES)
    counts = write_debian_pairs(tmp_path / "debian.jsonl", lists, held_out=0.0, negatives=2)
    assert (counts.read, counts.kept, counts.held_out) == (5, 3, 0)  # 0ad-data repeats 0ad; tinyone is too short
    examples = load_examples(tmp_path / "debian.jsonl")
    assert len(examples) == 3 and all(e.in_batch_negatives and e.dataset == "debian-packages" for e in examples)
    for example in examples:
        assert example.positives[0] not in example.negatives and len(example.negatives) == 2
    assert held_out_path(tmp_path / "debian.jsonl").read_text() == ""


def test_missing_translation_lists_say_how_to_fetch_them(tmp_path):
    with pytest.raises(LensInputError, match="Acquire::Languages=en"):
        write_debian_pairs(tmp_path / "d.jsonl", tmp_path)


def test_roff_page_gives_name_line_and_description_without_markup():
    name, description = parse_manpage(PAGE)
    assert name == "open, openat, creat - open and possibly create a file"
    assert description.startswith("The open() system call opens the file specified by pathname. If the specified")
    assert "be created by open(). The return value of open() is a file descriptor - a small" in description
    assert "ignored" not in description and "\\" not in description and "On success" not in description
    assert parse_manpage(MDOC) == ("touch - change file access and modification times",
                                   "The utility sets the modification and access times of files to the current "
                                   "time of day. If the file does not exist, it is created with default permissions.")
    assert parse_manpage(".TH X 1\n.SH NAME\nx \\- y\n") is None  # no DESCRIPTION: no pair


def test_manpage_builder_reads_gzipped_pages_and_skips_redirects(tmp_path):
    man = tmp_path / "man"
    (man / "man2").mkdir(parents=True)
    (man / "man1").mkdir()
    (man / "man2" / "open.2.gz").write_bytes(gzip.compress(PAGE.encode()))
    (man / "man2" / "creat.2.gz").write_bytes(gzip.compress(b".so man2/open.2\n"))
    (man / "man1" / "touch.1").write_text(MDOC)
    counts = write_manpage_pairs(tmp_path / "man.jsonl.gz", man, held_out=0.0, negatives=1)
    assert (counts.read, counts.train) == (2, 2)
    examples = {e.query: e for e in load_examples(tmp_path / "man.jsonl.gz")}
    assert examples["touch - change file access and modification times"].negatives[0].startswith("The open()")


def test_docstrings_are_read_from_sources_without_importing_them(tmp_path):
    (tmp_path / "frob").mkdir()
    (tmp_path / "frob" / "__init__.py").write_text(MODULE)
    (tmp_path / "boom.py").write_text('"""Would exit.\n\nImporting this module stops the interpreter at once."""\n'
                                      "raise SystemExit(3)\n")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "t.py").write_text('"""Skipped.\n\nTests are not documentation, so none of it is read."""\n')
    pairs = {p.query: p for p in docstring_pairs(tmp_path)}
    assert set(pairs) == {"Tools for frobnicating widgets.", "Frobnicate widgets one at a time.", "Run once.",
                          "Would exit."}
    assert pairs["Run once."].passage.startswith("The widget comes back frobnicated")
    assert pairs["Frobnicate widgets one at a time."].group == "frob"
    assert split_docstring("Only a summary.") is None


def test_builders_are_deterministic_byte_for_byte(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "frob.py").write_text(MODULE)
    first = write_pydoc_pairs(tmp_path / "a.jsonl.gz", tmp_path / "src", held_out=0.0, negatives=1)
    write_pydoc_pairs(tmp_path / "b.jsonl.gz", tmp_path / "src", held_out=0.0, negatives=1)
    assert first.train == 3 and (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_held_out_split_keeps_groups_whole_and_is_stable():
    pairs = [Pair(f"query {i}", f"passage number {i} " * 3, f"group{i // 3}") for i in range(300)]
    train, held = split_held_out(pairs, fraction=0.2, seed=0)
    assert 20 < len(held) < 120 and len(train) + len(held) == 300
    assert not {p.group for p in train} & {p.group for p in held}
    assert split_held_out(pairs[:150], fraction=0.2, seed=0)[1] == [p for p in held if p in pairs[:150]]
    with pytest.raises(LensInputError, match="held_out"):
        split_held_out(pairs, fraction=1.0, seed=0)


def test_mined_negatives_are_never_the_gold_its_group_or_a_near_duplicate():
    pairs = [Pair("parse xml documents", "a library to parse xml documents and validate xml schemas quickly", "a"),
             Pair("parse xml documents (dev)", "a library to parse xml documents and validate xml schemas fast", "b"),
             Pair("xml tools", "command line tools to query and edit xml documents with xpath", "c"),
             Pair("xml docs", "documentation of the xml library: tutorials on how to parse xml files", "a"),
             Pair("json parser", "a fast json parser written in c with a small api for documents", "d")]
    mined = mine_negatives(pairs, negatives=3)
    assert 1 not in mined[0] and 3 not in mined[0] and 0 not in mined[0]  # near duplicate, same group, itself
    assert mined[0][0] == 2  # the best BM25 match that is a real negative comes first
    assert all(row not in negs for row, negs in enumerate(mined))


def test_cutting_and_dedup_rules():
    text = " ".join(f"w{i}" for i in range(80)) + ". " + " ".join(f"v{i}" for i in range(60))
    assert cut_words(text, 96).endswith("w79.") and len(cut_words("a b  c", 96)) == 5  # cut at a late sentence end
    early = " ".join(f"w{i}" for i in range(20)) + ". " + " ".join(f"v{i}" for i in range(90))
    assert cut_words(early, 96).endswith("v75")  # a sentence end too early: cut at the word limit
    pairs = [Pair("q", "one two three four five six seven eight nine", "g"),
             Pair("q2", "one two three four five six seven eight nine", "h"),  # same text, other group
             Pair("q3", "too short", "i")]
    assert [p.query for p in dedupe(pairs)] == ["q"]


def test_write_pairs_refuses_empty_input_and_writes_nothing(tmp_path):
    with pytest.raises(LensInputError, match="No usable"):
        write_pairs([Pair("q", "short", "g")], tmp_path / "x.jsonl", dataset="x")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(LensInputError, match=".jsonl"):
        held_out_path(tmp_path / "x.txt")


def test_cli_writes_pairs(tmp_path, capsys):
    from lens_vdb.cli import main

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "frob.py").write_text(textwrap.dedent(MODULE))
    assert main(["pydoc-pairs", "--out", str(tmp_path / "py.jsonl"), "--source-dir", str(tmp_path / "src"),
                 "--held-out", "0", "--negatives", "1"]) == 0
    assert "wrote 3 training examples" in capsys.readouterr().out
    assert len([json.loads(line) for line in (tmp_path / "py.jsonl").read_text().splitlines()]) == 3


def test_mix_takes_seeded_shares_and_refuses_a_missing_dataset(tmp_path):
    from lens_vdb.train._mix import write_mix

    def source(name: str, datasets: list[str], n: int) -> Path:
        rows = [{"query": f"{d} q{i}", "pos": f"{d} p{i}", "task": "retrieval", "dataset": d}
                for d in datasets for i in range(n)]
        (tmp_path / name).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        return tmp_path / name

    a, b = source("a.jsonl", ["alpha"], 50), source("b.jsonl", ["beta", "gamma"], 40)
    counts = write_mix({a: 10, b: None}, tmp_path / "mix.jsonl.gz", datasets={"gamma": 5})
    assert counts == {"alpha": 10, "beta": 40, "gamma": 5}
    examples = load_examples(tmp_path / "mix.jsonl.gz")
    assert len(examples) == 55 and {e.dataset for e in examples} == {"alpha", "beta", "gamma"}
    write_mix({a: 10, b: None}, tmp_path / "again.jsonl.gz", datasets={"gamma": 5})
    assert (tmp_path / "mix.jsonl.gz").read_bytes() == (tmp_path / "again.jsonl.gz").read_bytes()
    with pytest.raises(LensInputError, match="delta"):
        write_mix({a: None}, tmp_path / "bad.jsonl", datasets={"delta": 1})
    assert not (tmp_path / "bad.jsonl").exists()


def test_shipped_default_versions_are_named_and_an_unknown_one_is_refused():
    from lens_vdb._model.default import (
        DEFAULT_ASSETS,
        DEFAULT_VERSION,
        DEFAULT_VERSIONS,
        default_assets,
        default_model_dir,
    )

    assert default_assets("wordnet-v1") == DEFAULT_VERSIONS["wordnet-v1"]
    assert (default_assets("wordnet-v1") / "adapter_model.safetensors").is_file()
    assert DEFAULT_ASSETS == default_assets(DEFAULT_VERSION)
    with pytest.raises(LensInputError, match="'wordnet-v1'"):
        default_model_dir(version="wordnet-v0")


def test_the_builders_are_public_in_lens_vdb_train():
    import lens_vdb.train as train_package

    for name in ("write_debian_pairs", "write_manpage_pairs", "write_pydoc_pairs", "write_mix", "write_pairs", "Pair",
                 "HiddenCache", "CachedLensSystem", "apply_trained"):
        assert name in train_package.__all__ and callable(getattr(train_package, name))
