"""`lens-vdb ingest` and `lens-vdb search` on the embedded engines: store and encoder options, and store errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lens_vdb.cli import main

ROWS = [{"id": "a", "text": "The central bank raised interest rates.", "topic": "business"},
        {"id": "b", "text": "The striker scored twice in the derby.", "topic": "sport"},
        {"id": "c", "text": "The new phone has a faster chip.", "topic": "tech"}]


def _docs(tmp_path):
    data = tmp_path / "docs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS))
    return data


@pytest.mark.parametrize("store, location", [("qdrant", "db"), ("milvus", "m.db")])
def test_ingest_then_search_with_filter_and_explanations(tmp_path, capsys, built_dirs, store, location):
    data = _docs(tmp_path)
    common = ["--store", store, "--location", str(tmp_path / location), "--model", str(built_dirs["llama"]),
              "--sparse-top", "8"]
    assert main(["ingest", str(data), *common]) == 0
    assert "ingested 3, skipped 0" in capsys.readouterr().out
    assert main(["ingest", str(data), *common]) == 0
    assert "ingested 0, skipped 3" in capsys.readouterr().out
    assert main(["search", "interest rates", "--explain", "--filter", "topic=sport", *common]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [h["id"] for h in hits] == ["b"] and hits[0]["metadata"] == {"topic": "sport"}
    assert hits[0]["shared_clusters"] and set(hits[0]["scores"]) == {"lens", "dense"}


def test_the_old_store_spelling_still_works_with_a_warning(tmp_path, capsys, built_dirs):
    common = ["--location", str(tmp_path / "m.db"), "--model", str(built_dirs["llama"])]
    assert main(["ingest", str(_docs(tmp_path)), "--backend", "milvus", *common]) == 0
    out = capsys.readouterr()
    assert "ingested 3" in out.out and "use --store milvus" in out.err and "0.3.0" in out.err
    assert main(["search", "rates", "--backend", "milvus", "--store", "qdrant", *common]) == 2
    assert "contradicts --store qdrant" in capsys.readouterr().err


def test_encoder_backend_and_threads_reach_the_encoder(tmp_path, capsys, built_dirs):
    model = str(built_dirs["llama"])
    # the ONNX backend really is asked for: it refuses a torch model folder, on one line
    assert main(["search", "rates", "--backend", "onnx", "--model", model, "--location", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lens-vdb search: error: ") and "has no model.onnx" in err and len(err.splitlines()) == 1
    script = ("import sys, torch; from lens_vdb.cli import main; "
              f"code = main(['ingest', {str(_docs(tmp_path))!r}, '--threads', '1', '--model', {model!r}, "
              f"'--location', {str(tmp_path / 'q')!r}]); print(code, torch.get_num_threads())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.split()[-2:] == ["0", "1"], done.stderr  # torch's threads are per process: hence a process


def test_an_embedded_store_held_by_another_process_is_one_line(tmp_path, built_dirs, minilm):
    from lens_vdb.connectors import QdrantConnector

    location, model = tmp_path / "held", str(built_dirs["llama"])
    with QdrantConnector(location, "lens", encoder=model, dense=minilm):  # held open here, searched from another
        done = subprocess.run([sys.executable, "-m", "lens_vdb.cli", "search", "rates", "--location", str(location),
                               "--model", model], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]  # earlier lines: warnings of the libraries while the models load
    assert last.startswith("lens-vdb search: error: The embedded Qdrant collection at ") and \
        "open in another process" in last
