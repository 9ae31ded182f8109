"""The embedded Temporal dev server (`cartrecovery up`): starts on a fresh data directory, keeps
its database private, and is stopped on exit."""

from __future__ import annotations

import socket
import stat

from services.core.settings import Settings
from services.entrypoints.runtime import embedded_temporal
from tests.utils.e2e.sinks import free_port


def test_the_embedded_server_starts_on_a_fresh_data_dir_with_a_private_database(tmp_path):
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", temporal_port=free_port(), temporal_ui_port=free_port()
    )
    with embedded_temporal(settings) as address:
        host, port = address.split(":")
        with socket.create_connection((host, int(port)), timeout=5):
            pass
        database = settings.data_dir / "temporal.db"
        assert database.exists()
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", settings.temporal_port)) != 0  # stopped on exit
