"""export_triton: the model repository's layout, and both configs parsed with Triton's own ModelConfig schema.

The GPU config (ONNX Runtime backend, TensorRT accelerator) cannot run here; it is rendered and parsed
with ``tritonclient``'s ``model_config_pb2`` and protobuf's text format, exactly as Triton reads it,
and its TensorRT settings are checked against the ones lens-vdb's own TensorRT path uses.
"""

from __future__ import annotations

import pytest

from lens_vdb import LensEncoder, LensError, LensInputError
from lens_vdb._inference.onnx_runtime import TRT_MAX_BATCH, read_manifest, tensorrt_profile
from lens_vdb.cli import main
from lens_vdb.export import TritonOptions, export_triton

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                       reason="tritonclient[grpc] (the test extra) parses Triton's model config")
text_format = pytest.importorskip("google.protobuf.text_format")


def _parse(path):
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_the_repository_holds_the_graph_the_python_model_both_configs_and_the_client_files(tmp_path, exported):
    model_dir = export_triton(exported, tmp_path / "repo")
    assert model_dir == (tmp_path / "repo" / "lens").resolve()
    assert sorted(p.name for p in (model_dir / "1").iterdir()) == ["model.onnx", "model.py"]
    assert (model_dir / "1" / "model.onnx").read_bytes() == (exported / "model.onnx").read_bytes()
    assert (model_dir / "configs" / "gpu.pbtxt").is_file()
    # the client's side: the export's tokenizer, config, manifest and cluster map, opened as an export is
    assert {"manifest.json", "lens_config.json", "cluster_map.safetensors", "tokenizer.json"} <= \
        {p.name for p in model_dir.iterdir()}
    assert read_manifest(model_dir) == read_manifest(exported)
    compile((model_dir / "1" / "model.py").read_text(), "model.py", "exec")  # the server's Python parses it


def test_the_cpu_config_is_the_python_backend_with_ragged_dynamic_batches(tmp_path, exported):
    options = TritonOptions(max_batch_size=32, preferred_batch_sizes=(8, 32), max_queue_delay_us=500,
                            cpu_instances=2, cpu_threads=1)
    config = _parse(export_triton(exported, tmp_path / "repo", name="lens-cpu", options=options) / "config.pbtxt")
    k = read_manifest(exported)["k"]
    assert (config.name, config.backend, config.platform, config.max_batch_size) == ("lens-cpu", "python", "", 32)
    assert [(i.name, i.data_type, list(i.dims), i.allow_ragged_batch) for i in config.input] == [
        ("input_ids", model_config_pb2.TYPE_INT64, [-1], True), ("attention_mask", model_config_pb2.TYPE_INT64, [-1], True)]
    assert [(o.name, o.data_type, list(o.dims)) for o in config.output] == [("lens_embedding", model_config_pb2.TYPE_FP32, [k])]
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 32]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    assert [(g.count, g.kind) for g in config.instance_group] == [(2, model_config_pb2.ModelInstanceGroup.KIND_CPU)]
    assert config.parameters["intra_op_thread_count"].string_value == "1"
    assert config.parameters["lens_fingerprint"].string_value == LensEncoder(exported, backend="onnx").fingerprint


def test_the_gpu_config_is_onnx_runtime_with_tensorrt_as_lens_vdbs_own_tensorrt_path(tmp_path, exported):
    options = TritonOptions(engine_cache="/models/trt-cache", max_length=512, gpu_instances=2)
    model_dir = export_triton(exported, tmp_path / "repo", options=options)
    config = _parse(model_dir / "configs" / "gpu.pbtxt")
    assert (config.name, config.backend, config.max_batch_size) == ("lens", "onnxruntime", TRT_MAX_BATCH)
    assert not any(i.allow_ragged_batch for i in config.input)  # the ONNX Runtime backend batches equal shapes only
    assert [i.name for i in config.input] == ["input_ids", "attention_mask"]
    assert [(g.count, g.kind) for g in config.instance_group] == [(2, model_config_pb2.ModelInstanceGroup.KIND_GPU)]
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt"
    settings = dict(accelerator.parameters)
    assert settings["precision_mode"] == "FP16"
    assert settings["trt_engine_cache_enable"] == "1" and settings["trt_engine_cache_path"] == "/models/trt-cache"
    assert settings["trt_timing_cache_enable"] == "1"
    assert {key: settings[key] for key in tensorrt_profile(512)} == tensorrt_profile(512)
    assert settings["trt_profile_max_shapes"] == f"input_ids:{TRT_MAX_BATCH}x512,attention_mask:{TRT_MAX_BATCH}x512"
    assert config.parameters["lens_fingerprint"].string_value == _parse(model_dir / "config.pbtxt").parameters[
        "lens_fingerprint"].string_value


def test_bad_options_names_and_targets_are_refused_before_anything_is_written(tmp_path, exported):
    with pytest.raises(LensInputError, match="max_batch_size=128 is over 64"):
        TritonOptions(max_batch_size=128)
    with pytest.raises(LensInputError, match="preferred_batch_sizes"):
        TritonOptions(max_batch_size=8, preferred_batch_sizes=(16,))
    with pytest.raises(LensInputError, match="absolute path"):
        TritonOptions(engine_cache="trt")
    with pytest.raises(LensInputError, match="name must be"):
        export_triton(exported, tmp_path / "repo", name="a/b")
    with pytest.raises(LensError, match="no model.onnx"):
        export_triton(tmp_path, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
    export_triton(exported, tmp_path / "repo")
    with pytest.raises(LensError, match="exists; pass overwrite=True"):
        export_triton(exported, tmp_path / "repo")
    export_triton(exported, tmp_path / "repo", overwrite=True)
    (tmp_path / "repo" / "other").mkdir()
    with pytest.raises(LensError, match="not a lens-vdb model folder"):
        export_triton(exported, tmp_path / "repo", name="other", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["lens", "other"]  # nothing left half-written


def test_the_cli_writes_the_repository_beside_the_export(tmp_path, exported, capsys):
    from tests.graphs import export_problem, source_dir

    if export_problem() is not None:
        pytest.skip(f"no export toolchain here: {str(export_problem()).split('. ')[0]}")

    assert main(["export", "--model", str(source_dir()), "--out", str(tmp_path / "onnx"), "--triton",
                 str(tmp_path / "repo"), "--triton-name", "news"]) == 0
    assert "tritonserver --model-repository" in capsys.readouterr().out
    assert _parse(tmp_path / "repo" / "news" / "config.pbtxt").name == "news"
