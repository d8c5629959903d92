"""One vocabulary: the option names, their Literal types in the public signatures, one default backend."""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import get_args

import pytest

from lens_vdb import LensInputError
from lens_vdb import _vocabulary as vocabulary


def test_each_tuple_is_read_from_its_literal():
    for literal, values in ((vocabulary.BackendName, vocabulary.BACKENDS), (vocabulary.Fusion, vocabulary.FUSIONS),
                            (vocabulary.Precision, vocabulary.PRECISIONS), (vocabulary.Provider, vocabulary.PROVIDERS),
                            (vocabulary.ExportDtype, vocabulary.EXPORT_DTYPES),
                            (vocabulary.Quantization, vocabulary.QUANTIZATIONS)):
        assert values == get_args(literal)
    assert set(vocabulary.TORCH_DTYPE_NAMES) == set(vocabulary.PRECISIONS)


def test_bad_values_get_an_error_listing_the_valid_ones():
    from lens_vdb.eval import fuse

    with pytest.raises(LensInputError, match=r"fusion must be one of \('rrf', 'dbsf', 'weighted'\), got 'rff'"):
        fuse("rff", ({}, {}), depth=10, prefetch=50)
    from lens_vdb._inference.torch_backend import resolve_dtype

    with pytest.raises(LensInputError, match=r"dtype must be one of \('fp32', 'bf16', 'fp16'\)"):
        resolve_dtype("fp64", "cpu")
    from lens_vdb.train import TrainConfig

    with pytest.raises(LensInputError, match=r"precision must be one of \('auto', 'fp32', 'bf16', 'fp16'\)"):
        TrainConfig(precision="fp8")


def test_the_public_signatures_use_the_literal_types_and_the_one_default():
    from lens_vdb import LensEncoder
    from lens_vdb.integrations._shared import EncoderSettings

    encoder = inspect.signature(LensEncoder.__init__, eval_str=True).parameters
    assert encoder["backend"].annotation == vocabulary.BackendName
    assert encoder["backend"].default == vocabulary.DEFAULT_BACKEND == EncoderSettings().backend
    assert encoder["provider"].annotation == vocabulary.Provider | None
    from lens_vdb._cli_common import DEFAULT_ENCODER_BACKEND, ENCODER_BACKENDS

    assert (DEFAULT_ENCODER_BACKEND, ENCODER_BACKENDS) == (vocabulary.DEFAULT_BACKEND, vocabulary.BACKENDS)


def test_the_vocabulary_imports_nothing_heavy():
    code = "import sys, lens_vdb._vocabulary; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"
