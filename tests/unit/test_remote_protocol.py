"""The KServe v2 messages of the remote backend (JSON and binary), its model URLs and options: no server needed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lens_vdb import LensInputError, LensModelError, RemoteOptions
from lens_vdb._inference.remote_options import parse_model_url
from lens_vdb._inference.remote_protocol import HEADER_LENGTH, decode_response, encode_request, parse_config

IDS = np.array([[5, 6, 7, 2], [8, 2, 0, 0]], dtype=np.int64)
MASK = (IDS != 0).astype(np.int64)


def _json_response(vectors, **overrides):
    output = {"name": "lens_embedding", "datatype": "FP32", "shape": list(vectors.shape),
              "data": vectors.ravel().tolist(), **overrides}
    return json.dumps({"model_name": "lens", "outputs": [output]}).encode()


def _binary_response(vectors, *, extra_first=False):
    outputs = [{"name": "lens_embedding", "datatype": "FP32", "shape": list(vectors.shape),
                "parameters": {"binary_data_size": vectors.nbytes}}]
    blobs = [vectors.astype("<f4").tobytes()]
    if extra_first:  # another output before ours: its bytes come first
        outputs.insert(0, {"name": "other", "datatype": "INT64", "shape": [1], "parameters": {"binary_data_size": 8}})
        blobs.insert(0, np.array([7], "<i8").tobytes())
    head = json.dumps({"outputs": outputs}).encode()
    return head + b"".join(blobs), str(len(head))


def test_a_json_request_carries_the_graphs_inputs_as_int64_lists():
    body, headers = encode_request(IDS, MASK, binary=False)
    request = json.loads(body)
    assert headers == {"Content-Type": "application/json"}
    assert [(i["name"], i["datatype"], i["shape"]) for i in request["inputs"]] == \
        [("input_ids", "INT64", [2, 4]), ("attention_mask", "INT64", [2, 4])]
    assert request["inputs"][0]["data"] == IDS.ravel().tolist()
    assert request["inputs"][1]["data"] == MASK.ravel().tolist()
    assert request["outputs"] == [{"name": "lens_embedding"}]


def test_a_binary_request_is_a_json_header_then_the_raw_little_endian_tensors():
    body, headers = encode_request(IDS.astype(np.int32), MASK, binary=True)  # any int dtype is sent as INT64
    split = int(headers[HEADER_LENGTH])
    header = json.loads(body[:split])
    assert headers["Content-Type"] == "application/octet-stream"
    assert [i["parameters"]["binary_data_size"] for i in header["inputs"]] == [64, 64]
    assert header["outputs"] == [{"name": "lens_embedding", "parameters": {"binary_data": True}}]
    raw = body[split:]
    assert np.array_equal(np.frombuffer(raw[:64], "<i8").reshape(2, 4), IDS)
    assert np.array_equal(np.frombuffer(raw[64:], "<i8").reshape(2, 4), MASK)


def test_responses_decode_to_float32_in_both_encodings():
    vectors = np.random.default_rng(0).random((2, 5), dtype=np.float32)
    assert np.array_equal(decode_response(_json_response(vectors), None, rows=2, k=5), vectors)
    body, length = _binary_response(vectors)
    assert np.array_equal(decode_response(body, length, rows=2, k=5), vectors)
    body, length = _binary_response(vectors, extra_first=True)
    decoded = decode_response(body, length, rows=2, k=5)
    assert decoded.dtype == np.float32 and np.array_equal(decoded, vectors)


@pytest.mark.parametrize("body, length, match", [
    (b"<html>502 Bad Gateway</html>", None, "not JSON"),
    (b'{"result": 1}', None, "no 'outputs' list"),
    (b'{"outputs": [{"name": "other", "datatype": "FP32", "shape": [2, 5], "data": []}]}', None,
     "no 'lens_embedding' output"),
    (_json_response(np.zeros((2, 5), np.float32), datatype="FP64"), None, "'FP64', expected FP32"),
    (_json_response(np.zeros((2, 4), np.float32)), None, r"shape \[2, 4\].*expected \[2, 5\]"),
    (_json_response(np.zeros((1, 5), np.float32)), None, r"expected \[2, 5\]"),
    (b'{"outputs": []}', "x", "not a number"),
    (b'{"outputs": []}', "999", "body has 15 bytes"),
])
def test_garbage_and_mismatched_responses_are_refused_saying_what_is_wrong(body, length, match):
    with pytest.raises(LensModelError, match=match):
        decode_response(body, length, rows=2, k=5)


def test_a_binary_output_cut_short_is_refused():
    body, length = _binary_response(np.zeros((2, 5), np.float32))
    with pytest.raises(LensModelError, match="has 36 bytes, expected 40"):
        decode_response(body[:-4], length, rows=2, k=5)


def test_the_model_config_gives_the_batch_limit_and_fingerprint_when_the_server_tells_them():
    config = {"max_batch_size": 64, "parameters": {"lens_fingerprint": {"string_value": "lens-abc"}}}
    info = parse_config(config)
    assert (info.max_batch_size, info.fingerprint) == (64, "lens-abc")
    assert parse_config({"max_batch_size": 0}).max_batch_size is None  # 0: the model does not batch
    assert parse_config({}).fingerprint is None
    with pytest.raises(LensModelError, match="not a JSON object"):
        parse_config([1])


def test_model_urls_name_a_model_and_bad_ones_say_what_a_url_looks_like():
    assert parse_model_url("http://h:8000/v2/models/lens") == ("http://h:8000", "http://h:8000/v2/models/lens")
    assert parse_model_url("https://h/prefix/v2/models/lens/versions/2/") == \
        ("https://h/prefix", "https://h/prefix/v2/models/lens/versions/2")
    for bad in ("h:8000/v2/models/lens", "http://h:8000", "http://h:8000/v2/models/", "ftp://h/v2/models/x", None):
        with pytest.raises(LensInputError, match="v2"):
            parse_model_url(bad)


def test_options_hide_the_token_and_headers_and_refuse_bad_values():
    options = RemoteOptions(token="s3cret-token", headers={"X-Api-Key": "k3y-value"})
    for text in (repr(options), str(options)):
        assert "s3cret" not in text and "k3y" not in text
        assert "token=<hidden>" in text and "headers=<1 hidden>" in text
    assert "hidden" not in repr(RemoteOptions())
    for bad in ({"timeout": 0}, {"connect_timeout": -1}, {"retries": -1}, {"retries": True}, {"max_connections": 0},
                {"backoff": -0.5}):
        with pytest.raises(LensInputError, match=next(iter(bad))):
            RemoteOptions(**bad)
