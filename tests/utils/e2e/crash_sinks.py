"""Delivery sinks for the crash tests that call back before answering, and which worker process sent a message."""

from __future__ import annotations

import email
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.utils.e2e.sinks import SmtpSink


# --- sinks that tell who sent what ---
class KillingSmtpSink(SmtpSink):
    """The e2e SMTP sink, plus `on_receive(peer)` called after it stored a message and before it
    answers `250`."""

    def __init__(self, on_receive=None):
        super().__init__()
        self.on_receive = on_receive or (lambda peer: None)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        self.on_receive(session.peer)
        return "250 Message accepted for delivery"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client killed mid-request is the point of this test, not an error


class KillingHttpSink:
    """An HTTP JSON gateway on loopback like `sinks.HttpSink` (it keeps `(path, headers, json)`),
    plus `on_receive(peer)` before it answers `200`. It does not deduplicate on Idempotency-Key:
    it counts what a provider without deduplication would deliver."""

    def __init__(self, on_receive=None):
        self.requests: list[tuple[str, dict, dict]] = []
        self.on_receive = on_receive or (lambda peer: None)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.requests.append((self.path, dict(self.headers), json.loads(body or b"{}")))
                sink.on_receive(self.client_address)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:  # the client was SIGKILLed while waiting for this answer
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()


def socket_owner(peer: tuple, pids: list[int]) -> int | None:
    """Which of `pids` owns the loopback TCP connection whose local end is `peer` (Linux /proc)."""
    port = f"{peer[1]:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[1].rsplit(":", 1)[1] == port:
                        inodes.add(f"socket:[{fields[9]}]")
        except OSError:
            continue
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None
