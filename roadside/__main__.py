"""``python -m roadside --run RUN --broker URL``: run the scenario's RSUs."""

from v2x.device.simulator import simulator_main
from v2x.rundir import exit_stage

from roadside.simulator import build_rsus

exit_stage(simulator_main("roadside", build_rsus))
