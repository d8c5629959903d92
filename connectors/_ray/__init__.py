"""The Ray runner: the ingestion of ``_ingest`` run on Ray Data (``ingest(..., ray=RayOptions(...))``).

    options.py   RayOptions: where it runs and what each encoder actor holds (no Ray import)
    ingest.py    the runner: read -> plan / id-lookup -> encoder actors -> writers, and its report
    cluster.py   joining the cluster a run names (probed first: fails fast), or starting a local runtime
    source.py    reading and planning (on the driver, or in Ray tasks for Datasets and Parquet)
    encode.py    the encoder actors (each rebuilds the connector's record builder by name)
    write.py     the writers (a Datasink on a server engine, the driver on an embedded one)
    rows.py      the Arrow rows passed between the stages

It receives the collection and the record builder, never the connector; no engine imports it.
Nothing is imported here: Ray loads only when a distributed ingestion runs.
"""
