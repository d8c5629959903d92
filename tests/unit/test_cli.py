"""The lens-vdb command line: build and embed, help and version, and user errors on one line before any model loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

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


def test_version_and_defaults_in_help(capsys):
    import lens_vdb

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"lens-vdb {lens_vdb.__version__}"
    for command, shown in (("ingest", ["(default: 32)", "(default: torch)", "(default: lens)"]),
                           ("search", ["(default: rrf)", "(default: 5)", "(default: what the collection was made with; 0 for a new one)"]),
                           ("build", ["(default: 4000)", "(default: bidirectional)"]),
                           ("export", ["(default: fp32)", "(default: 17)"]),
                           ("train", ["(default: 500)", "(default: 1)"])):  # options without a help text too
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert all(item in text for item in shown), (command, text)


def test_the_encoder_backend_choices_are_the_encoders():
    from lens_vdb._cli_common import ENCODER_BACKENDS
    from lens_vdb._inference.backends import BACKENDS

    assert ENCODER_BACKENDS == BACKENDS  # one list: a backend added to the encoder must be offered here too


def test_the_old_store_spelling_goes_when_its_version_comes():
    from packaging.version import Version

    import lens_vdb
    from lens_vdb._cli_store import STORE_SPELLING_REMOVED_IN

    assert Version(lens_vdb.__version__) < Version(STORE_SPELLING_REMOVED_IN), \
        "remove `--backend qdrant|milvus` (the old spelling of --store) from lens_vdb/_cli_store.py"


# run in a fresh interpreter: each user error must come back on one line, exit code 2, without torch ever imported
ERRORS_SCRIPT = """
import contextlib, io, json, sys
from lens_vdb.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    results.append([code, err.getvalue()])
print(json.dumps({"results": results, "torch": "torch" in sys.modules}))
"""


def test_user_errors_are_one_line_exit_2_before_any_model_loads(tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "The bank raised rates."}\n')
    a_file, a_folder = tmp_path / "notes.txt", tmp_path / "folder"
    a_file.write_text("not a store")
    a_folder.mkdir()
    cases = {
        "no such file or folder": ["ingest", str(tmp_path / "missing.jsonl")],
        "expected a .jsonl, .jsonl.gz or .csv file": ["ingest", str(a_file)],
        "argument --batch-size: must be positive, got 0": ["ingest", str(docs), "--batch-size", "0"],
        "expected FIELD=VALUE (e.g. topic=sport), got 'topic'": ["search", "rates", "--filter", "topic"],
        "argument --limit: must be positive, got -1": ["search", "rates", "--limit", "-1"],
        "unknown task 'nope'; known tasks: ": ["embed", "--task", "nope", "text"],
        "argument -k: must be positive, got 0": ["build", "smollm2", "-k", "0", "--out", str(tmp_path / "m")],
        "argument --threads: must be positive, got 0": ["search", "rates", "--threads", "0"],
        "embedded Qdrant keeps a folder": ["ingest", str(docs), "--location", str(a_file)],
        "is a file; a model is a directory": ["embed", "--model", str(a_file), "text"],
        "no model directory ./no/such/model": ["search", "rates", "--model", "./no/such/model"],
        "invalid choice: 'tensorflow'": ["embed", "--backend", "tensorflow", "text"],
        "--out ": ["build", "smollm2", "--out", str(a_file)],
        "--gguf-file model.gguf is not in": ["build", str(a_folder), "--gguf-file", "model.gguf", "--out", "x"],
    }
    done = subprocess.run([sys.executable, "-c", ERRORS_SCRIPT, json.dumps(list(cases.values()))],
                          capture_output=True, text=True, check=True, cwd=tmp_path)
    report = json.loads(done.stdout)
    for (expected, argv), (code, err) in zip(cases.items(), report["results"]):
        assert code == 2, (argv, code, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (argv, err)
        assert err.startswith(f"lens-vdb {argv[0]}: error: ") and expected in err, (argv, err)
    assert report["torch"] is False  # every case was refused before a model (or torch) loaded


def test_ingest_takes_the_files_the_documents_reader_reads(tmp_path):
    import argparse

    from lens_vdb._cli_common import existing_source

    for name in ("docs.jsonl", "docs.jsonl.gz", "docs.csv", "part-0.parquet"):
        (tmp_path / name).write_bytes(b"")
        assert existing_source(str(tmp_path / name)) == str(tmp_path / name)
    (tmp_path / "docs.csv.gz").write_bytes(b"")
    with pytest.raises(argparse.ArgumentTypeError, match=r"docs.csv.gz: expected a .jsonl, .jsonl.gz or .csv"):
        existing_source(str(tmp_path / "docs.csv.gz"))


def test_errors_found_once_the_model_loads_are_one_line_too(tmp_path, capsys):
    # raised by the encoder, not by the argument checks: before every error became a LensError these printed tracebacks
    base = make_causal_lm(tmp_path / "base", "llama")
    assert main(["build", str(base), "-k", "12", "--out", str(tmp_path / "lens")]) == 0
    capsys.readouterr()
    for argv, expected in ((["--dtype", "fp16", "--backend", "torch", "--device", "cpu"], "fp16 is for CUDA"),
                           (["--device", "cuda:0", "--backend", "torch"], "torch sees no CUDA device")):
        assert main(["embed", "--model", str(tmp_path / "lens"), *argv, "text"]) == 2
        # one line of lens-vdb's own, no traceback (transformers 5 may draw its weight-loading bar there first)
        err = capsys.readouterr().err
        ours = [line for line in err.splitlines() if line.startswith("lens-vdb")]
        assert len(ours) == 1 and ours[0].startswith("lens-vdb embed: error: ") and expected in ours[0], err
        assert "Traceback" not in err, err
