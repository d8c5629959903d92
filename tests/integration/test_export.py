"""ONNX export through Optimum and the ONNX Runtime backend: parity, bidirectionality, lossy modes, bad graphs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from lens_vdb import LensEncoder, LensError, LensModel, LensModelError
from lens_vdb.cli import main
from lens_vdb.export import export_onnx
from tests.tiny import tiny_lens_dir

QUERIES = ["bank rates", "who scored twice in the derby at the weekend, and who missed the penalty?"]
DOCS = ["The Bank of England raised interest rates.", "fox",
        " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 5)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_onnx(str(tiny_lens_dir()), tmp_path_factory.mktemp("onnx") / "fp32")


def test_fp32_graph_matches_torch_for_any_batch_and_length(exported):
    torch_encoder = LensEncoder(str(tiny_lens_dir()))
    onnx_encoder = LensEncoder(exported, backend="onnx")
    for batch_size in (1, 5):
        onnx_encoder.batch_size = torch_encoder.batch_size = batch_size
        assert np.abs(onnx_encoder.encode_queries(QUERIES) - torch_encoder.encode_queries(QUERIES)).max() < 1e-4
        assert np.abs(onnx_encoder.encode_documents(DOCS) - torch_encoder.encode_documents(DOCS)).max() < 1e-4
    assert onnx_encoder.encode_documents([]).shape == (0, 32)
    assert [e.tokens for e in onnx_encoder.explain(onnx_encoder.encode_documents(DOCS[:1])[0])] == \
        [e.tokens for e in torch_encoder.explain(torch_encoder.encode_documents(DOCS[:1])[0])]


def test_manifest_records_the_export(exported):
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["k"] == 32 and manifest["opset"] == 17 and manifest["dtype"] == "fp32"
    assert manifest["max_abs_diff"] < 1e-4 and manifest["min_cosine"] > 0.9999 and manifest["validated_texts"] >= 7
    assert len(manifest["source_model_hash"]) == 64 and manifest["external_data"] is False


def test_the_exported_graph_is_bidirectional(tmp_path, exported):
    causal = LensModel.from_pretrained(tiny_lens_dir())
    causal.config = causal.config.replace(attention="causal")
    causal_graph = export_onnx(causal, tmp_path / "causal")
    bi = LensEncoder(exported, backend="onnx").encode_documents(DOCS)
    uni = LensEncoder(causal_graph, backend="onnx").encode_documents(DOCS)
    assert np.abs(LensEncoder(causal).encode_documents(DOCS) - uni).max() < 1e-4
    assert np.abs(bi - uni).max() > 1e-3  # the default graph is not the causal one


@pytest.mark.parametrize("options", [{"quantize": "int8"}, {"dtype": "fp16"}])
def test_lossy_graphs_keep_cosine_above_099(tmp_path, options):
    graph = export_onnx(str(tiny_lens_dir()), tmp_path / "lossy", **options)
    manifest = json.loads((graph / "manifest.json").read_text())
    assert manifest["min_cosine"] >= 0.99
    got = LensEncoder(graph, backend="onnx").encode_documents(DOCS)
    expected = LensEncoder(str(tiny_lens_dir())).encode_documents(DOCS)
    assert (got * expected).sum(1).min() >= 0.99


def test_a_graph_failing_validation_is_not_written(tmp_path, monkeypatch):
    import lens_vdb.export._validate as validate

    monkeypatch.setattr(validate, "FP32_MAX_ABS_DIFF", -1.0)  # inject a failing check
    with pytest.raises(LensModelError, match="not written"):
        export_onnx(str(tiny_lens_dir()), tmp_path / "bad")
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_to_overwrite_without_asking(tmp_path, exported):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(LensError, match="not empty"):
        export_onnx(str(tiny_lens_dir()), tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def _copy(exported, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(exported, target)
    return target


def test_corrupt_or_mismatched_graphs_fail_on_load(tmp_path, exported):
    import onnx
    from onnx import TensorProto, helper

    broken = _copy(exported, tmp_path / "a")
    (broken / "model.onnx").write_bytes(b"\x08garbage")
    with pytest.raises(LensModelError, match="ONNX Runtime cannot load"):
        LensEncoder(broken, backend="onnx")

    no_manifest = _copy(exported, tmp_path / "b")
    (no_manifest / "manifest.json").unlink()
    with pytest.raises(LensModelError, match="never validated"):
        LensEncoder(no_manifest, backend="onnx")

    wrong_k = _copy(exported, tmp_path / "c")
    manifest = json.loads((wrong_k / "manifest.json").read_text())
    (wrong_k / "manifest.json").write_text(json.dumps({**manifest, "k": 64}))
    with pytest.raises(LensModelError, match="k=64"):
        LensEncoder(wrong_k, backend="onnx")

    wrong_inputs = _copy(exported, tmp_path / "d")
    node = helper.make_node("Identity", ["x"], ["lens_embedding"])
    graph = helper.make_graph([node], "other", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
                              [helper.make_tensor_value_info("lens_embedding", TensorProto.FLOAT, [1, 32])])
    onnx.save(helper.make_model(graph), str(wrong_inputs / "model.onnx"))
    with pytest.raises(LensModelError, match="takes inputs \\('x',\\)"):
        LensEncoder(wrong_inputs, backend="onnx")

    with pytest.raises(ValueError, match="backend must be one of"):
        LensEncoder(exported, backend="tensorflow")


def test_a_gpu_provider_missing_from_onnxruntime_is_a_clear_error(exported):
    import onnxruntime

    from lens_vdb import LensDependencyError

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with pytest.raises(LensDependencyError, match=r"provider='cuda' needs CUDAExecutionProvider.*lens-vdb\[gpu\]"):
        LensEncoder(exported, backend="onnx", provider="cuda")


def test_cli_export(tmp_path, capsys):
    assert main(["export", "--model", str(tiny_lens_dir()), "--out", str(tmp_path / "cli"), "--quantize", "int8"]) == 0
    assert json.loads(capsys.readouterr().out)["quantize"] == "int8"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device and onnxruntime-gpu (none on CI)")
@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_gpu_providers_match_cpu(exported, provider):
    import onnxruntime

    wanted = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[provider]
    if wanted not in onnxruntime.get_available_providers():
        pytest.skip(f"{wanted} is not in this onnxruntime build (install lens-vdb[gpu])")
    gpu = LensEncoder(exported, backend="onnx", provider=provider)
    assert gpu._backend.session.get_providers()[0] == wanted
    cpu = LensEncoder(exported, backend="onnx")
    floor = 0.99 if provider == "tensorrt" else 0.9999  # TensorRT runs in fp16
    assert (gpu.encode_documents(DOCS) * cpu.encode_documents(DOCS)).sum(1).min() > floor


def test_langchain_embeddings_and_connectors_run_on_the_onnx_backend(tmp_path, exported, minilm):
    from lens_vdb.connectors import QdrantConnector
    from lens_vdb.integrations.langchain import LensEmbeddings

    onnx_embeddings = LensEmbeddings(str(exported), backend="onnx")
    torch_embeddings = LensEmbeddings(str(tiny_lens_dir()))
    assert np.abs(np.array(onnx_embeddings.embed_documents(DOCS)) - torch_embeddings.embed_documents(DOCS)).max() < 1e-4
    encoder = LensEncoder(exported, backend="onnx")
    with QdrantConnector(tmp_path, encoder=encoder, dense=minilm, task="sts") as store:
        store.ingest(DOCS, show_progress=False)
        assert store.search(DOCS[0], limit=1)[0].text == DOCS[0]
