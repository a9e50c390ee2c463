"""``python -m vehicles --run RUN --broker URL``: run the scenario's vehicles."""

from v2x.rundir import exit_stage
from v2x.simulator_main import simulator_main

from vehicles.simulator import build_vehicles

exit_stage(simulator_main("vehicles", build_vehicles))
