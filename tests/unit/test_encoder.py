"""LensEncoder: shapes, order, bad input, empty texts, truncation, sparse output, explain, dtypes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from lens_vdb import LensEncoder, SparseVector, get_task, register_task, to_sparse

TEXTS = ["The Bank of England raised interest rates.", "fox", "Chelsea won the cup final after extra time."]


def test_empty_list_gives_an_empty_k_wide_array(llama_encoder):
    for encode in (llama_encoder.encode_documents, llama_encoder.encode_queries):
        out = encode([])
        assert out.shape == (0, llama_encoder.k) and out.dtype == np.float32


@pytest.mark.parametrize("bad", [None, 3, b"bytes"])
def test_a_non_string_names_its_index(llama_encoder, bad):
    with pytest.raises(TypeError, match=r"documents\[1\] is"):
        llama_encoder.encode_documents(["ok", bad])
    with pytest.raises(TypeError, match=r"queries\[1\] is"):
        llama_encoder.encode_queries(["ok", bad])


def test_a_single_string_is_refused_with_the_fix(llama_encoder):
    with pytest.raises(TypeError, match=r"wrap it: \[text\]"):
        llama_encoder.encode_documents("just one")


def test_output_is_float32_normalised_and_in_input_order(llama_encoder):
    out = llama_encoder.encode_documents(TEXTS)
    assert out.dtype == np.float32 and out.shape == (3, llama_encoder.k)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    for text, row in zip(TEXTS, out):
        assert np.abs(llama_encoder.encode_documents([text])[0] - row).max() < 1e-5


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_or_whitespace_text_gives_the_zero_vector(llama_encoder, text):
    out = llama_encoder.encode_documents([text, "fox"])
    assert not out[0].any() and out[1].any()


def test_query_without_instruction_pools_only_the_query_tokens(llama_encoder):
    bare = llama_encoder.encode_queries(["bank rates"], instruction="")
    assert bare.shape == (1, llama_encoder.k) and np.isclose(np.linalg.norm(bare), 1.0, atol=1e-5)
    instructed = llama_encoder.encode_queries(["bank rates"])
    assert np.abs(bare - instructed).max() > 1e-4  # the instruction conditions the query tokens


def test_queries_and_documents_differ_and_symmetric_tasks_instruct_both_sides(llama_encoder):
    as_doc = llama_encoder.encode_documents(["fox"])
    as_query = llama_encoder.encode_queries(["fox"])
    assert np.abs(as_doc - as_query).max() > 1e-4
    sts_doc = llama_encoder.encode_documents(["fox"], task="sts")
    sts_query = llama_encoder.encode_queries(["fox"], task="sts")
    assert np.array_equal(sts_doc, sts_query)


def test_unknown_task_lists_known_ones_and_tasks_can_be_registered(llama_encoder):
    with pytest.raises(ValueError, match="Known tasks"):
        llama_encoder.encode_queries(["fox"], task="nope")
    register_task("legal", "Given a legal question, retrieve relevant statutes.")
    assert get_task("legal").instruction.startswith("Given a legal question")


def test_truncation_warns_once_and_keeps_eos(built_dirs):
    encoder = LensEncoder(built_dirs["llama"], max_length=8)
    long = " ".join(["The quick brown fox jumps over the lazy dog"] * 4)
    with pytest.warns(UserWarning, match="max_length=8"):
        first = encoder.encode_documents([long])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoder.encode_documents([long])
    assert first.any()


def test_an_instruction_longer_than_max_length_is_a_clear_error(built_dirs):
    encoder = LensEncoder(built_dirs["llama"], max_length=8)
    with pytest.raises(ValueError, match="longer than max_length=8"):
        encoder.encode_queries(["fox"])


def test_sparse_forms_keep_top_k_or_values_above_threshold(llama_encoder):
    dense = llama_encoder.encode_documents(TEXTS)
    top = llama_encoder.encode_documents(TEXTS, sparse=True, top_k=5)
    assert all(isinstance(v, SparseVector) and len(v.indices) == 5 for v in top)
    for row, vec in zip(dense, top):
        assert set(vec.indices.tolist()) == set(np.argsort(-row)[:5].tolist())
        assert np.allclose(vec.values, row[vec.indices])
    cut = float(np.median(dense[0]))
    above = to_sparse(dense[:1], threshold=cut)[0]
    assert np.all(above.values > cut) and len(above.indices) == int((dense[0] > cut).sum())
    assert np.allclose(to_sparse(dense[:1])[0].to_dense(llama_encoder.k), dense[0])


def test_explain_lists_heaviest_clusters_with_their_tokens(llama_encoder):
    vector = llama_encoder.encode_documents(["The Bank of England raised interest rates."])[0]
    explained = llama_encoder.explain(vector, top=3)
    assert [e.cluster for e in explained] == np.argsort(-vector)[:3].tolist()
    assert explained[0].weight == pytest.approx(float(vector.max()))
    assert all(e.tokens for e in explained)
    with pytest.raises(ValueError, match="explain"):
        llama_encoder.explain(np.zeros(3))


def test_bf16_on_cpu_stays_close_to_fp32(built_dirs, llama_encoder):
    bf16 = LensEncoder(built_dirs["llama"], dtype="bf16")
    cosine = (bf16.encode_documents(TEXTS) * llama_encoder.encode_documents(TEXTS)).sum(1)
    assert cosine.min() > 0.98


def test_bad_device_dtype_batch_size_are_clear_errors(built_dirs):
    with pytest.raises(ValueError, match="fp16 is for CUDA"):
        LensEncoder(built_dirs["llama"], device="cpu", dtype="fp16")
    with pytest.raises(ValueError, match="dtype must be one of"):
        LensEncoder(built_dirs["llama"], dtype="int4")
    with pytest.raises(ValueError, match="batch_size"):
        LensEncoder(built_dirs["llama"], batch_size=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            LensEncoder(built_dirs["llama"], device="cuda")


def test_special_token_strings_inside_documents_stay_plain_text(llama_encoder):
    from lens_vdb._inference.features import tokenize_documents

    tokenizer = llama_encoder.tokenizer
    special = {tokenizer.convert_tokens_to_ids(t) for t in ("<query>", "<instruct>")}
    (ids,) = tokenize_documents(tokenizer, ["a <query> b <instruct> c"], 64).ids
    assert not special & set(ids)  # else the document would be pooled like a query, from the anchor on
    assert ids.count(tokenizer.eos_token_id) == 1 and ids[-1] == tokenizer.eos_token_id
    assert llama_encoder.encode_documents(["a <query> b"])[0].any()


def test_queries_default_to_the_instruction_the_model_was_saved_with(built_dirs, tmp_path):
    from lens_vdb import LensModel

    model = LensModel.from_pretrained(built_dirs["llama"])
    model.config = model.config.replace(query_instruction="Given a headline, find the news article.")
    encoder = LensEncoder(LensModel.from_pretrained(model.save_pretrained(tmp_path / "custom")))
    own = encoder.encode_queries(["bank rates"])
    assert np.abs(own - encoder.encode_queries(["bank rates"], instruction="Given a headline, find the news article.")
                  ).max() < 1e-6
    assert np.abs(own - encoder.encode_queries(["bank rates"], task="retrieval")).max() > 1e-4  # a task still wins


def test_the_fingerprint_names_the_model_not_the_dtype(built_dirs):
    fp32 = LensEncoder(built_dirs["llama"])
    bf16 = LensEncoder(built_dirs["llama"], dtype="bf16")
    other = LensEncoder(built_dirs["qwen2"])  # the same k=32: only the identity tells them apart
    assert fp32.fingerprint == bf16.fingerprint and fp32.fingerprint.startswith("lens-")
    assert other.fingerprint != fp32.fingerprint and other.k == fp32.k
    assert fp32.model_name == str(built_dirs["llama"])


def test_the_fingerprint_follows_a_changed_backbone(built_dirs):
    from lens_vdb import LensModel

    model = LensModel.from_pretrained(built_dirs["llama"])
    before = LensEncoder(model).fingerprint
    with torch.no_grad():  # as a LoRA merge would: the head stays, the backbone's last layer moves
        list(model.backbone.parameters())[-2].add_(0.01)
    assert LensEncoder(model).fingerprint != before


def test_names_resolve_to_the_default_models(tmp_path, monkeypatch, built_dirs):
    import shutil

    from lens_vdb._model.default import DEFAULT_VERSION

    monkeypatch.setenv("LENS_VDB_HOME", str(tmp_path))
    shutil.copytree(built_dirs["llama"], tmp_path / "smollm2-135m-lens-k4000-seed0")  # the cache, pre-built
    shutil.copytree(built_dirs["qwen2"], tmp_path / f"smollm2-135m-lens-k4000-{DEFAULT_VERSION}")
    untrained, default = LensEncoder("untrained"), LensEncoder("default")
    assert untrained.model_name == "untrained" and default.model_name == "default"
    assert untrained.fingerprint == LensEncoder(built_dirs["llama"]).fingerprint
    assert default.fingerprint == LensEncoder(None).fingerprint == LensEncoder(built_dirs["qwen2"]).fingerprint
    # a shipped version by name, kept loadable for reproducibility
    assert LensEncoder(f"default-{DEFAULT_VERSION}").fingerprint == default.fingerprint


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_threads_must_be_a_positive_int(built_dirs, bad):
    from lens_vdb import LensInputError

    with pytest.raises(LensInputError, match="threads must be an int >= 1"):
        LensEncoder(built_dirs["llama"], threads=bad)


def test_threads_sets_torchs_thread_count(built_dirs):
    before = torch.get_num_threads()
    try:
        LensEncoder(built_dirs["llama"], threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bad", [-1, 0, 2.5, True])
def test_a_bad_batch_size_is_an_error_not_zero_vectors(llama_encoder, bad):
    from lens_vdb import LensInputError

    for encode in (llama_encoder.encode_documents, llama_encoder.encode_queries):
        with pytest.raises(LensInputError, match=r"batch_size must be an int >= 1"):
            encode(TEXTS, batch_size=bad)


@pytest.mark.parametrize("option, bad", [("batch_size", 0), ("max_length", 0), ("max_length", 7),
                                         ("max_length", 64.0)])
def test_bad_encoder_options_are_errors_not_defaults(built_dirs, option, bad):
    from lens_vdb import LensInputError

    with pytest.raises(LensInputError, match=rf"{option} must be an int >= "):
        LensEncoder(built_dirs["llama"], **{option: bad})


@pytest.mark.parametrize("texts", [{"a": "first text", "b": "second"}, {"first text", "second"}])
def test_a_dict_or_set_of_texts_is_refused(llama_encoder, texts):
    with pytest.raises(TypeError, match=r"got a (dict|set)"):
        llama_encoder.encode_documents(texts)


def test_a_lone_surrogate_names_the_text(llama_encoder):
    from lens_vdb import LensInputError

    with pytest.raises(LensInputError, match=r"queries\[1\] is not valid Unicode: surrogates not allowed"):
        llama_encoder.encode_queries(["fine", "bad \ud800 text"])

