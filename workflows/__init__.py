"""Temporal workflows: deterministic, no I/O. Activities do every side effect."""
