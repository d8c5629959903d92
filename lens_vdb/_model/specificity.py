"""How specific each lexicon dimension is: an IDF over a reference corpus, kept beside the model.

A LENS vector is dense in the generic clusters (``the/a/an``, ``is/in/at``, single letters, ``present/current``):
they sit in the top of nearly every document's vector, so a match's heaviest shared clusters are
mostly those, and say nothing about why this document matched. Their document frequency over a
reference corpus says so: ``idf[c] = log(N / (1 + df[c]))`` (floored at 0), where ``df[c]`` counts the
documents that have cluster ``c`` among their :data:`ACTIVE_TOP` heaviest dimensions. Explanations
weight each shared cluster by it (:func:`lens_vdb.LensEncoder.explain_match`); the vectors themselves
never change. ``lens-vdb calibrate --save`` measures it on the calibration corpus' documents; the
default model ships one measured on the Debian held-out split (not BBC News).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._errors import LensInputError, LensModelError

__all__ = ["SPECIFICITY_FILE", "ACTIVE_TOP", "measure_specificity", "save_specificity", "read_specificity"]

SPECIFICITY_FILE = "lens_cluster_idf.safetensors"
ACTIVE_TOP = 256  # a cluster is "in" a document when it is among the document vector's 256 heaviest


def measure_specificity(document_vectors: np.ndarray) -> np.ndarray:
    """The IDF of each of the ``k`` clusters over ``[documents, k]`` LENS vectors (float32, ``k`` values >= 0)."""
    vectors = np.asarray(document_vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) < 20:
        raise LensInputError(f"Measuring cluster specificity needs the LENS vectors of at least 20 documents, "
                             f"[documents, k]; got shape {vectors.shape}.")
    top = np.argpartition(-vectors, min(ACTIVE_TOP, vectors.shape[1] - 1), axis=1)[:, :ACTIVE_TOP]
    frequency = np.bincount(top.ravel(), minlength=vectors.shape[1]).astype(np.float64)
    return np.log(len(vectors) / (1.0 + frequency)).clip(min=0).astype(np.float32)


def save_specificity(directory: str | Path, idf: np.ndarray, *, measured_on: str) -> Path:
    """Write the IDF beside a model (safetensors, with where it was measured)."""
    from safetensors.numpy import save_file

    path = Path(directory) / SPECIFICITY_FILE
    staging = path.with_name(f".{SPECIFICITY_FILE}.tmp")
    save_file({"idf": np.ascontiguousarray(idf, dtype=np.float32)}, str(staging), metadata={"measured_on": measured_on})
    staging.replace(path)
    return path


def read_specificity(directory: str | Path | None, k: int) -> np.ndarray | None:
    """The IDF kept beside a model (``None`` where there is none); a damaged or misfit file is an error naming it."""
    if directory is None or not (Path(directory) / SPECIFICITY_FILE).is_file():
        return None
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(directory) / SPECIFICITY_FILE
    try:
        idf = load_file(str(path)).get("idf")
    except (OSError, SafetensorError) as exc:
        raise LensModelError(f"Cannot read {path}: {exc}. Measure it again with `lens-vdb calibrate --save`, or "
                             "delete it (explanations then rank shared clusters by weight alone).") from None
    if idf is None or idf.shape != (k,) or not np.isfinite(idf).all():
        raise LensModelError(f"{path} does not hold {k} finite cluster weights (got "
                             f"{None if idf is None else idf.shape}); measure it again with `lens-vdb calibrate --save`.")
    return idf
