"""Render a recovery message for one channel from sandboxed Jinja2 templates.

Files (the packaged defaults live in message_templates/defaults/; ``render_source`` overlays
editor-supplied sources on top of them, keyed by the same names):

    email/<reason>.subject     the subject line (one line; whitespace is collapsed)
    email/<reason>.html        extends email/base.html; autoescaped
    email/<reason>.txt         extends email/base.txt; the plain-text part
    sms/<reason>.txt           extends sms/base.txt; sent as one line (whitespace is collapsed)
    push/<reason>.title        the notification title (one line)
    push/<reason>.txt          extends push/base.txt; the notification body (one line)
    retargeting/<reason>.json  extends retargeting/base.json; a JSON object, values via |tojson

Each part is looked up as ``<channel>/<reason>.<ext>`` and falls back to
``<channel>/other.<ext>`` when that reason has no such file. Base layouts expose blocks that
reason files override: email ``preheader, greeting, intro, offer, items, cta, cta_label, help,
footer``; sms ``greeting, message, offer, link``; push ``summary, message, offer``; retargeting
``segment``.

Context. Every channel gets the same full context, and with StrictUndefined templates may use
only these keys (dicts are read with dots: ``cart.items``, ``item.title``)::

    shop:      {name: str, address: str (postal, one line), support_url: str | None}
    customer:  {first_name: str | None (None also when longer than 40 characters), is_returning: bool}
    cart:      {items: [{title, variant_title: str | None, quantity: int,
                         price: str, line_total: str, image_url: str | None}],
                total: str (plain decimal, e.g. "199.00"), currency: str (ISO 4217),
                item_count: int (sum of quantities), line_count: int (lines in the cart;
                `items` lists at most the first 10), recovery_url: str}
    reason:    str (shipping_cost | price | indecision | technical | other)
    touch:     int (1-based touch number)
    bucket:    str (Very low | Low | Moderate | High | Very high)
    incentive: None | {kind: "free_shipping" | "discount", code: str, percent: int | None}
    unsubscribe_url: str   (email)
    sms_opt_out: str       (sms, e.g. "Reply STOP to opt out")
    audience:  {hashed_email: str | None, hashed_phone: str | None}   (retargeting)

Templates may also use the test ``is gsm7`` (text fits the GSM-7 SMS alphabet).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import (
    BaseLoader,
    Environment,
    FileSystemLoader,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.sandbox import SecurityError

from channel_models.vocabulary import CHANNELS
from message_templates import limits
from message_templates.message import RenderedMessage, TemplateError
from message_templates.sandbox import TemplateSandbox
from message_templates.validation import (
    DEFAULT_SMS_SEGMENTS,
    is_gsm7,
    one_line,
    parse_retargeting,
    validate_email,
    validate_push,
    validate_sms,
)

DEFAULTS_DIR = Path(__file__).parent / "defaults"
FALLBACK_REASON = "other"
MAX_SOURCE_CHARS = 100_000  # one editor-supplied template file

# channel -> (message field, file extension); the first part names RenderedMessage.template.
_PARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "email": (("html", ".html"), ("text", ".txt"), ("subject", ".subject")),
    "sms": (("text", ".txt"),),
    "push": (("text", ".txt"), ("subject", ".title")),
    "retargeting": (("payload", ".json"),),
}
_REASON = re.compile(r"[a-z][a-z0-9_]{0,40}")


class _TemplateLoader(BaseLoader):
    """Editor sources first, then the packaged files; every template is named by its template
    name rather than its path, so errors read "email/price.html line 12"."""

    def __init__(self, directory: Path, sources: Mapping[str, str] | None = None):
        self.files = FileSystemLoader(str(directory))
        self.sources = dict(sources or {})
        self.used: set[str] = set()  # which editor sources a render actually loaded

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        if template in self.sources:
            self.used.add(template)
            return self.sources[template], template, lambda: True
        source, _path, uptodate = self.files.get_source(environment, template)
        return source, template, uptodate

    def list_templates(self) -> list[str]:
        return sorted(set(self.sources) | set(self.files.list_templates()))


class TemplateRenderer:
    """Renders and validates messages; one instance can be shared by all activities."""

    def __init__(self, sms_max_segments: int = DEFAULT_SMS_SEGMENTS, directory: Path = DEFAULTS_DIR):
        self.sms_max_segments = sms_max_segments
        self._directory = Path(directory)
        self._environment = self._make_environment()

    def render(self, channel: str, reason: str, context: dict[str, Any]) -> RenderedMessage:
        return self._render(self._environment, channel, reason, context)

    def render_source(self, channel: str, sources: dict[str, str], context: dict[str, Any]) -> RenderedMessage:
        """Render editor-supplied sources (e.g. ``{"sms/price.txt": "..."}``) over the defaults.

        The reason comes from ``context["reason"]``; parts not in ``sources`` use the defaults.
        """
        return self.bind_source(channel, sources, context.get("reason", FALLBACK_REASON))(context)

    def bind_source(
        self, channel: str, sources: dict[str, str], reason: str
    ) -> Callable[[dict[str, Any]], RenderedMessage]:
        """Compile editor sources once and render them for many contexts (validation over every
        sample, one stored version at send time). Files are looked up for ``reason``, whatever
        ``context["reason"]`` says: that is how the "other" template stands in for any reason."""
        _check_channel(channel)
        for name, source in sources.items():
            if not name.startswith(f"{channel}/"):
                raise TemplateError(f"template {name!r} does not belong to channel {channel!r}", template=name)
            if len(source) > MAX_SOURCE_CHARS:
                raise TemplateError(f"template is longer than {MAX_SOURCE_CHARS} characters", template=name)
        # An environment of its own: edited sources must never leak into other renders.
        environment = self._make_environment(sources)
        checked = False

        def render(context: dict[str, Any]) -> RenderedMessage:
            nonlocal checked
            message = self._render(environment, channel, reason, context)
            if not checked and sources and not environment.loader.used:  # type: ignore[union-attr]
                # Otherwise an editor previewing "sms/price.txt" with another reason silently sees
                # the default template and believes their edit works.
                raise TemplateError(
                    f"none of the given templates is used to render {channel} for reason {reason!r}",
                    template=next(iter(sources)),
                )
            checked = True
            return message

        return render

    def _make_environment(self, sources: Mapping[str, str] | None = None) -> TemplateSandbox:
        loader = _TemplateLoader(self._directory, sources)
        environment = TemplateSandbox(loader)
        environment.tests["gsm7"] = is_gsm7
        return environment

    def _render(
        self, environment: TemplateSandbox, channel: str, reason: str, context: dict[str, Any]
    ) -> RenderedMessage:
        _check_channel(channel)
        if not isinstance(reason, str) or not _REASON.fullmatch(reason):
            raise ValueError(f"invalid reason {reason!r}")
        parts: dict[str, str] = {}
        names: list[str] = []
        with limits.render_budget():  # one budget for all parts of the message
            for field, extension in _PARTS[channel]:
                name = f"{channel}/{reason}{extension}"
                try:
                    template = _pick(environment, name, f"{channel}/{FALLBACK_REASON}{extension}")
                    name = template.name or name
                    names.append(name)
                    parts[field] = _render_part(template, context)
                except TemplateError:
                    raise
                except Exception as exc:  # whatever a broken template raises: TypeError, ...
                    raise _as_template_error(exc, name) from exc
        stem = names[0].rsplit(".", 1)[0]
        try:
            return self._finish(channel, stem, parts, context)
        except TemplateError as exc:
            exc.template = exc.template or stem  # tell the editor which template failed its checks
            raise

    def _finish(self, channel: str, stem: str, parts: dict[str, str], context: dict[str, Any]) -> RenderedMessage:
        if channel == "email":
            subject, text = one_line(parts["subject"]), _tidy(parts["text"])
            validate_email(subject, parts["html"], text, context)
            return RenderedMessage(channel, subject=subject, html=parts["html"], text=text, template=stem)
        if channel == "sms":
            text = one_line(parts["text"])
            validate_sms(text, context, self.sms_max_segments)
            return RenderedMessage(channel, text=text, template=stem)
        if channel == "push":
            title, body = one_line(parts["subject"]), one_line(parts["text"])
            validate_push(title, body)
            return RenderedMessage(channel, subject=title, text=body, template=stem)
        return RenderedMessage(channel, payload=parse_retargeting(parts["payload"]), template=stem)


def source_names(channel: str, reason: str) -> tuple[str, ...]:
    """The editable files of one channel and reason, e.g. ``("sms/price.txt",)``."""
    _check_channel(channel)
    return tuple(f"{channel}/{reason}{extension}" for _field, extension in _PARTS[channel])


def _check_channel(channel: str) -> None:
    if channel not in _PARTS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")


def _pick(environment: TemplateSandbox, name: str, fallback: str) -> Template:
    try:
        return environment.get_template(name)
    except TemplateNotFound as exc:
        if exc.name != name:  # something else is missing; let the caller report it
            raise
        return environment.get_template(fallback)


def _render_part(template: Template, context: dict[str, Any]) -> str:
    # Streamed so an oversized template is stopped at the cap, not after building everything.
    chunks, size = [], 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > limits.MAX_OUTPUT_CHARS:
            raise TemplateError(f"output is larger than {limits.MAX_OUTPUT_CHARS} characters", template=template.name)
        chunks.append(chunk)
    return "".join(chunks)


def _tidy(text: str) -> str:
    """Plain text: no trailing spaces, at most one blank line in a row (left by empty blocks)."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def _template_position(tb: TracebackType | None) -> tuple[int | None, str | None]:
    """Line and template of the innermost template frame (Jinja rewrites those frames)."""
    line, name = None, None
    while tb is not None:
        frame_globals = tb.tb_frame.f_globals
        if "__jinja_exception__" in frame_globals:
            line, name = tb.tb_lineno, frame_globals.get("__file__")
        tb = tb.tb_next
    return line, name


def _as_template_error(exc: Exception, name: str) -> TemplateError:
    if isinstance(exc, TemplateSyntaxError):
        return TemplateError(f"syntax error: {exc.message}", exc.lineno, exc.name or name)
    line, where = _template_position(exc.__traceback__)
    if isinstance(exc, TemplateNotFound):
        message = f"template not found: {exc.name}"
    elif isinstance(exc, SecurityError):
        message = f"not allowed in templates: {exc}"
    elif isinstance(exc, UndefinedError):
        message = f"undefined variable: {exc}"
    elif isinstance(exc, RecursionError):
        message = "templates include or extend each other too deeply"
    elif isinstance(exc, MemoryError):
        message = "template needs too much memory"
    else:
        message = f"{type(exc).__name__}: {exc}"
    return TemplateError(message, line, where or name)
