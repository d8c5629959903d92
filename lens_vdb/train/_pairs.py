"""What every retrieval pair builder shares: cut, de-duplicate, split, mine hard negatives, write.

A builder (Debian packages, man pages, Python docstrings) yields :class:`Pair` objects: a short
query, the passage it names, and a ``group`` (the source package, the page, the module) that
keeps near-identical passages on one side of the held-out split. :func:`write_pairs` does the
rest, deterministically (the same pairs and seed give the same files, byte for byte):

1. passages are cut to ``max_words`` words (a 128-token window holds about 90 words of prose);
2. exact and near duplicates are dropped: the key of a passage is its first 40 words once the
   query's own words are taken out, so ``libfoo1`` / ``libfoo-dev`` (one long description, two
   synopses) and templated text (``"This package contains the source for the Rust X crate"``)
   count once;
3. each group goes to the held-out split when a seeded hash of its name says so;
4. hard negatives are mined with BM25 (``bm25s``) over the training passages: the best-ranked
   passages that are not the gold one, not of its group, and not near duplicates of it (word-set
   Jaccard >= 0.5): the false negatives that would teach the model to push a right answer away;
5. the training and held-out JSONL (``.gz`` when the name says so) are written to temporary files
   and renamed into place, so a failed build leaves no half-written file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import random
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .._deps import require
from .._errors import LensInputError

__all__ = ["Pair", "PairCounts", "cut_words", "dedupe", "split_held_out", "mine_negatives", "write_pairs",
           "held_out_path"]

_WORD = re.compile(r"\w+")
_KEY_WORDS = 40
NEAR_DUPLICATE = 0.5


@dataclass(frozen=True)
class Pair:
    """A query, the passage it should retrieve, and the group that keeps its near duplicates together."""

    query: str
    passage: str
    group: str


@dataclass(frozen=True)
class PairCounts:
    """What :func:`write_pairs` wrote: pairs read, kept after de-duplication, train and held-out examples."""

    read: int
    kept: int
    train: int
    held_out: int
    train_path: Path
    held_out_path: Path


def cut_words(text: str, max_words: int) -> str:
    """``text`` with its whitespace collapsed, cut to ``max_words`` words (at a sentence end when one is near)."""
    words = text.split()
    if len(words) <= max_words:
        return " ".join(words)
    head = " ".join(words[:max_words])
    end = max(head.rfind(". "), head.rfind("; "))
    return head[: end + 1] if end > len(head) * 0.6 else head


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def passage_key(pair: Pair) -> str:
    """The near-duplicate key: the passage's first words, the query's own words taken out."""
    query_words = set(_words(pair.query))
    return " ".join([w for w in _words(pair.passage) if w not in query_words][:_KEY_WORDS])


def dedupe(pairs: Iterable[Pair], *, min_words: int = 8, max_words: int = 96) -> list[Pair]:
    """Cut passages, drop short ones and (near) duplicates; keep the first of each, in a sorted order.

    Near duplicates are pairs with the same :func:`passage_key` anywhere, or, within a group,
    passages whose word sets overlap by ``NEAR_DUPLICATE`` (Jaccard) or more.
    """
    kept: dict[str, Pair] = {}
    in_group: dict[str, list[set[str]]] = {}
    for pair in sorted(pairs, key=lambda p: (p.group, p.query, p.passage)):
        query, passage = " ".join(pair.query.split()), cut_words(pair.passage, max_words)
        if not query or len(passage.split()) < min_words or query.lower() == passage.lower():
            continue
        pair = Pair(query, passage, pair.group)
        key, words = passage_key(pair), set(_words(passage))
        siblings = in_group.setdefault(pair.group, [])
        if key in kept or any(_jaccard(words, other) >= NEAR_DUPLICATE for other in siblings):
            continue
        kept[key] = pair
        siblings.append(words)
    return list(kept.values())


def split_held_out(pairs: list[Pair], *, fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Train and held-out pairs; a group's side is a seeded hash of its name (stable as the data grows)."""
    if not 0 <= fraction < 1:
        raise LensInputError(f"held_out fraction must be in [0, 1), got {fraction}.")

    def held(group: str) -> bool:
        digest = hashlib.sha1(f"{seed}:{group}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < fraction

    train: list[Pair] = []
    held_out: list[Pair] = []
    for pair in pairs:
        (held_out if held(pair.group) else train).append(pair)
    return train, held_out


def mine_negatives(pairs: list[Pair], *, negatives: int, depth: int = 30) -> list[list[int]]:
    """For each pair, the indexes of up to ``negatives`` BM25-ranked passages that are not right answers."""
    if negatives == 0 or len(pairs) < 2:
        return [[] for _ in pairs]
    bm25s = require("bm25s", "train")
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG/INFO
    corpus = bm25s.tokenize([p.passage for p in pairs], stopwords="en", show_progress=False)
    index = bm25s.BM25()
    index.index(corpus, show_progress=False)
    queries = bm25s.tokenize([p.query for p in pairs], stopwords="en", show_progress=False)
    k = min(depth + 1, len(pairs))
    ranked, _ = index.retrieve(queries, k=k, show_progress=False, n_threads=1)
    word_sets = [set(_words(p.passage)) for p in pairs]
    mined: list[list[int]] = []
    for row, candidates in enumerate(ranked.tolist()):
        chosen: list[int] = []
        for column in candidates:
            if column == row or pairs[column].group == pairs[row].group:
                continue
            if _jaccard(word_sets[row], word_sets[column]) >= NEAR_DUPLICATE:
                continue
            if pairs[column].passage not in (pairs[row].passage, *(pairs[c].passage for c in chosen)):
                chosen.append(column)
            if len(chosen) == negatives:
                break
        mined.append(chosen)
    return mined


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def held_out_path(path: str | Path) -> Path:
    """``pairs.jsonl.gz`` -> ``pairs.heldout.jsonl.gz`` (the held-out split beside the training file)."""
    path = Path(path)
    name = path.name
    for suffix in (".jsonl.gz", ".jsonl"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".heldout" + suffix)
    raise LensInputError(f"Training data must be written as .jsonl or .jsonl.gz, got {path}.")


def write_pairs(pairs: Iterable[Pair], path: str | Path, *, dataset: str, seed: int = 0, held_out: float = 0.02,
                negatives: int = 3, limit: int | None = None, task: str = "retrieval",
                max_words: int = 96) -> PairCounts:
    """De-duplicate, split, mine negatives and write ``path`` and its held-out sibling (see the module doc).

    ``limit`` caps the training examples (a seeded sample, after the split); held-out examples get
    their negatives mined among the held-out passages, so the two files never share a passage.
    """
    path = Path(path)
    held_path = held_out_path(path)
    read = list(pairs)
    kept = dedupe(read, max_words=max_words)
    if not kept:
        raise LensInputError(f"No usable {dataset} pairs (read {len(read)}): check the source it was built from.")
    train, held = split_held_out(kept, fraction=held_out, seed=seed)
    rng = random.Random(f"{dataset}:{seed}")
    rng.shuffle(train)
    train = train[:limit] if limit is not None else train
    files = []
    for split, target in ((train, path), (held, held_path)):
        mined = mine_negatives(split, negatives=negatives)
        records = [{"query": p.query, "pos": p.passage, "neg": [split[i].passage for i in negs], "task": task,
                    "dataset": dataset} for p, negs in zip(split, mined)]
        files.append(_write_jsonl(target, records))
    for staged, target in zip(files, (path, held_path)):
        os.replace(staged, target)
    return PairCounts(len(read), len(kept), len(train), len(held), path, held_path)


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    """Write to a temporary file beside ``path`` and return it (the caller renames it into place).

    gzip gets mtime 0 and no file name in its header, so the same records give the same bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staged = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staged, 0o666 & ~umask)  # mkstemp's 0600 would make the data private to this user
    try:
        with open(handle, "wb") as raw:
            sink = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if path.suffix == ".gz" else raw
            with io.TextIOWrapper(sink, encoding="utf-8", newline="\n") as out:
                for record in records:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
    return Path(staged)
