"""ONNX export through Optimum: validation, manifest, lossy modes, external data, atomic writes, CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from lens_vdb import LensEncoder, LensError, LensModelError
from lens_vdb.cli import main
from lens_vdb.export import Manifest, export_onnx
from tests.graphs import export_problem
from tests.tiny import tiny_lens_dir

_NO_EXPORT = export_problem()
pytestmark = pytest.mark.skipif(_NO_EXPORT is not None, reason=f"no export toolchain here: {str(_NO_EXPORT).split('. ')[0]}")

DOCS = ["The Bank of England raised interest rates.", "fox",
        " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 5)]
QUERIES = ["bank rates", "who won the cup final at Wembley?"]
# The tiny model is random: int8 noise reorders its near-random BBC ranking by a few percent, so
# the int8 retrieval check (tested on its own below, and on the trained default model) is off here.
NO_RETRIEVAL_CHECK = {"retrieval_articles": 0}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_onnx(str(tiny_lens_dir()), tmp_path_factory.mktemp("onnx") / "fp32")


def _max_diff(graph, source):
    onnx_encoder, torch_encoder = LensEncoder(graph, backend="onnx"), LensEncoder(str(source))
    return max(np.abs(onnx_encoder.encode_documents(DOCS) - torch_encoder.encode_documents(DOCS)).max(),
               np.abs(onnx_encoder.encode_queries(QUERIES) - torch_encoder.encode_queries(QUERIES)).max())


def test_manifest_records_the_export(exported):
    from lens_vdb import LensModel
    from lens_vdb._machine import cpu_info
    from lens_vdb.export._base import model_hash

    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["format"] == "lens-vdb-onnx" and manifest["version"] == 1
    assert manifest["k"] == 32 and manifest["opset"] == 17 and manifest["dtype"] == "fp32"
    assert manifest["quantize"] is None and manifest["external_data"] is False
    assert manifest["max_abs_diff"] < 1e-4 and manifest["min_cosine"] > 0.9999 and manifest["validated_texts"] >= 8
    assert manifest["source_model_hash"] == model_hash(LensModel.from_pretrained(tiny_lens_dir()))
    assert {"torch", "transformers", "optimum-onnx"} <= set(manifest["versions"])
    assert {"onnxruntime", "onnxruntime-gpu"} & set(manifest["versions"])  # the CPU or the GPU build
    assert manifest["cpu"] == cpu_info().to_json()  # the CPU its figures were measured on, with its flags
    assert Manifest.load(exported).k == 32 and Manifest.load(exported).cpu["model"] == cpu_info().model
    assert sorted(p.name for p in exported.iterdir() if "token" not in p.name and p.suffix != ".jinja") == \
        ["cluster_map.safetensors", "lens_config.json", "manifest.json", "model.onnx"]


@pytest.mark.parametrize("family", ["mistral", "qwen2"])
def test_every_backbone_family_exports_within_1e4(tmp_path, built_dirs, family):
    graph = export_onnx(str(built_dirs[family]), tmp_path / family)
    assert _max_diff(graph, built_dirs[family]) < 1e-4


@pytest.mark.parametrize("options", [{"quantize": "int8"}, {"quantize": "int8-dynamic"}, {"dtype": "fp16"}])
def test_lossy_graphs_keep_cosine_above_099(tmp_path, exported, options):
    graph = export_onnx(str(tiny_lens_dir()), tmp_path / "lossy", **options, **NO_RETRIEVAL_CHECK)
    manifest = json.loads((graph / "manifest.json").read_text())
    assert manifest["min_cosine"] >= 0.99 and manifest.get("quantize") == options.get("quantize")
    assert manifest["retrieval"] is None  # skipped, and the manifest says so
    got = LensEncoder(graph, backend="onnx").encode_documents(DOCS)
    expected = LensEncoder(str(tiny_lens_dir())).encode_documents(DOCS)
    assert (got * expected).sum(1).min() >= 0.99
    assert 0 < np.abs(got - expected).max()  # really another graph, not the fp32 one renamed
    smaller = (graph / "model.onnx").stat().st_size < 0.7 * (exported / "model.onnx").stat().st_size
    assert smaller


def _float_matmul_weights(proto):
    from onnx import numpy_helper

    weights = {t.name: numpy_helper.to_array(t) for t in proto.initializer}
    return [weights[i] for n in proto.node if n.op_type == "MatMul" for i in n.input if i in weights]


@pytest.mark.parametrize("method, op", [("int8", "MatMulNBits"), ("int8-dynamic", "MatMulInteger")])
def test_int8_quantizes_the_backbone_and_keeps_the_head_in_fp32(tmp_path, method, op):
    import onnx

    from lens_vdb import LensModel

    graph = export_onnx(str(tiny_lens_dir()), tmp_path / "int8", quantize=method, **NO_RETRIEVAL_CHECK)
    proto = onnx.load(str(graph / "model.onnx")).graph
    quantized = [n.name for n in proto.node if n.op_type == op]
    projections = [n for n in quantized if n.split("/")[-2].endswith("_proj")]
    assert len(projections) == 14  # 2 layers x 7 projections
    if method == "int8":  # weights only: rotary frequencies and attention products stay float
        assert quantized == projections
    head = LensModel.from_pretrained(tiny_lens_dir()).head.weight.detach().numpy()
    # one float MatMul with a weight left: the centroid head, unchanged (the tiny k/v projections share its shape)
    (remaining,) = _float_matmul_weights(proto)
    assert np.array_equal(remaining.reshape(head.T.shape), head.T)
    if method == "int8":
        blockwise = [n for n in proto.node if n.op_type == "MatMulNBits"]
        assert all({a.name: a.i for a in n.attribute}["bits"] == 8 for n in blockwise)
        assert all({a.name: a.i for a in n.attribute}["accuracy_level"] == 4 for n in blockwise)
    else:
        assert json.loads((graph / "ort_config.json").read_text())["quantization"]["per_channel"] is True


@pytest.mark.parametrize("options", [{}, {"dtype": "fp16"}, {"quantize": "int8"}, {"quantize": "int8-dynamic"}])
def test_external_data_keeps_the_weights_beside_the_graph(tmp_path, options):
    """Graphs over 2 GB must keep their weights outside the protobuf; forced here on the tiny model."""
    graph = export_onnx(str(tiny_lens_dir()), tmp_path / "ext", external_data=True, **options, **NO_RETRIEVAL_CHECK)
    assert json.loads((graph / "manifest.json").read_text())["external_data"] is True
    import onnx
    from onnx.external_data_helper import uses_external_data

    tensors = onnx.load(str(graph / "model.onnx"), load_external_data=False).graph.initializer
    big = [t for t in tensors if uses_external_data(t) or len(t.raw_data) > 1024]
    assert big and all(uses_external_data(t) for t in big)  # no weight matrix left inside the protobuf
    assert (graph / "model.onnx_data").stat().st_size >= 64 * 64 * (1 if "quantize" in options else 2)
    assert not [p for p in graph.iterdir() if p.name.startswith(".") or "quantized" in p.name]
    moved = tmp_path / "moved"
    graph.rename(moved)  # the data file is found relative to the graph, wherever the folder goes
    got = LensEncoder(moved, backend="onnx").encode_documents(DOCS)
    expected = LensEncoder(str(tiny_lens_dir())).encode_documents(DOCS)
    assert (got * expected).sum(1).min() >= (0.9999 if not options else 0.99)


def test_a_graph_failing_validation_is_not_written(tmp_path, monkeypatch):
    import lens_vdb.export._validate as validate

    monkeypatch.setattr(validate, "FP32_MAX_ABS_DIFF", -1.0)  # inject a failing check
    with pytest.raises(LensModelError, match="not written"):
        export_onnx(str(tiny_lens_dir()), tmp_path / "bad")
    assert list(tmp_path.iterdir()) == []


def test_an_int8_graph_whose_ranking_falls_too_far_is_not_written(tmp_path, monkeypatch):
    """The tiny random model's int8 graph passes cosine; with a threshold no graph can meet (its MRR would
    have to double), the retrieval check must refuse it and leave nothing behind. (On this project's
    machines the tiny model's real drop, 2.8%, is refused at the real 1% too; int8 kernels differ by
    CPU, so the test does not lean on that figure.)"""
    import lens_vdb.export._retrieval as retrieval

    monkeypatch.setattr(retrieval, "MAX_MRR_DROP", -1.0)
    with pytest.raises(LensModelError, match=r"MRR@10 on 60 BBC News articles is .* the torch model's"):
        export_onnx(str(tiny_lens_dir()), tmp_path / "int8", quantize="int8", retrieval_articles=60)
    assert list(tmp_path.iterdir()) == []


def test_the_retrieval_check_reports_both_rankings(exported, capsys):
    from lens_vdb import LensModel
    from lens_vdb.export._retrieval import check_retrieval

    model = LensModel.from_pretrained(tiny_lens_dir())
    report = check_retrieval(model, exported, articles=40, show_progress=True)  # fp32 ranks exactly like torch
    assert "LENS encode" in capsys.readouterr().err  # progress bars while the two encoders run
    assert report.articles == 40 and report.corpus == "bbc-news" and report.max_length == 256
    assert 0 < report.reference_mrr_at_10 == pytest.approx(report.mrr_at_10, abs=1e-9)
    assert report.to_json()["relative_change"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="retrieval_articles must be an int >= 0"):
        export_onnx(model, exported.parent / "never", quantize="int8", retrieval_articles=-1)


def test_a_failed_export_leaves_an_earlier_export_in_place(tmp_path, exported, monkeypatch):
    import shutil

    import lens_vdb.export._validate as validate

    target = tmp_path / "kept"
    shutil.copytree(exported, target)
    before = sorted((p.name, p.stat().st_size) for p in target.iterdir())
    monkeypatch.setattr(validate, "LOSSY_MIN_COSINE", 1.5)  # no graph can pass
    with pytest.raises(LensModelError, match="not written"):
        export_onnx(str(tiny_lens_dir()), target, overwrite=True)
    assert sorted((p.name, p.stat().st_size) for p in target.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]


def test_export_refuses_bad_options_and_busy_folders(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(LensError, match="not empty"):
        export_onnx(str(tiny_lens_dir()), tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="dtype must be one of"):
        export_onnx(str(tiny_lens_dir()), tmp_path / "x", dtype="bf16")
    with pytest.raises(ValueError, match="quantize must be one of"):
        export_onnx(str(tiny_lens_dir()), tmp_path / "x", quantize="int4")
    for method in ("int8", "int8-dynamic"):
        with pytest.raises(ValueError, match="starts from the fp32 graph"):
            export_onnx(str(tiny_lens_dir()), tmp_path / "x", dtype="fp16", quantize=method)
    with pytest.raises(LensModelError):
        export_onnx(str(tmp_path / "busy"), tmp_path / "x")  # not a model
    assert sorted(os.listdir(tmp_path)) == ["busy"]


def test_overwrite_replaces_an_earlier_export_and_nothing_else(tmp_path, exported):
    import shutil

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(LensError, match="is not a lens-vdb export .* overwrite only replaces an earlier export"):
        export_onnx(str(tiny_lens_dir()), mine, overwrite=True)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    (tmp_path / "file").write_text("mine")
    with pytest.raises(LensError, match="is a file"):
        export_onnx(str(tiny_lens_dir()), tmp_path / "file", overwrite=True)
    model_dir = shutil.copytree(tiny_lens_dir(), tmp_path / "model")
    for target in (model_dir, tmp_path):  # the model's own folder, or one holding it
        with pytest.raises(LensError, match="holds the model being exported"):
            export_onnx(str(model_dir), target, overwrite=True)
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(p.name for p in tiny_lens_dir().iterdir())
    earlier = shutil.copytree(exported, tmp_path / "earlier")
    (earlier / "stale.txt").write_text("from the earlier export")
    assert export_onnx(str(tiny_lens_dir()), earlier, overwrite=True) == earlier.resolve()
    assert not (earlier / "stale.txt").exists() and (earlier / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier", "file", "mine", "model"]  # nothing left aside


def test_a_graph_that_ignores_the_bidirectional_mask_is_not_written(tmp_path, monkeypatch):
    """Torch and the graph share the mask path: break it in both (causal while the config says bidirectional),
    and cosine to torch still passes; the export's own probe of the graph must refuse it."""
    import lens_vdb._model.lens_model as model_module

    causal_always = model_module.attention_bias
    monkeypatch.setattr(model_module, "attention_bias", lambda mask, dtype, causal: causal_always(mask, dtype, causal=True))
    with pytest.raises(LensModelError, match="The exported graph is causal"):
        export_onnx(str(tiny_lens_dir()), tmp_path / "causal")
    assert list(tmp_path.iterdir()) == []


def test_export_gives_the_callers_model_back_as_it_came(tmp_path):
    import torch

    from lens_vdb import LensModel

    model = LensModel.from_pretrained(tiny_lens_dir()).to(torch.bfloat16).train()
    export_onnx(model, tmp_path / "from_bf16")
    assert model.head.weight.dtype == torch.bfloat16 and model.training
    assert json.loads((tmp_path / "from_bf16" / "manifest.json").read_text())["max_abs_diff"] < 1e-4


def test_cli_export(tmp_path, capsys):
    assert main(["export", "--model", str(tiny_lens_dir()), "--out", str(tmp_path / "cli"), "--quantize", "int8",
                 "--retrieval-articles", "0"]) == 0
    out = capsys.readouterr()
    manifest = json.loads(out.out)
    assert manifest["quantize"] == "int8" and manifest["retrieval"] is None
    steps = [line for line in out.err.splitlines() if line.startswith("export [")]  # progress, step by step
    assert [line.split("]")[0] for line in steps[1::2]] == [f"export [{i}/4" for i in range(1, 5)]
    assert steps[-1].startswith("export [4/4] validating the graph against torch: done in ")
    assert LensEncoder(tmp_path / "cli", backend="onnx").encode_documents(DOCS).shape == (3, 32)
    assert main(["export", "--model", str(tiny_lens_dir()), "--out", str(tmp_path / "cli")]) == 2  # taken
    err = capsys.readouterr().err
    assert err.startswith("lens-vdb export: error: ") and "--overwrite" in err and "Traceback" not in err


def test_langchain_embeddings_and_connectors_run_on_the_onnx_backend(tmp_path, exported, minilm):
    from lens_vdb.connectors import QdrantConnector
    from lens_vdb.integrations.langchain import LensEmbeddings

    onnx_embeddings = LensEmbeddings(str(exported), backend="onnx")
    torch_embeddings = LensEmbeddings(str(tiny_lens_dir()), backend="torch")
    assert np.abs(np.array(onnx_embeddings.embed_documents(DOCS)) - torch_embeddings.embed_documents(DOCS)).max() < 1e-4
    encoder = LensEncoder(exported, backend="onnx")
    with QdrantConnector(tmp_path, encoder=encoder, dense=minilm, task="sts") as store:
        store.ingest(DOCS, show_progress=False)
        assert store.search(DOCS[0], limit=1)[0].text == DOCS[0]


def test_quantizing_leaves_the_applications_logging_alone(tmp_path):
    """onnxruntime's MatMulNBits module calls logging.basicConfig(level=INFO) on import; lens-vdb undoes it."""
    import logging
    import subprocess
    import sys

    script = ("import logging; from lens_vdb.export import export_onnx; "
              f"export_onnx({str(tiny_lens_dir())!r}, {str(tmp_path / 'q')!r}, quantize='int8', retrieval_articles=0); "
              "root = logging.getLogger(); print(root.level, len(root.handlers))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [str(logging.WARNING), "0"]
    assert "[INFO]" not in done.stderr
