"""Helpers shared by the tests: builders, sinks, the CLI in its own process."""
