"""The lens-vdb command line builds and embeds."""

from __future__ import annotations

import json

from lens_vdb.cli import main
from tests.tiny import make_causal_lm


def test_build_then_embed_with_explanations(tmp_path, capsys):
    base = make_causal_lm(tmp_path / "base", "llama")
    assert main(["build", str(base), "-k", "12", "--out", str(tmp_path / "lens")]) == 0
    assert "built k=12" in capsys.readouterr().out
    assert main(["embed", "--model", str(tmp_path / "lens"), "--top", "3", "The Bank of England", "fox"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == ["The Bank of England", "fox"]
    assert all(len(line["top"]) == 3 and line["top"][0]["tokens"] for line in lines)
