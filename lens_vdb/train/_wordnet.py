"""Training pairs from WordNet glosses (Debian ``wordnet-base``): real text that is not the evaluation set.

Four datasets, each written as JSONL examples with 7 hard negatives:

- ``wordnet-word2def``: a word (its most frequent sense) -> that sense's definition; negatives are
  definitions from the same lexicographer file (``noun.animal``, ``verb.motion``...).
- ``wordnet-def2word``: a definition -> the words of its synset; negatives from the same file.
- ``wordnet-example2entry``: an example sentence -> ``"word: definition"`` of the sense it uses;
  negatives are the word's other senses first, then the same file (the generic retrieval task).
- ``wordnet-lexfile`` (classification, no in-batch negatives): a definition -> another definition
  of the same lexicographer file; negatives from 7 other files.

The output depends only on the WordNet files and ``seed``.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._errors import LensDependencyError

__all__ = ["Synset", "read_wordnet", "wordnet_examples", "write_wordnet_pairs", "WORDNET_DIR"]

WORDNET_DIR = Path("/usr/share/wordnet")
_POS = ("noun", "verb", "adj", "adv")
_QUOTED = re.compile(r'"([^"]{8,})"')
WORD2DEF = "Given a word, retrieve its dictionary definition."
DEF2WORD = "Given a dictionary definition, retrieve the word it defines."
LEXFILE = "Classify the semantic category of the given dictionary definition."


@dataclass(frozen=True)
class Synset:
    """One WordNet synset: its key, lexicographer file number, words, definition and examples."""

    key: str
    lexfile: int
    words: tuple[str, ...]
    definition: str
    examples: tuple[str, ...]


def read_wordnet(directory: str | Path = WORDNET_DIR) -> tuple[dict[str, Synset], dict[str, list[str]]]:
    """Synsets by key (``"n00217014"``), and each word's synset keys, most frequent sense first."""
    directory = Path(directory)
    if not (directory / "data.noun").is_file():
        raise LensDependencyError(f"No WordNet database in {directory}: install it with "
                                  "`apt-get install wordnet-base` (Debian/Ubuntu) or pass its directory.")
    synsets: dict[str, Synset] = {}
    senses: dict[str, list[str]] = {}
    for pos in _POS:
        for line in _records(directory / f"data.{pos}"):
            synset = _parse_data_line(line, pos[0])
            synsets[synset.key] = synset
        for line in _records(directory / f"index.{pos}"):
            fields = line.split()
            word, count = fields[0].replace("_", " "), int(fields[2])
            offsets = fields[-count:] if count else []
            senses.setdefault(word, []).extend(f"{pos[0]}{o}" for o in offsets if f"{pos[0]}{o}" in synsets)
    return synsets, senses


def _records(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.startswith("  "):  # the licence header lines start with two spaces
                yield line.rstrip("\n")


def _parse_data_line(line: str, pos: str) -> Synset:
    head, _, gloss = line.partition(" | ")
    fields = head.split()
    offset, lexfile, count = fields[0], int(fields[1]), int(fields[3], 16)
    words = tuple(dict.fromkeys(re.sub(r"\(.*\)$", "", w).replace("_", " ") for w in fields[4 : 4 + 2 * count : 2]))
    definition = gloss.split('; "')[0].strip().rstrip(";").strip()
    examples = tuple(m.strip() for m in _QUOTED.findall(gloss))
    return Synset(f"{pos}{offset}", lexfile, words, definition, examples)


def wordnet_examples(directory: str | Path = WORDNET_DIR, *, seed: int = 0, negatives: int = 7,
                     limits: dict[str, int] | None = None) -> Iterator[dict]:
    """JSON-ready training records; ``limits`` caps each dataset (a seeded sample)."""
    synsets, senses = read_wordnet(directory)
    rng = random.Random(seed)
    by_lexfile: dict[int, list[Synset]] = {}
    for synset in synsets.values():
        if synset.definition:
            by_lexfile.setdefault(synset.lexfile, []).append(synset)

    def others(synset: Synset, exclude: set[str]) -> list[Synset]:
        pool = by_lexfile[synset.lexfile]
        picked: dict[str, Synset] = {}
        for _ in range(negatives * 4):
            if len(picked) == negatives:
                break
            candidate = rng.choice(pool)
            if candidate.key not in exclude and candidate.definition != synset.definition:
                picked[candidate.key] = candidate
        return list(picked.values())

    datasets: dict[str, list[dict]] = {name: [] for name in
                                       ("wordnet-word2def", "wordnet-def2word", "wordnet-example2entry",
                                        "wordnet-lexfile")}
    for word in sorted(senses):
        keys = senses[word]
        if keys and synsets[keys[0]].definition and len(word) > 1:
            first = synsets[keys[0]]
            negs = others(first, set(keys))
            datasets["wordnet-word2def"].append({"query": word, "pos": first.definition,
                                                 "neg": [s.definition for s in negs], "instruction": WORD2DEF})
    for synset in synsets.values():
        if not synset.definition:
            continue
        own = {synset.key}
        datasets["wordnet-def2word"].append({"query": synset.definition, "pos": ", ".join(synset.words),
                                             "neg": [", ".join(s.words) for s in others(synset, own)],
                                             "instruction": DEF2WORD})
        for example in synset.examples[:2]:
            word = next((w for w in synset.words if w.lower() in example.lower()), synset.words[0])
            rivals = [synsets[k] for k in senses.get(word, []) if k != synset.key][:negatives]
            rivals += others(synset, own | {s.key for s in rivals})[: negatives - len(rivals)]
            datasets["wordnet-example2entry"].append(
                {"query": example, "pos": f"{word}: {synset.definition}",
                 "neg": [f"{word if s.key in senses.get(word, []) else s.words[0]}: {s.definition}" for s in rivals],
                 "task": "retrieval"})
        files = [f for f in by_lexfile if f != synset.lexfile]
        same = others(synset, own)
        if same:
            datasets["wordnet-lexfile"].append(
                {"query": synset.definition, "pos": same[0].definition,
                 "neg": [rng.choice(by_lexfile[f]).definition for f in rng.sample(files, min(negatives, len(files)))],
                 "instruction": LEXFILE, "symmetric": True, "kind": "classification"})
    for name, records in datasets.items():
        rng.shuffle(records)
        cap = (limits or {}).get(name)
        for record in records[:cap]:
            yield {**record, "dataset": name}


def write_wordnet_pairs(path: str | Path, directory: str | Path = WORDNET_DIR, *, seed: int = 0,
                        limits: dict[str, int] | None = None) -> int:
    """Write the WordNet training JSONL (gzip if the name ends in ``.gz``); return the number of examples."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    count = 0
    with opener(path, "wt", encoding="utf-8") as handle:
        for record in wordnet_examples(directory, seed=seed, limits=limits):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
