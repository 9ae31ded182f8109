"""Refuse a URL carrying a NUL character (raw or as %00) before any route reads it.

No identifier, token or filter of ours can contain one, and PostgreSQL cannot even compare a text
with it (psycopg raises before the query is sent), so this is a 400 for every route at once instead
of a check in each.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

_BODY = json.dumps({"detail": "the URL contains a NUL character"}).encode()


class RefuseNulInUrl:
    """Pure ASGI middleware, like PageHeaders: no task per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")):
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": _BODY})
            return
        await self.app(scope, receive, send)
