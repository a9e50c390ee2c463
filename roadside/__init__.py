"""Simulated roadside units (RSUs) at signalised intersections: MAP at 1 Hz, SPAT at 10 Hz."""
