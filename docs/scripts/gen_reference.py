"""Write the Python API reference pages at build time, from each public package's ``__all__``.

Every public name is documented where it is defined (``lens_vdb.LensEncoder`` lives in
``lens_vdb._inference.encoder``): the packages load their names lazily, so griffe, which reads
the source without running it, cannot follow ``lens_vdb.connectors.QdrantConnector`` by itself.
Importing the package once here finds each definition, so a name added to (or removed from)
``__all__`` appears on (or leaves) its page with no edit to the docs.

``connectors/`` and ``export/`` are installed as ``lens_vdb.connectors`` and ``lens_vdb.export``
(package-dir in pyproject); griffe looks for them under ``lens_vdb/``, so griffe reads a mirror of
that layout, ``build/api-src``, which ``hooks.py`` writes when the build starts.
"""

from __future__ import annotations

import importlib
import inspect

import mkdocs_gen_files

# page -> (public module, one line on what it is)
PAGES = {
    "lens_vdb": ("lens_vdb", "The core: models, the encoder, sparse vectors, task instructions and errors."),
    "connectors": ("lens_vdb.connectors", "Qdrant and Milvus connectors: LENS and dense named vectors in one "
                                          "collection, bulk ingestion, hybrid search."),
    "export": ("lens_vdb.export", "ONNX export, validated against torch, for ONNX Runtime and TensorRT."),
    "langchain": ("lens_vdb.integrations.langchain", "LangChain embeddings, sparse embeddings and retriever."),
    "llamaindex": ("lens_vdb.integrations.llamaindex", "LlamaIndex embedding and sparse functions for Qdrant "
                                                       "hybrid mode."),
    "train": ("lens_vdb.train", "Training: InfoNCE with LoRA, as in the paper; the cheap CPU mode (top layers over cached lower layers); training pairs."),
    "eval": ("lens_vdb.eval", "The evaluation harness: BM25, MiniLM, LENS and hybrids on BBC News."),
}


def identifier(module_name: str, name: str) -> str:
    """Where ``module_name.name`` is defined, for mkdocstrings; values that are not classes or functions
    (``TASKS``) are imported explicitly, so griffe follows the public path itself."""
    obj = getattr(importlib.import_module(module_name), name)
    if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(obj, "__module__", None):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"{module_name}.{name}"


def public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    return [name for name in module.__all__ if not name.startswith("__")]


def write_pages() -> None:
    for page, (module_name, summary) in PAGES.items():
        lines = [f"# `{module_name}`", "", summary, "",
                 f"::: {module_name}", "    options:", "      members: false", "      show_root_heading: false", ""]
        for name in public_names(module_name):
            lines += [f"::: {identifier(module_name, name)}", "    options:", f"      heading: {name}", ""]
        with mkdocs_gen_files.open(f"reference/{page}.md", "w") as out:
            out.write("\n".join(lines))


write_pages()
