"""What the renderer hands back, and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class TemplateError(Exception):
    """A template could not be rendered into a message that is safe to send.

    Raised for syntax errors, undefined variables, sandbox violations, resource limits and
    failed channel checks alike, so callers (the send activity, the template editor) need one
    ``except``. ``line`` and ``template`` point the editor at the offending spot when known.
    """

    def __init__(self, message: str, line: int | None = None, template: str | None = None):
        self.message = message
        self.line = line
        self.template = template
        super().__init__(message)

    def __str__(self) -> str:
        where = self.template or ""
        if self.line is not None:
            where = f"{where} line {self.line}".strip()
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class RenderedMessage:
    channel: str
    subject: str | None = None  # email subject line, push title
    html: str | None = None  # email only
    text: str | None = None  # email plain part, sms text, push body
    payload: dict[str, Any] | None = None  # retargeting only
    template: str = ""  # stem of the template used, e.g. "email/shipping_cost" or "sms/other"
