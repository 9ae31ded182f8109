"""`cartrecovery up` as a user runs it: API and worker in processes of their own under one
supervisor, a killed worker started again with its journeys going on, and SIGTERM stopping every
process it started within 10 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from services.core.signing import sign_generic
from tests.utils.cli import ROOT
from tests.utils.e2e.log_scan import remember
from tests.utils.e2e.sinks import HttpSink, free_port

pytestmark = pytest.mark.e2e

SECRET = "up-webhook-secret"
ADMIN = "Zq8vT3mW9xK2pL7nR4sY6bH1cJ5dF0gA"


def children(pid: int) -> dict[int, str]:
    """pid -> command line of the processes `pid` started."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = cmdline
    return found


def role_pids(pid: int, role: str) -> list[int]:
    return [child for child, cmd in children(pid).items() if cmd.rstrip().endswith(f"app() {role}")]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout} s")


def post_cart(api: str, cart_id: str) -> httpx.Response:
    event = {
        "type": "cart",
        "cart_id": cart_id,
        "contact": {"customer_id": f"c-{cart_id}", "phone": "+1 201 555 0142"},
        "consents": [{"channel": "sms", "state": "granted", "source": "checkbox"}],
        "total_value": "30.00",
        "items": [{"title": "Kettle", "quantity": 1, "price": "30.00"}],
        "recovery_url": "https://shop.example.com/r/1",
    }
    remember(event)
    body = json.dumps({"id": uuid.uuid4().hex, "shop": "up-shop", "event": event}).encode()
    stamp = str(int(time.time()))
    headers = {"X-Cartrecovery-Timestamp": stamp, "X-Cartrecovery-Hmac-Sha256": sign_generic(SECRET, body, stamp)}
    return httpx.post(f"{api}/webhooks/generic", content=body, headers=headers, timeout=30)


def test_up_supervises_its_processes_and_stops_them_all(tmp_path):
    port = free_port()
    with HttpSink() as sink:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CR_")} | {
            "CR_DATA_DIR": str(tmp_path / "data"),
            "CR_ADMIN_API_KEY": ADMIN,
            "CR_WEBHOOK_SECRET": SECRET,
            "CR_API_PORT": str(port),
            "CR_TEMPORAL_PORT": str(free_port()),
            "CR_TEMPORAL_UI_PORT": str(free_port()),
            "CR_SMS_URL": sink.url("sms?:to={to}"),
            "CR_TIME_SCALE": "3600",
            "CR_HOLDOUT_PERCENT": "0",
            "CR_POLICY": "rules",
            "CR_API_PROCESSES": "2",
            "CR_WORKER_PROCESSES": "2",
        }
        log = open(tmp_path / "up.log", "wb")
        up = subprocess.Popen(
            [sys.executable, "-c", "from services.entrypoints.cli import app; app()", "up"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        api = f"http://127.0.0.1:{port}"
        try:

            def healthy():
                try:
                    return httpx.get(f"{api}/healthz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(healthy, 90, "a healthy service")
            assert len(role_pids(up.pid, "api")) == 2
            workers = role_pids(up.pid, "worker")
            assert len(workers) == 2

            # both workers killed at once: `up` starts them again, and a journey goes on to its SMS
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            assert post_cart(api, "after-kill").status_code == 200
            wait_for(lambda: len(set(role_pids(up.pid, "worker")) - set(workers)) == 2, 30, "two new workers")
            wait_for(lambda: sink.on("/sms"), 90, "the journey's first SMS")
            started = children(up.pid)
        finally:
            began = time.monotonic()
            up.send_signal(signal.SIGTERM)
            try:
                status = up.wait(timeout=20)
            finally:
                up.kill()
                log.close()
            stopped_in = time.monotonic() - began
    assert stopped_in < 10, stopped_in
    assert status == 0, (tmp_path / "up.log").read_text()[-3000:]
    assert not [pid for pid in started if Path(f"/proc/{pid}").exists()], "a process outlived `up`"
