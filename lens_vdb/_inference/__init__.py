"""The inference floor: texts in, LENS vectors out.

Holds text validation and tokenisation (``features``), the sparse form of vectors
(``sparse``), the result every backend loader returns (``loaded``), the torch backend and the
one place a backend name becomes a backend (``backends``), the ONNX Runtime backend
(``onnx_runtime``) and :class:`LensEncoder` (``encoder``).

May import: the floor below (``lens_vdb._errors``, ``_deps``, ``_files``, ``_instructions``)
and the model floor (``lens_vdb._model``). Never the connectors or the exporters. Importing this
package imports nothing.
"""
