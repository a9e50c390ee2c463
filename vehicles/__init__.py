"""Simulated vehicles (OBUs) driving the scenario's corridor and broadcasting BSM at 10 Hz."""
