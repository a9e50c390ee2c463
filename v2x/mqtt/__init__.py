"""MQTT: wire format, publish and subscribe connections, topics, broker addresses, the broker process and its access control."""
