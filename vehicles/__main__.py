"""``python -m vehicles --run RUN --broker URL``: run the scenario's vehicles."""

import sys

from v2x.simulator_main import simulator_main

from vehicles.simulator import build_vehicles

sys.exit(simulator_main("vehicles", build_vehicles))
