"""Simulated vehicles (OBUs) driving the scenario's corridor and broadcasting BSM at 10 Hz."""

from v2x.cache import place_kernel_cache

place_kernel_cache()  # numba's compiled kernels go to the user's cache, not into this package (v2x.cache)
