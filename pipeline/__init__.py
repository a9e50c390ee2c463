"""The ingest and everything after it: decode, ingest, SQL, report, render, harness (docs/design.md, "Layout").

It imports ``v2x`` and never a simulator (``roadside``, ``vehicles``).
"""
