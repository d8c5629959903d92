"""Vector-store connectors (``lens_vdb.connectors``): Qdrant and Milvus, built on the lens-vdb core."""
