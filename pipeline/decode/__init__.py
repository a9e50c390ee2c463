"""Decoding: the YD/T 3957 envelope and the UPER message contents, numba kernels and their asn1tools twins."""

from v2x.cache import place_kernel_cache

place_kernel_cache()  # numba's compiled kernels go to the user's cache, not into this package (v2x.cache)
