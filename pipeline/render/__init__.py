"""Formats of a report: terminal, HTML, SVG charts, JUnit, Markdown (no SQL in here)."""
