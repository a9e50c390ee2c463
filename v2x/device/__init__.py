"""Simulated devices: uplinks, schedule, publisher, attacks, faults and the simulator process."""
