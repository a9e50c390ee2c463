"""``python -m roadside --run RUN --broker URL``: run the scenario's RSUs."""

import sys

from v2x.simulator_main import simulator_main

from roadside.simulator import build_rsus

sys.exit(simulator_main("roadside", build_rsus))
