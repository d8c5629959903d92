"""backend="auto": real candidates measured on this machine (torch, ONNX Runtime, real exports), the choice
explained and cached per model, CPU and library versions, the same model whatever runs it.

No test asserts which candidate wins: that is this CPU's business (README "Choosing the backend").
"""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch

from lens_vdb import LensEncoder, LensInputError, LensModel
from lens_vdb._inference import auto as auto_module
from lens_vdb._inference import auto_cache
from lens_vdb._inference.auto_cache import AUTO_FILE, find_graph, graph_dir
from lens_vdb._inference.calibration import CALIBRATION_TOKENS, calibration_batch
from lens_vdb._inference.candidates import CANDIDATES, LOSSY_MARGIN, open_candidates, pick
from lens_vdb._inference.exporters import find, why_not
from lens_vdb._machine import CpuInfo, cpu_info, default_threads
from tests.graphs import export_problem, graph
from tests.tiny import copy_tiny_lens, tiny_lens_dir

# the transformers 5 environment has no export toolchain (optimum-onnx needs transformers < 4.58)
needs_export = pytest.mark.skipif(export_problem() is not None, reason=f"exports a graph: {export_problem()}")

DOCS = ["The Bank of England raised interest rates.", "fox",
        " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 5)]


@pytest.fixture
def home(lens_home):
    """The cache home auto exports graphs into: this test's own (tests/conftest.py), so no graph another test
    exported is found here."""
    return lens_home


@pytest.fixture
def model_dir(tmp_path, home):
    """A private copy of the tiny model: auto's measurements are kept beside it."""
    return copy_tiny_lens(tmp_path / "model")


def test_auto_measures_explains_and_keeps_the_models_identity(model_dir, caplog):
    with caplog.at_level(logging.INFO, logger="lens_vdb._inference.auto"):
        encoder = LensEncoder(model_dir, backend="auto")
    choice = encoder.chosen_backend
    reference = LensEncoder(model_dir)
    assert choice.name in CANDIDATES and encoder.backend == choice.backend and not choice.cached
    assert {"torch-fp32", "torch-bf16"} <= set(choice.docs_per_s) and choice.name in choice.docs_per_s
    assert all(value > 0 for value in choice.docs_per_s.values()) and choice.calibration_seconds > 0
    assert set(choice.docs_per_s) | set(choice.excluded) >= {"torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8"}
    assert choice.cpu == cpu_info().describe() and choice.threads == default_threads()
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert f"chose {choice.name}" in logged and "torch-fp32" in logged and "docs/s" in logged
    assert encoder.fingerprint == reference.fingerprint  # auto never changes which model runs
    got, expected = encoder.encode_documents(DOCS), reference.encode_documents(DOCS)
    assert (got * expected).sum(1).min() >= 0.99


def test_the_choice_is_cached_beside_the_model_and_reused_on_this_machine_only(model_dir, monkeypatch):
    first = LensEncoder(model_dir, backend="auto").chosen_backend
    stored = json.loads((model_dir / AUTO_FILE).read_text())
    (entry,) = stored["entries"].values()
    assert entry["name"] == first.name and entry["cpu"] == cpu_info().describe()
    assert entry["fingerprint"] == LensEncoder(model_dir).fingerprint and entry["docs_per_s"] == first.docs_per_s
    again = LensEncoder(model_dir, backend="auto").chosen_backend
    assert again.cached and again.name == first.name and again.docs_per_s == first.docs_per_s

    other = CpuInfo("Another CPU", 2, 2, 2, ("avx2",))  # the same files read on a machine of another kind
    monkeypatch.setattr(auto_cache, "cpu_info", lambda: other)
    elsewhere = LensEncoder(model_dir, backend="auto").chosen_backend
    assert not elsewhere.cached and len(json.loads((model_dir / AUTO_FILE).read_text())["entries"]) == 2


def test_a_changed_model_or_other_threads_are_measured_again(model_dir):
    LensEncoder(model_dir, backend="auto")
    assert not LensEncoder(model_dir, backend="auto", threads=default_threads() + 1).chosen_backend.cached
    model = LensModel.from_pretrained(model_dir)
    with torch.no_grad():
        model.head.weight.mul_(1.5)
    model.save_pretrained(model_dir)  # new weights in the same folder: a new fingerprint
    assert not LensEncoder(model_dir, backend="auto").chosen_backend.cached


def test_an_unreadable_cache_is_measured_again_not_an_error(model_dir, caplog):
    (model_dir / AUTO_FILE).write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert not LensEncoder(model_dir, backend="auto").chosen_backend.cached
    assert "unreadable" in caplog.text and json.loads((model_dir / AUTO_FILE).read_text())["entries"]


def test_a_model_object_is_cached_under_the_cache_home(model_dir, home):
    model = LensModel.from_pretrained(model_dir)
    encoder = LensEncoder(model, backend="auto")
    assert (home / "auto" / f"{encoder.fingerprint}.json").is_file()
    assert LensEncoder(model, backend="auto").chosen_backend.cached


def test_a_candidate_whose_vectors_drift_is_never_chosen(model_dir, monkeypatch):
    monkeypatch.setattr(auto_module, "MIN_COSINE", 1.5)  # a bar no candidate but the reference can pass
    choice = LensEncoder(model_dir, backend="auto").chosen_backend
    assert choice.name == "torch-fp32" and "cosine to torch fp32 fell to" in choice.excluded["torch-bf16"]


def test_a_candidate_that_would_not_fit_in_memory_is_left_out_not_opened(model_dir, monkeypatch):
    from lens_vdb._inference import candidates

    monkeypatch.setattr(candidates, "available_memory", lambda: 1024)  # a machine with no room for a copy
    choice = LensEncoder(model_dir, backend="auto").chosen_backend
    assert "torch-bf16" not in choice.docs_per_s and "not measured: it needs about" in choice.excluded["torch-bf16"]


@needs_export
def test_an_int8_graph_refused_by_its_export_checks_is_not_chosen(model_dir, monkeypatch):
    """The real exporter, with a retrieval bar no graph meets: the export is refused, nothing is written,
    and auto keeps what it measured."""
    import lens_vdb.export._retrieval as retrieval

    monkeypatch.setattr(retrieval, "MAX_MRR_DROP", -1.0)
    model = LensModel.from_pretrained(model_dir)
    fingerprint = LensEncoder(model_dir).fingerprint
    loaded, excluded, missing = open_candidates(model, fingerprint, "cpu", 1, None)
    batch = calibration_batch(model.tokenizer, model.tokenizer.eos_token_id, 32)
    speed = {"torch-fp32": 1.0}
    auto_module._export_and_measure("onnx-int8", model, fingerprint, 1, None, batch, loaded, speed, excluded)
    assert "its export was refused" in excluded["onnx-int8"] and "MRR@10" in excluded["onnx-int8"]
    assert "onnx-int8" not in speed and find_graph(fingerprint, "int8") is None
    assert not graph_dir(fingerprint, "int8").exists()


@needs_export
def test_an_exported_graph_needs_its_models_identity_and_its_checks(model_dir):
    from lens_vdb.export import export_onnx

    fingerprint = LensEncoder(model_dir).fingerprint
    graph = export_onnx(str(model_dir), graph_dir(fingerprint, "int8"), quantize="int8", retrieval_articles=0)
    try:
        assert find_graph(fingerprint, "int8") is None  # no MRR@10 check recorded: not a candidate
        manifest = json.loads((graph / "manifest.json").read_text())
        (graph / "manifest.json").write_text(json.dumps(manifest | {"retrieval": {"mrr_at_10": 0.5}}))
        assert find_graph(fingerprint, "int8") == graph  # as if checked
        other = shutil.copytree(graph, graph_dir("lens-000000000000000000000000", "int8"))
        assert find_graph("lens-000000000000000000000000", "int8") is None  # another model's graph
    finally:
        shutil.rmtree(graph)
        shutil.rmtree(graph_dir("lens-000000000000000000000000", "int8"), ignore_errors=True)
    assert not other.exists()


def test_auto_picks_the_precision_itself(model_dir):
    with pytest.raises(LensInputError, match="backend='auto' chooses the precision"):
        LensEncoder(model_dir, backend="auto", dtype="bf16")
    with pytest.raises(LensInputError, match="name the backend"):
        LensEncoder(model_dir, backend="auto", provider="cuda")
    with pytest.raises(ValueError, match=r"backend must be one of \('auto', 'torch', 'onnx', 'remote'\)"):
        LensEncoder(model_dir, backend="tensorflow")


def test_an_export_directory_runs_on_onnx_runtime(model_dir):
    encoder = LensEncoder(graph("fp32", model_dir.parent / "onnx"), backend="auto")
    assert encoder.backend == "onnx" and encoder.chosen_backend.name == "onnx-fp32"


def test_a_lossy_candidate_must_beat_the_fastest_exact_one_by_the_margin():
    assert pick({"torch-fp32": 1.0, "torch-bf16": 2.0})[0] == "torch-bf16"
    assert pick({"torch-fp32": 1.0, "torch-bf16": LOSSY_MARGIN * 0.99})[0] == "torch-fp32"
    assert pick({"torch-fp32": 1.0, "onnx-fp32": 1.3, "onnx-int8": 1.32})[0] == "onnx-fp32"
    assert pick({"torch-fp32": 1.0, "onnx-fp32": 1.3, "onnx-int8": 1.5})[0] == "onnx-int8"


def test_the_graph_predicted_fastest_is_exported_only_when_it_pays():
    """Whether a graph is exported depends on this CPU (int8 pays with VNNI or AMX, not on AVX2 alone): each
    branch is driven here with the speeds the chooser is given, whatever this CPU would measure."""
    excluded: dict[str, str] = {}
    assert auto_module._worth_exporting({"onnx-fp32": 1.3, "onnx-int8": 2.0}, 1.0, excluded, export=True) == "onnx-int8"
    assert excluded == {"onnx-fp32": "not exported: onnx-int8 is predicted faster"}
    excluded = {}  # int8 predicted a little faster only, as on an AVX2-only CPU: not worth an export
    assert auto_module._worth_exporting({"onnx-int8": 1.1}, 1.0, excluded, export=True) is None
    assert "predicted 1.10x the best measured, under the 1.15x" in excluded["onnx-int8"]
    excluded = {}
    assert auto_module._worth_exporting({"onnx-int8": 3.0}, 1.0, excluded, export=False) is None
    assert excluded == {"onnx-int8": "not exported (export=False)"}
    assert pick({"torch-fp32": 1.0, "torch-bf16": 0.3, "onnx-fp32": 1.1})[0] == "onnx-fp32"  # no native bf16


def test_the_calibration_batch_is_full_length_documents():
    model = LensModel.from_pretrained(tiny_lens_dir())
    ids, mask = calibration_batch(model.tokenizer, model.tokenizer.eos_token_id)
    assert ids.shape == mask.shape == (2, CALIBRATION_TOKENS) and mask.all()
    assert not np.array_equal(ids[0], ids[1])


def test_the_exporter_is_registered_and_says_what_it_cannot_do():
    exporter = find()
    assert exporter is not None
    if export_problem() is None:
        assert exporter.missing("fp32") is None
    else:  # the transformers 5 environment: no toolchain, and auto is told what to install
        assert "pip install 'lens-vdb[export]'" in exporter.missing("fp32")
    assert "not 'fp16'" in exporter.missing("fp16")
    assert "no exporter is registered" in why_not(None, "int8")


def test_the_gemm_proxy_runs_the_int8_exports_kernel():
    from onnx import load_from_string

    from lens_vdb._inference import gemm_proxy
    from lens_vdb.export._quantize import BLOCK_SIZE

    config = LensModel.from_pretrained(tiny_lens_dir()).backbone.config
    graph = load_from_string(gemm_proxy._onnx_graph(gemm_proxy._weights(config), config, 8, int8=True))
    nodes = [n for n in graph.graph.node if n.op_type == "MatMulNBits"]
    attributes = {a.name: a.i for a in nodes[0].attribute}
    assert len(nodes) == 7 * gemm_proxy.LAYERS and gemm_proxy.BLOCK_SIZE == BLOCK_SIZE
    assert attributes["bits"] == 8 and attributes["accuracy_level"] == 4 and attributes["block_size"] == BLOCK_SIZE
    ratios = gemm_proxy.proxy_speedups(config, rows=64, threads=1)
    assert set(ratios) == {"fp32", "int8"} and all(np.isfinite(v) and v > 0 for v in ratios.values())


def test_onnx_runtime_sessions_use_the_default_threads_without_spinning(model_dir):
    exported = graph("fp32", model_dir.parent / "onnx")
    options = LensEncoder(exported, backend="onnx")._backend.session.get_session_options()
    assert options.intra_op_num_threads == default_threads() and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_the_default_threads_apply_to_torch(model_dir):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        LensEncoder(model_dir)
        assert torch.get_num_threads() == default_threads()
    finally:
        torch.set_num_threads(before)
