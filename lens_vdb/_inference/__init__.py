"""The inference floor: texts in, LENS vectors out.

Holds text validation and tokenisation (``features``), the sparse form of vectors
(``sparse``), the result every backend loader returns (``loaded``), the torch backend
(``torch_backend``), the ONNX Runtime backend (``onnx_runtime``), the one place a backend name
becomes a backend (``backends``), ``backend="auto"`` (``auto``: measuring the candidates with
``calibration``, predicting graphs not exported yet with ``gemm_proxy``, keeping what it learnt
with ``auto_cache``, asking for a graph through ``exporters``), the remote backend (``remote``: a
graph served over KServe v2, called with httpx; its messages in ``remote_protocol``, its options in
``remote_options``) and :class:`LensEncoder` (``encoder``; its asyncio methods in ``encoder_async``,
the reading of a vector's dimensions in ``explain``).

May import: the floor below (``lens_vdb._errors``, ``_deps``, ``_files``, ``_instructions``,
``_machine``) and the model floor (``lens_vdb._model``). Never the connectors or the exporters
(``auto`` finds an exporter through an entry point). Importing this package imports nothing.
"""
