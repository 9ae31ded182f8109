"""Per-channel checks a rendered message must pass before it may be sent.

They catch what a template editor can break without a syntax error: an email without its
unsubscribe link or postal address (required by CAN-SPAM / most EU rules), an SMS without its
opt-out text or one that costs more segments than budgeted, a push text the OS will truncate, a
retargeting event that leaks an email address or phone number to an ad platform.

Push limits: title 65 characters, body 240 characters. Android shows about 65 characters of a
title on one line, and iOS / Android cut the collapsed body at roughly 4 lines (~240
characters); beyond that the copy is simply not read.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from markupsafe import escape

from message_templates.message import TemplateError

MAX_SUBJECT_CHARS = 200
MAX_PUSH_TITLE_CHARS = 65
MAX_PUSH_BODY_CHARS = 240
DEFAULT_SMS_SEGMENTS = 2

# GSM 03.38 default alphabet and its extension table (each extension character is sent as
# ESC + character, so it costs two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

# A run of 8-15 digits, optionally with a leading + and the usual separators, not glued to
# letters (so hex digests and product codes do not match).
_PHONE_LIKE = re.compile(r"(?<![\w+])\+?\(?\d(?:[\s().-]{0,2}\d){7,14}(?!\w)")


def is_gsm7(text: str) -> bool:
    """True when ``text`` can be sent in the GSM-7 alphabet (exposed to templates as ``is gsm7``)."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def _parts(costs: list[int], single: int, multi: int) -> int:
    if sum(costs) <= single:
        return 1
    # A concatenated SMS never splits an escape sequence or a surrogate pair between parts.
    parts, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            parts, used = parts + 1, 0
        used += cost
    return parts


def sms_segments(text: str) -> tuple[str, int, int]:
    """Return ``(encoding, units, segments)`` for an SMS body.

    GSM-7: 160 septets in a single message, 153 per part of a concatenated one; extension
    characters take two. Any other character forces UCS-2: 70 UTF-16 code units single, 67 per
    part (an emoji outside the BMP is two code units).
    """
    if is_gsm7(text):
        costs = [2 if char in GSM7_EXTENSION else 1 for char in text]
        return "GSM-7", sum(costs), _parts(costs, 160, 153)
    costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return "UCS-2", sum(costs), _parts(costs, 70, 67)


def one_line(text: str) -> str:
    """Subjects and titles: collapse whitespace, so a merge field cannot inject a header line."""
    return " ".join(text.split())


def _contains(html: str, value: str) -> bool:
    return value in html or str(escape(value)) in html


def validate_email(subject: str, html: str, text: str, context: dict[str, Any]) -> None:
    if not subject:
        raise TemplateError("email subject is empty")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise TemplateError(f"email subject is {len(subject)} characters (max {MAX_SUBJECT_CHARS})")
    unsubscribe, address = context["unsubscribe_url"], context["shop"]["address"]
    for part, body, found in (("HTML", html, _contains), ("text", text, str.__contains__)):
        if not found(body, unsubscribe):
            raise TemplateError(f"email {part} part must contain the unsubscribe link")
        if not found(body, address):
            raise TemplateError(f"email {part} part must contain the shop's postal address")


def validate_sms(text: str, context: dict[str, Any], max_segments: int = DEFAULT_SMS_SEGMENTS) -> None:
    opt_out = context["sms_opt_out"]
    if not text:
        raise TemplateError("SMS text is empty")
    if opt_out not in text:
        raise TemplateError(f"SMS must contain the opt-out text {opt_out!r}")
    encoding, units, segments = sms_segments(text)
    if segments > max_segments:
        raise TemplateError(
            f"SMS needs {segments} segments ({units} {encoding} units), budget is {max_segments}; "
            "shorten the text" + (" or avoid characters outside GSM-7" if encoding == "UCS-2" else "")
        )


def validate_push(title: str, body: str) -> None:
    if not title or not body:
        raise TemplateError("push notification needs a title and a body")
    if len(title) > MAX_PUSH_TITLE_CHARS:
        raise TemplateError(f"push title is {len(title)} characters (max {MAX_PUSH_TITLE_CHARS})")
    if len(body) > MAX_PUSH_BODY_CHARS:
        raise TemplateError(f"push body is {len(body)} characters (max {MAX_PUSH_BODY_CHARS})")


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _is_timestamp(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_retargeting(text: str) -> dict[str, Any]:
    """Parse the audience event and make sure no raw contact data slipped into it."""
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        raise TemplateError(f"retargeting payload is not valid JSON: {exc}", line) from exc
    if not isinstance(payload, dict):
        raise TemplateError("retargeting payload must be a JSON object")
    for value in _strings(payload):
        if "@" in value:
            raise TemplateError("retargeting payload must not contain '@' (raw email address?)")
        if _PHONE_LIKE.search(value) and not _is_timestamp(value):
            raise TemplateError("retargeting payload must not contain phone numbers")
    return payload
