"""Our own plain-text part for HTML e-mails sent through apprise.

apprise builds an e-mail's text/plain alternative by converting the HTML, which drops link targets
(the recovery and unsubscribe URLs among them). Our templates render a proper text version, so the
converter apprise's e-mail plugin uses is wrapped: for an HTML body registered here it returns the
registered text, for anything else it converts as before. Keyed by the HTML's hash, so it works
whichever thread apprise sends from. tests/e2e checks the text part of real e-mails.
"""

from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager

from apprise import NotifyFormat
from apprise.plugins.email import base as email_plugin

_texts: dict[str, str] = {}
_lock = threading.Lock()
_original = email_plugin.convert_between


def _key(html: str) -> str:
    return hashlib.sha256(html.encode()).hexdigest()


def _convert_between(from_format, to_format, content, *args, **kwargs):
    if from_format == NotifyFormat.HTML and to_format == NotifyFormat.TEXT:
        with _lock:
            text = _texts.get(_key(content))
        if text is not None:
            return text
    return _original(from_format, to_format, content, *args, **kwargs)


email_plugin.convert_between = _convert_between


@contextmanager
def text_alternative(html: str, text: str | None):
    """While active, an e-mail whose HTML body is `html` gets `text` as its plain-text part."""
    if not text:
        yield
        return
    key = _key(html)
    with _lock:
        _texts[key] = text
    try:
        yield
    finally:
        with _lock:
            _texts.pop(key, None)
