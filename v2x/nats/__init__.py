"""NATS JetStream for zone scale: a cluster of NATS servers that devices publish to over MQTT
(:mod:`~v2x.nats.cluster`), where it keeps their uplink frames in partitions by sender and the
consumers the ingest workers read them through (:mod:`~v2x.nats.uplink`), and the ``v2x nats``
commands (:mod:`~v2x.nats.cli`)."""
