"""The ingest: receiver, batch stage, msgCnt continuity, signer rules and the Parquet store."""

from v2x.cache import place_kernel_cache

place_kernel_cache()  # numba's compiled kernels go to the user's cache, not into this package (v2x.cache)
