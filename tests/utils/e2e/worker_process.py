"""cartrecovery workers as OS processes that a test can SIGKILL, forked from a warm parent.

    python -m tests.utils.e2e.worker_process

The process imports the worker's code once (about 2 s of CPU) and then serves as a fork server:
every line `spawn` on stdin forks a worker process, which connects to Temporal, builds the worker
with `services.entrypoints.worker.build_worker` and polls until it is killed. Starting a replacement for a
killed worker then costs milliseconds instead of seconds of imports. Settings come from the `CR_*`
environment (never from a `.env` file); `CR_TEMPORAL_ADDRESS` is the dev server and
`CR_E2E_LOG_DIR` where each worker writes its log.

Lines on stdout: `spawned <pid>`, `ready <pid>` (the worker is about to poll), `exited <pid> <status>`.
EOF on stdin ends the fork server, and the kernel ends its workers (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys

from services.core.logs import quiet_libraries

PR_SET_PDEATHSIG = 1


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())  # one write per line: lines from many processes never mix


def _reap(_signum, _frame) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _say(f"exited {pid} {status}")


async def _run_worker() -> None:
    from services.core.settings import Settings
    from services.entrypoints.runtime import connect
    from services.entrypoints.worker import build_worker
    from services.store.db import make_engine

    settings = Settings(_env_file=None)
    engine = make_engine(settings.database_url, create=False)
    client = await connect(settings, wait_s=30)
    worker = build_worker(client, settings, engine)
    _say(f"ready {os.getpid()}")
    await worker.run()


def _child(log_dir: str) -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the fork server's commands are not for the worker
    log = os.open(os.path.join(log_dir, f"worker-{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, force=True)  # every level is scanned
    quiet_libraries()  # as `cartrecovery worker` does
    try:
        asyncio.run(_run_worker())
    except BaseException:  # noqa: BLE001 - report, then leave without running the parent's cleanup
        logging.exception("worker %s failed", os.getpid())
        os._exit(1)
    os._exit(0)


def main() -> None:
    # Everything a worker imports, imported once here (no threads are running yet: fork is safe).
    import services.core.settings  # noqa: F401
    import services.entrypoints.runtime  # noqa: F401
    import services.entrypoints.worker  # noqa: F401
    import services.store.db  # noqa: F401

    log_dir = os.environ.get("CR_E2E_LOG_DIR", ".")
    signal.signal(signal.SIGCHLD, _reap)
    for line in sys.stdin:
        if line.strip() != "spawn":
            continue
        pid = os.fork()
        if pid == 0:
            _child(log_dir)
        _say(f"spawned {pid}")


if __name__ == "__main__":
    main()
