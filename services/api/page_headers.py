"""Security headers on every HTML page the service serves (sign-in, dashboard, editor,
unsubscribe): a Content-Security-Policy that allows only our own scripts and no framing, so a
page can neither run injected script nor be clickjacked inside another site.

Styles may be inline and images may come from any https host: the editor's e-mail preview (a
sandboxed iframe, which inherits this policy) shows the shop's own HTML with its product images.
FastAPI's /docs and /redoc load their UI from a CDN and are left as they are.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class PageHeaders:
    """Pure ASGI middleware (no per-request task, unlike BaseHTTPMiddleware: webhooks stay cheap)."""

    def __init__(self, app: ASGIApp, exempt: tuple[str, ...] = ("/docs", "/redoc")) -> None:
        self.app = app
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    present = {k.lower() for k, _ in headers}
                    headers += [(k, v) for k, v in PAGE_HEADERS if k not in present]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
