"""WordNet gloss pairs: the database format is parsed and every example is valid training data."""

from __future__ import annotations

from pathlib import Path

import pytest

from lens_vdb import LensDependencyError
from lens_vdb.train import load_examples, write_wordnet_pairs
from lens_vdb.train._wordnet import WORDNET_DIR, read_wordnet

# Real records of the WordNet 3.0 database (wordnet-base), trimmed to a few synsets per file.
DATA = {
    "noun": [
        "00217014 04 n 02 destruction 0 devastation 0 000 | the termination of something by causing so much damage "
        "to it that it cannot be repaired or no longer exists  ",
        "00217499 04 n 01 disaster 0 000 | an act that has disastrous consequences  ",
        '00217593 04 n 01 kill 1 000 | the destruction of an enemy plane or ship or tank or missile; "the pilot '
        'reported two kills during the mission"  ',
        "00217773 04 n 05 laying_waste 0 ruin 0 ruining 0 ruination 0 wrecking 0 000 | destruction achieved by "
        "causing something to be wrecked or ruined  ",
        "08641944 15 n 01 'hood 0 000 | (slang) a neighborhood  ",
        "08642000 15 n 01 bank 0 000 | sloping land (especially the slope beside a body of water)  ",
    ],
    "verb": [
        '00100905 29 v 01 warm_up 1 000 01 + 09 00 | cause to do preliminary exercises so as to stretch the '
        'muscles; "The coach warmed up the players before the game"  ',
        '00101137 29 v 01 limber 0 000 01 + 08 00 | cause to become limber; "The violist limbered her wrists '
        'before the concert"  ',
        "00217000 29 v 01 kill 0 000 | cause to die; put to death  ",
    ],
    "adj": [
        '00095280 00 a 01 dead 1 000 | no longer having or seeming to have or expecting to have life; "the nerve '
        'is dead"; "a dead pallor"  ',
        '00095873 00 s 06 asleep(p) 0 at_peace(p) 2 at_rest(p) 0 deceased 0 departed 0 gone 0 000 | dead; "he is '
        'deceased"; "our dear departed friend"  ',
    ],
    "adv": ["00001740 02 r 01 barely 0 000 | only just  "],
}
INDEX = {
    "noun": ["'hood n 1 0 1 0 08641944  ", "bank n 1 0 1 0 08642000  ", "destruction n 1 0 1 0 00217014  ",
             "kill n 1 0 1 0 00217593  "],
    "verb": ["kill v 1 0 1 0 00217000  ", "limber v 1 0 1 0 00101137  "],
    "adj": ["dead a 1 0 1 0 00095280  "],
    "adv": ["barely r 1 0 1 0 00001740  "],
}
LICENCE = "  1 This software and database is being provided to you, the LICENSEE, by  \n"


@pytest.fixture()
def wordnet_dir(tmp_path) -> Path:
    for pos in DATA:
        (tmp_path / f"data.{pos}").write_text(LICENCE + "\n".join(DATA[pos]) + "\n")
        (tmp_path / f"index.{pos}").write_text(LICENCE + "\n".join(INDEX[pos]) + "\n")
    return tmp_path


def test_synsets_words_definitions_and_examples_are_parsed(wordnet_dir):
    synsets, senses = read_wordnet(wordnet_dir)
    ruin = synsets["n00217773"]
    assert ruin.words == ("laying waste", "ruin", "ruining", "ruination", "wrecking") and ruin.lexfile == 4
    assert synsets["a00095873"].words[:3] == ("asleep", "at peace", "at rest")  # (p) markers dropped
    assert synsets["n00217593"].definition == "the destruction of an enemy plane or ship or tank or missile"
    assert synsets["n00217593"].examples == ("the pilot reported two kills during the mission",)
    assert senses["kill"] == ["n00217593", "v00217000"]


def test_pairs_are_valid_training_examples_with_hard_negatives(wordnet_dir, tmp_path):
    out = tmp_path / "pairs.jsonl.gz"
    count = write_wordnet_pairs(out, wordnet_dir, seed=0)
    examples = load_examples(out)
    assert len(examples) == count > 0
    datasets = {e.dataset for e in examples}
    assert {"wordnet-word2def", "wordnet-def2word", "wordnet-example2entry", "wordnet-lexfile"} <= datasets
    kill = next(e for e in examples if e.dataset == "wordnet-example2entry" and "kills" in e.query)
    assert kill.positives == ("kill: the destruction of an enemy plane or ship or tank or missile",)
    assert "kill: cause to die; put to death" in kill.negatives  # the word's other sense comes first
    lexfile = [e for e in examples if e.dataset == "wordnet-lexfile"]
    assert lexfile and all(not e.in_batch_negatives and e.symmetric for e in lexfile)
    assert write_wordnet_pairs(tmp_path / "again.jsonl.gz", wordnet_dir, seed=0) == count
    assert [e.query for e in load_examples(tmp_path / "again.jsonl.gz")] == [e.query for e in examples]


def test_missing_database_says_what_to_install(tmp_path):
    with pytest.raises(LensDependencyError, match="apt-get install wordnet-base"):
        read_wordnet(tmp_path)


@pytest.mark.skipif(not (WORDNET_DIR / "data.noun").is_file(), reason="wordnet-base is not installed here")
def test_the_real_database_gives_over_a_hundred_thousand_synsets():
    synsets, senses = read_wordnet()
    assert len(synsets) > 110_000 and len(senses["bank"]) >= 10
