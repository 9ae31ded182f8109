"""Helpers for the end-to-end tests: SMTP and HTTP sinks on loopback, workers that can be killed."""
