"""The LENS model floor: what a LENS model is, and how it is built, stored and loaded.

Holds the model config (``config``), the bidirectional/causal attention mask (``attention``),
lexicon pooling (``pooling``), the cluster-to-token map (``cluster_map``), the model itself
(``lens_model``), reading checkpoints from disk in lens-vdb's and the official layout
(``checkpoint``), building from a causal LM with k-means (``build``), LoRA merging (``lora``)
and the offline default model (``default``).

May import: the floor below (``lens_vdb._errors``, ``_deps``, ``_files``, ``_instructions``)
and itself. Never the inference floor, the connectors or the exporters. Importing this package
imports nothing: each module is imported where it is used.
"""
