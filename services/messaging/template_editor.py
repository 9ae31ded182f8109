"""What the template editor does, shared by the JSON API and the HTML pages: validate and save a
version, render a live preview with a chosen sample, send a test to the editor.

Errors leave here as ``[{"file", "line", "message"}]``, the shape of a 422 ``detail``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlmodel import Session

from channel_models.vocabulary import BUCKETS, REASONS
from message_templates import RenderedMessage, TemplateError, TemplateRenderer
from message_templates.checks import check_sources, parse_problems
from message_templates.context_limits import MAX_CART_LINES
from message_templates.renderer import source_names
from message_templates.samples import preview_context
from message_templates.validation import MAX_PUSH_BODY_CHARS, MAX_PUSH_TITLE_CHARS, sms_segments
from services.core.contacts import normalize_email, normalize_phone
from services.core.settings import Settings
from services.messaging.delivery import Delivered, Delivery
from services.messaging.templates_store import label, save_version
from services.store.tables import MessageTemplate

Reason = Literal[REASONS]  # type: ignore[valid-type]
Bucket = Literal[BUCKETS]  # type: ignore[valid-type]
LOCALE_PATTERN = r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$"
VARIANT_PATTERN = r"^[A-Z][A-Za-z0-9]{0,9}$"
PREVIEW_SEGMENT_LIMIT = 50  # preview still shows an SMS over budget, with the error beside it


class Sample(BaseModel):
    """The sample cart a preview or test send is rendered with."""

    reason: Reason | None = Field(None, description="defaults to the template's reason")
    bucket: Bucket = "Moderate"
    items: int = Field(2, ge=1, le=MAX_CART_LINES)
    longest: bool = Field(False, description="every name and item text as long as the webhooks admit")
    returning: bool = False
    locale: str = Field("en", pattern=LOCALE_PATTERN)
    incentive: Literal["auto", "none", "free_shipping", "discount"] = "auto"
    first_name: bool = True
    touch: int = Field(1, ge=1, le=10)


def problems_of(errors: list[TemplateError]) -> list[dict[str, Any]]:
    return [{"file": e.template, "line": e.line, "message": e.message} for e in errors]


def template_json(row: MessageTemplate, *, sources: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row.id,
        "channel": row.channel,
        "reason": row.reason,
        "locale": row.locale,
        "variant": row.variant,
        "version": row.version,
        "status": row.status,
        "author": row.author,
        "created_at": row.created_at,
        "note": row.note,
        "label": label(row),
    }
    if sources:
        data["sources"] = row.sources
    return data


def validate_and_save(
    session: Session,
    renderer: TemplateRenderer,
    *,
    channel: str,
    reason: str,
    sources: dict[str, str],
    author: str,
    note: str = "",
    locale: str = "en",
    variant: str = "A",
    activate: bool = True,
) -> tuple[MessageTemplate | None, list[dict[str, Any]]]:
    """The new version, or None and the problems (nothing is stored then)."""
    problems = check_sources(renderer, channel, reason, sources)
    if problems:
        return None, problems_of(problems)
    row = save_version(
        session,
        channel=channel,
        reason=reason,
        locale=locale,
        variant=variant,
        sources=sources,
        author=author,
        note=note,
        activate=activate,
    )
    return row, []


def sample_context(settings: Settings, sample: Sample, template_reason: str) -> dict[str, Any]:
    incentive = None if sample.incentive == "none" else sample.incentive
    context = preview_context(
        sample.reason or template_reason,
        sample.bucket,
        sample.items,
        sample.returning,
        sample.locale,
        incentive,
        first_name=sample.first_name,
        touch=sample.touch,
        longest=sample.longest,
    )
    # The merchant's own name and address where configured: the preview is of their e-mail.
    if settings.shop_address:
        context["shop"] = {
            "name": settings.shop_name,
            "address": settings.shop_address,
            "support_url": settings.support_url or None,
        }
    return context


def preview(settings: Settings, channel: str, reason: str, sources: dict[str, str], sample: Sample) -> dict[str, Any]:
    """Render ``sources`` with one sample: the parts, their sizes, and any problems."""
    expected = source_names(channel, reason)
    syntax = [
        TemplateError(f"unexpected file: a {channel} template for {reason!r} has {', '.join(expected)}", template=name)
        for name in sources
        if name not in expected
    ]
    syntax = syntax or [p for name, source in sources.items() for p in parse_problems(name, source)]
    result: dict[str, Any] = {
        "channel": channel,
        "errors": problems_of(syntax),
        "template": None,
        "subject": None,
        "html": None,
        "text": None,
        "payload": None,
        "sms": None,
        "push": None,
    }
    if syntax:
        return result
    lenient = TemplateRenderer(sms_max_segments=PREVIEW_SEGMENT_LIMIT)
    context = sample_context(settings, sample, reason)
    try:
        message = lenient.bind_source(channel, sources, reason)(context)
    except TemplateError as err:
        result["errors"] = problems_of([err])
        return result
    result.update(message_json(message))
    if channel == "sms":
        encoding, units, segments = sms_segments(message.text or "")
        result["sms"] = {
            "characters": len(message.text or ""),
            "encoding": encoding,
            "units": units,
            "segments": segments,
            "budget": settings.sms_max_segments,
        }
        if segments > settings.sms_max_segments:
            result["errors"].append(
                {
                    "file": f"sms/{reason}.txt",
                    "line": None,
                    "message": f"SMS needs {segments} segments ({units} {encoding} units), budget is {settings.sms_max_segments}",
                }
            )
    elif channel == "push":
        result["push"] = {
            "title_chars": len(message.subject or ""),
            "title_max": MAX_PUSH_TITLE_CHARS,
            "body_chars": len(message.text or ""),
            "body_max": MAX_PUSH_BODY_CHARS,
        }
    return result


def message_json(message: RenderedMessage) -> dict[str, Any]:
    return {
        "template": message.template,
        "subject": message.subject,
        "html": message.html,
        "text": message.text,
        "payload": message.payload,
    }


class SendTestRefused(Exception):
    pass


def send_test_message(
    settings: Settings, delivery: Delivery, row: MessageTemplate, to: str, sample: Sample
) -> tuple[str, Delivered]:
    """Render ``row`` with the sample and deliver it to ``to``, marked [TEST]. Returns the recipient."""
    recipient = _recipient(settings, row.channel, to)
    renderer = TemplateRenderer(settings.sms_max_segments)
    try:
        message = renderer.bind_source(row.channel, row.sources, row.reason)(
            sample_context(settings, sample, row.reason)
        )
    except TemplateError as err:
        raise SendTestRefused(f"the template does not render: {err}") from err
    if row.channel == "sms":
        message = replace(message, text=f"[TEST] {message.text}")
    else:
        message = replace(message, subject=f"[TEST] {message.subject}")
    return recipient, delivery.send(row.channel, recipient, message)


def _recipient(settings: Settings, channel: str, to: str) -> str:
    if channel == "retargeting":
        raise SendTestRefused("retargeting events go to an ad audience, not to a person: preview them instead")
    if not settings.channel_url(channel):
        raise SendTestRefused(f"the {channel} channel has no delivery URL configured (CR_{channel.upper()}_URL)")
    if channel == "email":
        recipient = normalize_email(to)
    elif channel == "sms":
        recipient = normalize_phone(to, settings.default_region)
    else:
        recipient = to.strip() or None
    if recipient is None:
        raise SendTestRefused(
            f"{to!r} is not a valid {'e-mail address' if channel == 'email' else 'phone number' if channel == 'sms' else 'push token'}"
        )
    return recipient
