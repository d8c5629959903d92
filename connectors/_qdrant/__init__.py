"""Qdrant: :class:`QdrantConnector` (``connector``) over one of two stores, each implementing ``Store``.

    connector.py   QdrantConnector: picks the store from ``location``
    edge.py        EdgeStore: qdrant-edge, the embedded engine (a folder)
    client.py      ClientStore: qdrant-client (a server, or local mode)
    filters.py     metadata filters and deletes as Qdrant conditions, shared by both stores

Nothing is imported here: qdrant-edge and qdrant-client load only with the store that needs them.
"""
