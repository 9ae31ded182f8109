"""Refuse, before any route reads it, a request no route could store: a NUL character in the URL
(raw or as %00), or a JSON body that breaks the bounds of services/core/bounds.py (nesting, number
length, NaN, NUL or an unpaired surrogate in a string).

No identifier, token or filter of ours can contain a NUL, PostgreSQL cannot even compare a text
with one, and neither database can store an unpaired surrogate: so this is one 400 / 422 for every
route instead of a check in each. Webhooks read their raw bodies through the same parser
themselves (their signature covers the exact bytes), so their bodies are left to them.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.bounds import BodyError, load_json

MAX_JSON_BODY_BYTES = 1_048_576  # editors' templates are the largest JSON bodies (100 KB per file)
_OWN_PARSERS = ("/webhooks/",)


class RequestGuard:
    """Pure ASGI middleware, like PageHeaders: no task per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await _answer(send, 400, "the URL contains a NUL character")
            return
        if not _json_body(scope) or scope["path"].startswith(_OWN_PARSERS):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_JSON_BODY_BYTES:
                await _answer(send, 413, f"body larger than {MAX_JSON_BODY_BYTES} bytes")
                return
        if body:
            try:
                load_json(body)
            except BodyError as err:
                if err.malformed:  # FastAPI answers malformed JSON itself, with its position
                    pass
                else:
                    await _answer(send, 422, [{"field": err.field, "message": err.message}])
                    return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _json_body(scope: Scope) -> bool:
    if scope["method"] not in ("POST", "PUT", "PATCH"):
        return False
    content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
    return content_type.split(b";")[0].strip().lower().endswith(b"json")


async def _answer(send: Send, status: int, detail) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
