"""The exported graph in real ONNX Runtime sessions: any batch and length, bidirectional, bad exports refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from lens_vdb import LensDependencyError, LensEncoder, LensInputError, LensModel, LensModelError
from lens_vdb._inference.onnx_runtime import OnnxBackend, open_graph, tensorrt_profile
from lens_vdb.export import export_onnx
from tests.graphs import graph, source_dir

DOCS = ["The Bank of England raised interest rates.", "fox",
        " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 5)]


@pytest.fixture(scope="module")
def causal(tmp_path_factory):
    """The same weights with causal attention, as a torch model and as an exported graph."""
    model = LensModel.from_pretrained(source_dir())
    model.config = model.config.replace(attention="causal")
    return model, graph("causal", tmp_path_factory.mktemp("onnx") / "causal")


def _graph(directory):
    return LensEncoder(directory, backend="onnx")._backend


def _random_batch(model, lengths, *, left_pad_rows=(), query_rows=(), seed=0):
    """Random token ids of the given lengths (EOS last), padded right, or left for ``left_pad_rows``."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.full((len(lengths), width), model.tokenizer.eos_token_id, dtype=torch.int64)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        body = torch.randint(3, model.query_token_id - 3, (length,), generator=generator)
        body[-1] = model.tokenizer.eos_token_id
        if row in query_rows and length > 3:
            body[length // 3] = model.query_token_id  # the query is pooled from here on
        span = slice(width - length, width) if row in left_pad_rows else slice(0, length)
        ids[row, span], mask[row, span] = body, 1
    return ids, mask


def test_the_graph_matches_torch_for_lengths_and_batches_unlike_the_trace(exported, monkeypatch):
    """Traced at batch 2 x 16 tokens; run at 1..250 tokens, batches of 1..9, both padding sides, queries."""
    import lens_vdb._model.pooling as pooling

    model = LensModel.from_pretrained(source_dir()).eval()
    graph = _graph(exported)
    monkeypatch.setattr(pooling, "_CHUNK_ELEMENTS", 32 * 7)  # torch pools 7 / batch positions at a time here
    cases = [[1], [2], [3], [16], [17, 16], [250], [5, 40, 130, 9, 1, 77, 16, 250, 33]]
    for index, lengths in enumerate(cases):
        ids, mask = _random_batch(model, lengths, left_pad_rows=range(0, 9, 2), query_rows=range(1, 9, 3), seed=index)
        with torch.inference_mode():
            expected = model(ids, mask).numpy()
        got = graph.run(ids.numpy(), mask.numpy())
        assert got.shape == (len(lengths), 32)
        assert np.abs(got - expected).max() < 1e-4, lengths


def test_the_graph_is_bidirectional_a_later_token_changes_earlier_positions(exported, causal):
    """Change only the last content token: it is never pooled itself (shift by one), so only attention to it
    from earlier positions can move the vector. The causal graph must not move; the LENS graph must."""
    causal_model, causal_graph = causal
    tokenizer = causal_model.tokenizer
    ids = np.array([tokenizer("The Bank of England raised interest rates to curb inflation.")["input_ids"]
                    + [tokenizer.eos_token_id]])
    changed = ids.copy()
    changed[0, -2] = tokenizer.convert_tokens_to_ids("▁fox")
    mask = np.ones_like(ids)
    bidirectional, unidirectional = _graph(exported), _graph(causal_graph)
    before, after = unidirectional.run(ids, mask), unidirectional.run(changed, mask)
    assert np.abs(before - after).max() < 1e-6
    with torch.inference_mode():
        assert np.abs(causal_model(torch.from_numpy(changed), torch.from_numpy(mask)).numpy() - after).max() < 1e-4
    assert np.abs(bidirectional.run(ids, mask) - bidirectional.run(changed, mask)).max() > 1e-3
    assert np.abs(bidirectional.run(ids, mask) - before).max() > 1e-3
    hashes = [json.loads((graph / "manifest.json").read_text())["source_model_hash"] for graph in (exported, causal_graph)]
    assert hashes[0] != hashes[1]  # same weights, another attention: the source hash tells them apart


def test_the_onnx_encoder_gives_the_torch_encoders_outputs(exported):
    torch_encoder = LensEncoder(str(source_dir()))
    onnx_encoder = LensEncoder(exported, backend="onnx")
    queries = ["bank rates", "who scored twice in the derby at the weekend, and who missed the penalty?"]
    for batch_size in (1, 5):
        onnx_encoder.batch_size = torch_encoder.batch_size = batch_size
        assert np.abs(onnx_encoder.encode_queries(queries) - torch_encoder.encode_queries(queries)).max() < 1e-4
        assert np.abs(onnx_encoder.encode_documents(DOCS) - torch_encoder.encode_documents(DOCS)).max() < 1e-4
        sparse = onnx_encoder.encode_documents(DOCS, sparse=True, top_k=4)
        assert [s.indices.tolist() for s in sparse] == \
            [s.indices.tolist() for s in torch_encoder.encode_documents(DOCS, sparse=True, top_k=4)]
    assert onnx_encoder.encode_documents([]).shape == (0, 32)
    assert not onnx_encoder.encode_documents(["  "]).any()
    assert onnx_encoder.k == 32 and onnx_encoder.config == torch_encoder.config
    assert [e.tokens for e in onnx_encoder.explain(onnx_encoder.encode_documents(DOCS[:1])[0])] == \
        [e.tokens for e in torch_encoder.explain(torch_encoder.encode_documents(DOCS[:1])[0])]
    with pytest.raises(AttributeError, match="no torch model"):
        onnx_encoder.model  # noqa: B018


def test_batches_beyond_a_tensorrt_profile_run_in_slices_and_longer_inputs_are_refused(exported):
    """The slicing TensorRT relies on, checked on a real CPU session (TensorRT itself needs a GPU)."""
    whole = _graph(exported)
    model = LensModel.from_pretrained(source_dir())
    ids, mask = _random_batch(model, [5, 9, 3, 12, 7], seed=3)
    sliced = OnnxBackend(whole.session, max_batch=2, max_length=12)
    assert np.abs(sliced.run(ids.numpy(), mask.numpy()) - whole.run(ids.numpy(), mask.numpy())).max() < 1e-6
    ids, mask = _random_batch(model, [13], seed=4)
    with pytest.raises(LensInputError, match="13 tokens exceeds the 12 tokens"):
        sliced.run(ids.numpy(), mask.numpy())
    profile = tensorrt_profile(512)
    assert profile["trt_profile_min_shapes"] == "input_ids:1x1,attention_mask:1x1"
    assert profile["trt_profile_opt_shapes"] == "input_ids:32x256,attention_mask:32x256"
    assert profile["trt_profile_max_shapes"] == "input_ids:64x512,attention_mask:64x512"
    assert tensorrt_profile(128)["trt_profile_opt_shapes"] == "input_ids:32x128,attention_mask:32x128"


def _copy(exported, target):
    shutil.copytree(exported, target)
    return target


def _rewrite_manifest(directory, **changes):
    manifest = json.loads((directory / "manifest.json").read_text())
    (directory / "manifest.json").write_text(json.dumps({**manifest, **changes}))


def test_corrupt_or_mismatched_exports_fail_on_load(tmp_path, exported):
    import onnx
    from onnx import TensorProto, helper

    def refused(directory, match):
        with pytest.raises(LensModelError, match=match):
            LensEncoder(directory, backend="onnx")

    broken = _copy(exported, tmp_path / "garbage")
    (broken / "model.onnx").write_bytes(b"\x08garbage")
    refused(broken, "ONNX Runtime cannot load")

    no_graph = _copy(exported, tmp_path / "no_graph")
    (no_graph / "model.onnx").unlink()
    refused(no_graph, "has no model.onnx")

    no_manifest = _copy(exported, tmp_path / "no_manifest")
    (no_manifest / "manifest.json").unlink()
    refused(no_manifest, "never validated")

    bad_json = _copy(exported, tmp_path / "bad_json")
    (bad_json / "manifest.json").write_text("{not json")
    refused(bad_json, "not valid JSON")

    foreign = _copy(exported, tmp_path / "foreign")
    _rewrite_manifest(foreign, format="someone-else")
    refused(foreign, "not a lens-vdb export manifest")

    newer = _copy(exported, tmp_path / "newer")
    _rewrite_manifest(newer, version=99)
    refused(newer, "version 99")

    wrong_k = _copy(exported, tmp_path / "wrong_k")
    _rewrite_manifest(wrong_k, k=64)
    refused(wrong_k, "k=64")

    wrong_inputs = _copy(exported, tmp_path / "wrong_inputs")
    node = helper.make_node("Identity", ["x"], ["lens_embedding"])
    graph = helper.make_graph([node], "other", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
                              [helper.make_tensor_value_info("lens_embedding", TensorProto.FLOAT, [1, 32])])
    onnx.save(helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)]),
              str(wrong_inputs / "model.onnx"))  # IR 8: what any onnxruntime reads, whatever onnx writes by default
    refused(wrong_inputs, "takes inputs \\('x',\\)")

    wrong_width = _copy(exported, tmp_path / "wrong_width")
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "t"])
    attn = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "t"])
    out = helper.make_tensor_value_info("lens_embedding", TensorProto.INT64, ["b", "t"])
    graph = helper.make_graph([helper.make_node("Add", ["input_ids", "attention_mask"], ["lens_embedding"])],
                              "other", [ids, attn], [out])
    onnx.save(helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)]),
              str(wrong_width / "model.onnx"))
    refused(wrong_width, "expected lens_embedding of width k=32")

    no_tokenizer = _copy(exported, tmp_path / "no_tokenizer")
    for item in no_tokenizer.glob("*token*"):
        item.unlink()
    refused(no_tokenizer, "no usable tokenizer")

    bad_map = _copy(exported, tmp_path / "bad_map")
    (bad_map / "cluster_map.safetensors").write_bytes(b"not safetensors")
    refused(bad_map, "cluster_map.safetensors is corrupt")

    not_a_version = _copy(exported, tmp_path / "not_a_version")
    _rewrite_manifest(not_a_version, version="1.0")
    refused(not_a_version, "version '1.0', not a number")

    other_query_token = _copy(exported, tmp_path / "other_query_token")
    _rewrite_manifest(other_query_token, query_token_id=7)  # the graph pools queries from another id
    refused(other_query_token, "pools queries from token id 7 .* maps <query> to")

    refused(tmp_path / "missing", "is not a directory")
    with pytest.raises(ValueError, match="backend must be one of"):
        LensEncoder(exported, backend="tensorflow")
    with pytest.raises(ValueError, match="provider must be one of"):
        LensEncoder(exported, backend="onnx", provider="metal")


def test_a_gpu_provider_missing_from_onnxruntime_is_a_clear_error(exported):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with pytest.raises(LensDependencyError, match=r"provider='cuda' needs CUDAExecutionProvider.*lens-vdb\[gpu\]"):
        LensEncoder(exported, backend="onnx", provider="cuda")


GPU_REASON = "needs a CUDA device and onnxruntime-gpu (none on CI)"


def _has_tensorrt_libraries() -> bool:
    import ctypes

    try:
        ctypes.CDLL("libnvinfer.so.10")
    except OSError:
        return False
    return True


def _gpu_provider_or_skip(provider):
    import onnxruntime

    wanted = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[provider]
    if wanted not in onnxruntime.get_available_providers():
        pytest.skip(f"{wanted} is not in this onnxruntime build (install lens-vdb[gpu])")
    if provider == "tensorrt" and not _has_tensorrt_libraries():
        pytest.skip("the TensorRT 10 libraries (libnvinfer.so.10) are not installed here")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason=GPU_REASON)
def test_tensorrt_without_its_libraries_is_a_clear_error_not_a_silent_cuda_run(exported):
    _gpu_provider_or_skip("cuda")
    if _has_tensorrt_libraries():
        pytest.skip("the TensorRT libraries are installed here")
    with pytest.raises(LensDependencyError, match="could not start TensorrtExecutionProvider.*TensorRT 10"):
        LensEncoder(exported, backend="onnx", provider="tensorrt")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason=GPU_REASON)
@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_gpu_providers_match_cpu(tmp_path_factory, exported, provider, dtype):
    _gpu_provider_or_skip(provider)
    graph = exported if dtype == "fp32" else export_onnx(str(source_dir()), tmp_path_factory.mktemp("gpu") / "fp16",
                                                          dtype="fp16")
    gpu = LensEncoder(graph, backend="onnx", provider=provider, batch_size=80)
    wanted = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[provider]
    assert gpu._backend.provider == wanted
    cpu = LensEncoder(exported, backend="onnx")
    texts = DOCS * 30  # 90 texts in one batch of 80 and one of 10: past TensorRT's batch profile of 64
    floor = 0.9999 if provider == "cuda" and dtype == "fp32" else 0.99  # TensorRT runs in fp16
    assert (gpu.encode_documents(texts) * cpu.encode_documents(texts)).sum(1).min() > floor
    assert (gpu.encode_queries(DOCS) * cpu.encode_queries(DOCS)).sum(1).min() > floor
    if provider == "tensorrt":
        assert any((graph / "trt_cache").iterdir())  # the engine is cached for the next session


def test_an_export_is_opened_with_the_onnx_backend_and_only_in_fp32_terms(exported):
    with pytest.raises(LensModelError, match="is an ONNX export .*backend='onnx'"):
        LensEncoder(exported)  # the torch backend: no torch weights there
    with pytest.raises(ValueError, match="precision is fixed when it is exported"):
        LensEncoder(exported, backend="onnx", dtype="fp16")
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["query_token_id"] == LensModel.from_pretrained(source_dir()).query_token_id


def test_tensorrt_options_name_the_gpu_the_profile_and_an_existing_cache(tmp_path, exported):
    """What the TensorRT provider is given, checked without a GPU (the provider itself needs one)."""
    from lens_vdb._inference.onnx_runtime import _providers

    graph = _copy(exported, tmp_path / "graph")
    (trt, options), (cuda, cuda_options), cpu = _providers("tensorrt", graph, 384, device_id=1)
    assert (trt, cuda, cpu) == ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    assert options["device_id"] == cuda_options["device_id"] == 1
    assert options["trt_profile_max_shapes"] == "input_ids:64x384,attention_mask:64x384"
    assert options["trt_profile_opt_shapes"] == "input_ids:32x256,attention_mask:32x256"
    assert options["trt_engine_cache_path"] == options["trt_timing_cache_path"] == str(graph / "trt_cache")
    assert (graph / "trt_cache").is_dir()  # TensorRT makes only the last level of its cache path itself
    assert options["trt_fp16_enable"] and options["trt_engine_cache_enable"]


def test_open_graph_checks_the_width_it_is_asked_for(exported):
    assert open_graph(exported / "model.onnx", k=32).run(np.array([[1, 40, 2]]), np.ones((1, 3), np.int64)).shape == (1, 32)
    with pytest.raises(LensModelError, match="width k=48"):
        open_graph(exported / "model.onnx", k=48)


def test_an_export_has_its_models_identity_and_takes_a_thread_count(exported):
    onnx = LensEncoder(exported, backend="onnx", threads=1)
    assert onnx.fingerprint == LensEncoder(source_dir()).fingerprint
    assert onnx.export_dir == exported and LensEncoder(source_dir(), backend="torch").export_dir is None
    assert onnx._backend.session.get_session_options().intra_op_num_threads == 1



def test_a_pickled_or_copied_onnx_encoder_opens_its_own_session_on_first_use(exported):
    import copy
    import pickle

    encoder = LensEncoder(exported, backend="onnx", threads=1)
    expected = encoder.encode_documents(DOCS)
    for clone in (pickle.loads(pickle.dumps(encoder)), copy.deepcopy(encoder)):
        assert clone._backend._session is None  # a session does not pickle: the graph file is opened again
        assert np.array_equal(clone.encode_documents(DOCS), expected)
        assert clone._backend.session is not encoder._backend.session
        assert clone._backend.session.get_session_options().intra_op_num_threads == 1  # the same threads
    handmade = OnnxBackend(encoder._backend.session)  # no file to open again: a clear error, not a TypeError
    with pytest.raises(LensModelError, match="not opened from a graph file"):
        pickle.dumps(handmade)
