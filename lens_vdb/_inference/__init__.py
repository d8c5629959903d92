"""The inference floor: texts in, LENS vectors out.

Holds text validation and tokenisation (``features``), the sparse form of vectors
(``sparse``), the result every backend loader returns (``loaded``), the torch backend
(``torch_backend``), the ONNX Runtime backend (``onnx_runtime``), the one place a backend name
becomes a backend (``backends``), ``backend="auto"`` (``auto``: measuring the candidates with
``calibration``, predicting graphs not exported yet with ``gemm_proxy``, keeping what it learnt
with ``auto_cache``, asking for a graph through ``exporters``) and :class:`LensEncoder`
(``encoder``).

May import: the floor below (``lens_vdb._errors``, ``_deps``, ``_files``, ``_instructions``,
``_machine``) and the model floor (``lens_vdb._model``). Never the connectors or the exporters
(``auto`` finds an exporter through an entry point). Importing this package imports nothing.
"""
