"""Every setting is documented where an operator looks for it, and the worker takes its own."""

from __future__ import annotations

from pathlib import Path

from services.core.settings import Settings
from services.entrypoints.worker import build_worker

ROOT = Path(__file__).resolve().parents[3]


def test_every_setting_is_in_the_readme_and_env_example():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    names = [f"CR_{name.upper()}" for name in Settings.model_fields]
    assert [n for n in names if f"`{n}`" not in readme] == []
    assert [n for n in names if n not in example] == []


async def test_worker_keeps_as_many_journeys_in_memory_as_configured(time_skipping_env, sqlite_engine, tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, worker_cached_workflows=1234)
    worker = build_worker(time_skipping_env.client, settings, sqlite_engine)
    assert worker.config()["max_cached_workflows"] == 1234
    assert Settings(_env_file=None, data_dir=tmp_path).worker_cached_workflows == 5000
