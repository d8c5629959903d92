"""Milvus: :class:`MilvusConnector` (``connector``) over :class:`MilvusStore` (``store``), Lite or a server.

    connector.py   MilvusConnector
    store.py       MilvusStore: pymilvus' clients (sync and async), implementing ``Store``
    rows.py        records as Milvus rows and insert messages, filter expressions, the Lite file lock

Nothing is imported here: pymilvus loads with the store.
"""
