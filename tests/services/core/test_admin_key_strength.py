"""The bootstrap admin key opens everything, so `up` and `api` refuse to serve with a weak one."""

from __future__ import annotations

import secrets

import pytest

from services.core.settings import ConfigurationError, Settings, strong_enough


def serving(tmp_path, key: str) -> None:
    Settings(_env_file=None, data_dir=tmp_path, webhook_secret="s", admin_api_key=key).check_for_serving()


@pytest.mark.parametrize(
    "key",
    [
        "demo-admin-key-0123",  # the README's old demo key
        "admin-key-0123456789",
        "a" * 64,  # long, one character
        "0123456789" * 4,  # long, ten characters
    ],
)
def test_a_weak_admin_key_is_refused_with_how_to_make_one(tmp_path, key):
    assert not strong_enough(key)
    with pytest.raises(ConfigurationError) as refused:
        serving(tmp_path, key)
    assert "CR_ADMIN_API_KEY must be at least 32 characters" in str(refused.value)
    assert "secrets.token_urlsafe(32)" in str(refused.value)


def test_a_random_key_and_no_key_are_accepted(tmp_path):
    serving(tmp_path, secrets.token_urlsafe(32))
    serving(tmp_path, "")  # no bootstrap key: only the keys made with `cartrecovery keys create`


def test_the_cli_refuses_to_serve_with_a_weak_key(tmp_path):
    from tests.utils.cli import run_cli_sync

    env = {"CR_DATA_DIR": str(tmp_path), "CR_WEBHOOK_SECRET": "s", "CR_ADMIN_API_KEY": "demo-admin-key-0123"}
    result = run_cli_sync(env, "api")
    assert result.exit_code == 2
    assert "CR_ADMIN_API_KEY must be at least 32 characters" in result.output
