"""Telemetry on S3-compatible object storage: a destination in a bucket (:mod:`~v2x.objectstore.bucket`),
a local SeaweedFS server for runs and tests (:mod:`~v2x.objectstore.server`) and the ``v2x s3``
commands (:mod:`~v2x.objectstore.cli`).  What is written there, and how a part commits without a
rename, is :mod:`pipeline.ingest.bucket_store`."""
