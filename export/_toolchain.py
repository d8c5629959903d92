"""What an export needs, checked before any work: Optimum's ONNX exporter and a transformers it supports.

The export extra (``pip install 'lens-vdb[export]'``) brings optimum-onnx, onnx, onnx-ir and
onnxruntime. optimum-onnx 0.1 supports transformers below 4.58 only, so under transformers 5 the
export cannot run; the graphs it writes run under any transformers (``lens-vdb[onnx]``).
"""

from __future__ import annotations

from importlib import metadata

from lens_vdb import LensDependencyError

__all__ = ["check_toolchain", "toolchain_problem", "EXPORT_TRANSFORMERS"]

# the transformers versions lens-vdb's export is tested with (optimum-onnx 0.1 allows >=4.36,<4.58)
EXPORT_TRANSFORMERS = ">=4.53,<4.58"
_PACKAGES = ("optimum-onnx", "onnx", "onnx-ir")
_RUNTIMES = ("onnxruntime", "onnxruntime-gpu")


def toolchain_problem() -> str | None:
    """Why an export cannot run in this environment, or ``None`` when it can."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    transformers = metadata.version("transformers")
    missing = [name for name in _PACKAGES if not _installed(name)]
    if not any(_installed(name) for name in _RUNTIMES):
        missing.append("onnxruntime")
    supported = EXPORT_TRANSFORMERS
    if "optimum-onnx" not in missing:  # the installed optimum-onnx says which transformers it supports
        wanted = [Requirement(r) for r in metadata.requires("optimum-onnx") or []]
        supported = next((str(r.specifier) for r in wanted if r.name == "transformers" and not r.marker), supported)
    fix = (f"Export in an environment with transformers{EXPORT_TRANSFORMERS} (a venv with "
           "pip install 'lens-vdb[export]' resolves transformers 4.57.x); the graph then runs anywhere, "
           "transformers 5 included, with lens-vdb[onnx]: LensEncoder(out_dir, backend='onnx').")
    if not Requirement(f"transformers{supported}").specifier.contains(Version(transformers), prereleases=True):
        return (f"lens_vdb.export runs on Optimum's ONNX exporter (optimum-onnx), which supports "
                f"transformers{supported} only; this environment has transformers {transformers}. {fix}")
    if missing:
        return (f"lens_vdb.export needs {', '.join(missing)}, not installed here. "
                "Install them with: pip install 'lens-vdb[export]'")
    return None


def check_toolchain() -> None:
    """Raise :class:`LensDependencyError` naming the versions and the extra that work, when an export cannot run."""
    problem = toolchain_problem()
    if problem is not None:
        raise LensDependencyError(problem)


def _installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True
