"""Decoding: the YD/T 3957 envelope and the UPER message contents, numba kernels and their asn1tools twins."""
