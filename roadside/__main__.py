"""``python -m roadside --run RUN --broker URL``: run the scenario's RSUs."""

from v2x.rundir import exit_stage
from v2x.simulator_main import simulator_main

from roadside.simulator import build_rsus

exit_stage(simulator_main("roadside", build_rsus))
