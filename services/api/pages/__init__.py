"""Server-rendered HTML pages: one Jinja2 environment for the trusted templates in services/api/pages/html/.

These templates are ours, not shop-authored, so a normal (non-sandboxed) environment with
autoescape is right here; shop-authored message templates go through their own sandbox.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.api.sessions import csrf_token

PAGES_DIR = Path(__file__).resolve().parent / "html"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

templates_env = Environment(
    loader=FileSystemLoader(PAGES_DIR),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_page(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    """Render services/api/pages/html/<name> with `request`, `principal` (or None) and `csrf_token` in scope.

    Every form that changes state must carry `<input type="hidden" name="csrf_token" value="{{ csrf_token }}">`.
    """

    context.setdefault("principal", getattr(request.state, "principal", None))
    context.setdefault("csrf_token", csrf_token(request))
    html = templates_env.get_template(name).render(request=request, **context)
    response = HTMLResponse(html, status_code=status_code)
    response.headers.setdefault("Cache-Control", "no-store")
    return response
