"""``python -m vehicles --run RUN --broker URL``: run the scenario's vehicles."""

from v2x.device.simulator import simulator_main
from v2x.rundir import exit_stage

from vehicles.simulator import build_vehicles

exit_stage(simulator_main("vehicles", build_vehicles))
