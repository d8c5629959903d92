"""MkDocs hooks: the source mirror the API reference is read from, and the extras table of the
getting-started page, read from pyproject.toml at build time, so the page lists the extras (and what
each brings) that the package really declares."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from mkdocs.plugins import event_priority

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the docs extra brings tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
MIRROR = ROOT / "build" / "api-src"  # mkdocs.yml: mkdocstrings' python handler reads it (paths)
MARKER = re.compile(r"<!-- extras-table:.*?-->")

# what each extra is for; an extra missing here is still listed, with its packages
PURPOSE = {
    "qdrant": "[`QdrantConnector`](reference/connectors.md): embedded Qdrant, or a server by URL",
    "milvus": "[`MilvusConnector`](reference/connectors.md): Milvus Lite, or a server by URI",
    "onnx": "`LensEncoder(..., backend=\"onnx\")` on ONNX Runtime; [`export_onnx`](reference/export.md)",
    "export": "[`export_onnx`](reference/export.md): the export toolchain",
    "gpu": "the CUDA and TensorRT providers (onnxruntime-gpu, not beside the CPU `onnxruntime`)",
    "export-gpu": "[`export_onnx`](reference/export.md) on a GPU machine, beside onnxruntime-gpu",
    "langchain": "[`lens_vdb.integrations.langchain`](reference/langchain.md)",
    "llamaindex": "[`lens_vdb.integrations.llamaindex`](reference/llamaindex.md)",
    "train": "[`lens_vdb.train`](reference/train.md) and [`lens_vdb.eval`](reference/eval.md)",
    "dense": "all-MiniLM-L6-v2, the default dense model of the connectors and the evaluation",
    "eval": "[`lens_vdb.eval`](reference/eval.md): IR measures with bootstrap intervals, BM25, the plot",
    "ray": "[ingesting at scale on Ray Data](guides/ray.md): `store.ingest(source, ray=RayOptions(...))`",
    "all": "every extra it lists",
    "test": "the test suite",
    "docs": "building this site, and the notebooks' plots",
}


@event_priority(100)  # before mkdocstrings' on_config, which keeps only the handler paths that exist then
def on_config(config):
    """Write build/api-src/lens_vdb: symlinks to lens_vdb/*, plus connectors/ and export/ where pip puts them
    (package-dir in pyproject), the layout griffe looks for. Written here, first, so that a fresh clone
    (no build/ yet) builds too: a path missing when mkdocstrings starts is dropped from its search."""
    if MIRROR.exists():
        shutil.rmtree(MIRROR)
    package = MIRROR / "lens_vdb"
    package.mkdir(parents=True)
    for item in (ROOT / "lens_vdb").iterdir():
        if item.name != "__pycache__":
            os.symlink(item, package / item.name)
    for name in ("connectors", "export"):
        os.symlink(ROOT / name, package / name)
    return config


def extras_table() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    rows = ["| extra | brings | for |", "|---|---|---|"]
    for name, requirements in project.get("optional-dependencies", {}).items():
        brings = ", ".join(f"`{requirement}`" for requirement in requirements)
        rows.append(f"| `{name}` | {brings} | {PURPOSE.get(name, '')} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER.search(markdown):
        return MARKER.sub(lambda _: extras_table(), markdown)
    return markdown


# Sphinx roles in docstrings (":class:`LensEncoder`") render as ":class:<code>LensEncoder</code>": keep the code
SPHINX_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):(?=<code>)")


def on_page_content(html: str, page, config, files) -> str:
    return SPHINX_ROLE.sub("", html)
