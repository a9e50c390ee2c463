"""xiqing-v2x: C-V2X test harness for the Tianjin (Xiqing) Internet-of-Vehicles pilot zone.

This package holds what every stage shares: the Day-I message set, the YD/T 3957 security
layer, the MQTT transport and topics, the broker, the scenario model and the ``v2x`` CLI.
It imports none of ``roadside``, ``vehicles`` or ``pipeline``.
"""

__version__ = "0.1.0"
