"""The names lens-vdb's options take, written once: backends, precisions, providers, export options, fusions.

Each option is a ``Literal`` type (what the public signatures say, so a type checker catches
``fusion="rff"``), the tuple of its values (for ``--help``, ``choices=`` and error messages, read
from the Literal so the two cannot drift) and :func:`check_choice`, the run-time check whose
error lists the valid values. Importing this module imports nothing heavy (no torch): the CLI
checks its arguments with it before any model loads.

The default backend is ``"torch"`` (:data:`DEFAULT_BACKEND`), everywhere an encoder is made: the
encoder, the LangChain and LlamaIndex classes, the CLI, the connectors (a model named to them). Torch fp32 is the
exact model, the reference every other backend is checked against; it needs only the core
install; and it measures, exports and writes nothing on first use. ``"auto"`` (the fastest of
torch fp32/bf16 and the ONNX graphs, measured on this machine once per model and cached beside
it) is one keyword away for throughput: ``backend="auto"``, ``--backend auto``. ``lens-vdb demo``
names ``auto`` itself: a fixed job shown at its fastest, its own explicit choice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal, TypeVar, get_args

from ._errors import LensInputError

__all__ = [
    "BackendName", "BACKENDS", "DEFAULT_BACKEND",
    "Precision", "PRECISIONS", "TORCH_DTYPE_NAMES", "TrainPrecision", "TRAIN_PRECISIONS",
    "Provider", "PROVIDERS",
    "ExportDtype", "EXPORT_DTYPES", "Quantization", "QUANTIZATIONS",
    "Fusion", "FUSIONS", "DEFAULT_FUSION", "DEFAULT_RRF_K", "NAMED_SETS",
    "check_choice",
]

# the encoder's backends: "auto" measures the others on this machine and loads the fastest; "remote" calls a
# server that runs the exported graph (url=), see lens_vdb._inference.remote
BackendName = Literal["auto", "torch", "onnx", "remote"]
BACKENDS: Final[tuple[BackendName, ...]] = get_args(BackendName)
DEFAULT_BACKEND: Final[BackendName] = "torch"  # why: the module docstring

# the torch backend's precisions (fp16 on CUDA only), and the torch.dtype attribute each names
Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: Final[tuple[Precision, ...]] = get_args(Precision)
TORCH_DTYPE_NAMES: Final[dict[Precision, str]] = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
# training's autocast precision: "auto" is bf16 on CUDA (fp16 where bf16 is missing), fp32 on the CPU
TrainPrecision = Literal["auto", "fp32", "bf16", "fp16"]
TRAIN_PRECISIONS: Final[tuple[TrainPrecision, ...]] = get_args(TrainPrecision)

# ONNX Runtime's execution providers for backend="onnx"
Provider = Literal["cpu", "cuda", "tensorrt"]
PROVIDERS: Final[tuple[Provider, ...]] = get_args(Provider)

# lens_vdb.export's graph precisions and quantizations
ExportDtype = Literal["fp32", "fp16"]
EXPORT_DTYPES: Final[tuple[ExportDtype, ...]] = get_args(ExportDtype)
Quantization = Literal["int8", "int8-dynamic"]
QUANTIZATIONS: Final[tuple[Quantization, ...]] = get_args(Quantization)

# how hybrid search fuses the LENS and dense rankings (the evaluation harness fuses alike)
Fusion = Literal["rrf", "dbsf", "weighted"]
FUSIONS: Final[tuple[Fusion, ...]] = get_args(Fusion)
DEFAULT_FUSION: Final[Fusion] = "rrf"
DEFAULT_RRF_K: Final[int] = 60  # RRF's constant: each route adds 1 / (k + rank)

# the offline evaluation sets by name (lens-vdb eval / calibrate --dataset): BBC News, the Perl FAQ whole, and the
# FAQ's two fixed halves (a fusion calibrated on one is reported on the other), see lens_vdb.eval.named_corpus
NAMED_SETS: Final = ("bbc-news", "perl-faq", "perl-faq-calibration", "perl-faq-evaluation")


_Choice = TypeVar("_Choice")


def check_choice(value: object, allowed: Iterable[_Choice], name: str) -> _Choice:
    """``value`` if it is one of ``allowed`` (typed as them: a checked ``str`` comes back a ``Fusion``);
    else a :class:`LensInputError` naming ``name`` and listing them.

    ``check_choice("rff", FUSIONS, "fusion")`` raises "fusion must be one of ('rrf', 'dbsf',
    'weighted'), got 'rff'".
    """
    choices = tuple(allowed)
    for choice in choices:
        if value == choice:
            return choice
    raise LensInputError(f"{name} must be one of {choices}, got {value!r}")
