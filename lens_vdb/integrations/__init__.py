"""Framework integrations: ``lens_vdb.integrations.langchain`` and ``lens_vdb.integrations.llamaindex``.

Each module imports its framework when imported and fails with the extra to install if it is
missing; this package itself imports nothing heavy, and ``lens_vdb`` never imports it.
"""
