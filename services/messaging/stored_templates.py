"""Render a touch with the template the merchant made active, else the packaged default.

Stored versions are immutable, so each one is compiled once per worker and kept (LRU) by id.
A stored template passed the editor's checks on sample data; should it still fail on a real cart
(an odd product title, a longer name than any sample), the packaged default is sent instead and
the failure logged: a validated default beats a lost touch.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlmodel import Session

from message_templates import RenderedMessage, TemplateError, TemplateRenderer
from services.messaging.template_choice import choose_template
from services.messaging.templates_store import label
from services.store.tables import MessageTemplate, saved_id

log = logging.getLogger(__name__)


class StoredTemplates:
    def __init__(self, renderer: TemplateRenderer, cache_size: int = 128):
        self._renderer = renderer
        self._cache_size = cache_size
        self._bound: OrderedDict[int, Callable[[dict[str, Any]], RenderedMessage]] = OrderedDict()
        self._lock = threading.Lock()

    def render(
        self, session: Session, channel: str, reason: str, locale: str | None, context: dict[str, Any], seed: str
    ) -> tuple[RenderedMessage, MessageTemplate | None]:
        """The message and the stored version it came from (None: the packaged default)."""
        row = choose_template(session, channel, reason, locale, seed)
        if row is not None:
            try:
                return replace(self._compiled(row)(context), template=label(row)), row
            except TemplateError as err:
                log.error(
                    "stored template %s failed on a real message, sending the packaged default: %s", label(row), err
                )
        return self._renderer.render(channel, reason, context), None

    def _compiled(self, row: MessageTemplate) -> Callable[[dict[str, Any]], RenderedMessage]:
        key = saved_id(row)
        with self._lock:
            render = self._bound.get(key)
            if render is not None:
                self._bound.move_to_end(key)
                return render
        render = self._renderer.bind_source(row.channel, row.sources, row.reason)
        with self._lock:
            self._bound[key] = render
            while len(self._bound) > self._cache_size:
                self._bound.popitem(last=False)
        return render
