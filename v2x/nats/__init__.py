"""NATS JetStream for zone scale: a cluster of NATS servers that devices publish to over MQTT
(:mod:`~v2x.nats.cluster`) and the replicated stream that keeps their uplink frames
(:mod:`~v2x.nats.uplink`)."""
