"""xiqing-v2x: C-V2X test harness for the Tianjin (Xiqing) Internet-of-Vehicles pilot zone.

This package holds what every stage shares: the Day-I message set, the YD/T 3957 security
layer, MQTT (``mqtt``), the scenario model (``scenario``), what a simulated device does
(``device``), run orchestration and the ``v2x`` CLI.
It imports none of ``roadside``, ``vehicles`` or ``pipeline``.
"""

__version__ = "0.1.0"
