"""Settings, storage, platform adapters, delivery, HTTP API, CLI and the embedded runtime."""
