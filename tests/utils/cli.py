"""The `cartrecovery` command in a process of its own, as a user runs it.

Not typer's CliRunner: it swaps `os.environ` for the length of a call, and calling setenv while the
Temporal core's native threads read the environment crashed a whole test run (SIGSEGV in CI).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    output: str  # stdout and stderr, interleaved as printed


def _command(args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-c", "from services.entrypoints.cli import app; app()", *args]


def _environ(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without its CR_ settings, a wide terminal, then `env`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CR_")}
    return inherited | {"COLUMNS": "160", "NO_COLOR": "1"} | env


async def run_cli(env: dict[str, str], *args: str) -> CliResult:
    process = await asyncio.create_subprocess_exec(
        *_command(args), cwd=ROOT, env=_environ(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return CliResult(process.returncode, out.decode())


def run_cli_sync(env: dict[str, str], *args: str) -> CliResult:
    done = subprocess.run(
        _command(args),
        cwd=ROOT,
        env=_environ(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=TIMEOUT_S,
        check=False,
    )
    return CliResult(done.returncode, done.stdout.decode())
