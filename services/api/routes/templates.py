"""The template editor's JSON API (`/v1/templates`); its HTML pages are services/api/pages/templates.py.

Every route needs the editor role: templates are what customers receive, so viewers (reports,
journeys) neither read nor change them. Saving validates against worst-case samples
(message_templates/checks.py) and answers 422 ``{"detail": [{"file", "line", "message"}]}``
without storing anything when a template is not fit to send.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from channel_models.vocabulary import Channel
from message_templates import TemplateRenderer
from services.api.auth import Principal, require_role
from services.api.deps import EngineDep, RowId, SettingsDep, VersionNumber
from services.messaging.delivery import Delivery, DeliveryError
from services.messaging.template_choice import variant_report
from services.messaging.template_editor import (
    LOCALE_PATTERN,
    VARIANT_PATTERN,
    Reason,
    Sample,
    SendTestRefused,
    preview,
    send_test_message,
    template_json,
    validate_and_save,
)
from services.messaging.templates_store import (
    VersionConflict,
    diff,
    get_template,
    history,
    list_templates,
)
from services.store.api_keys import now_utc
from services.store.tables import MessageTemplate
from services.store.test_sends import record_test_send, wait_before_next

router = APIRouter(prefix="/v1/templates", tags=["templates"])
Editor = Annotated[Principal, Depends(require_role("editor"))]
# The test send messages any address: a stolen or careless editor key must not become a mailer.
TEST_SENDS_PER_HOUR = 10
MAX_FILES = 10  # a template has at most 3 files; anything more is a mistake or an attack


class TemplateIn(BaseModel):
    channel: Channel
    reason: Reason
    locale: str = Field("en", pattern=LOCALE_PATTERN)
    variant: str = Field("A", pattern=VARIANT_PATTERN)
    sources: dict[str, str] = Field(
        max_length=MAX_FILES, description='file name -> source, e.g. {"sms/price.txt": "..."}'
    )
    note: str = Field("", max_length=500, description="what changed")
    activate: bool = Field(True, description="false: store as a draft, the active version stays")


class PreviewIn(BaseModel):
    channel: Channel
    reason: Reason
    sources: dict[str, str] = Field(max_length=MAX_FILES)
    sample: Sample = Sample()


class RollbackIn(BaseModel):
    note: str = Field("", max_length=500)


class TestSendIn(BaseModel):
    to: str = Field(max_length=320, description="your own e-mail address, phone number or push token")
    sample: Sample = Sample()


def get_delivery(request: Request) -> Delivery:
    """The provider for test sends (tests put a fake in app.state.test_delivery)."""
    return getattr(request.app.state, "test_delivery", None) or Delivery(request.app.state.settings)


def _renderer(settings) -> TemplateRenderer:
    return TemplateRenderer(settings.sms_max_segments)


def _row(session: Session, template_id: int) -> MessageTemplate:
    row = get_template(session, template_id)
    if row is None:
        raise HTTPException(404, f"template {template_id} not found")
    return row


def _invalid(problems: list[dict]) -> JSONResponse:
    return JSONResponse({"detail": problems}, status_code=422)


@router.get("", summary="Every template (channel x reason x locale x variant) with its active version")
def list_all(_: Editor, engine: EngineDep) -> dict[str, Any]:
    with Session(engine) as session:
        rows = list_templates(session)
        variants: dict[tuple, dict] = {}
        for row in rows:
            group = (row.channel, row.reason, row.locale)
            if group not in variants:
                variants[group] = {v["variant"]: v for v in variant_report(session, row)}
        return {
            "templates": [
                template_json(row, sources=False)
                | {"stats": variants[(row.channel, row.reason, row.locale)].get(row.variant)}
                for row in rows
            ]
        }


@router.post("", status_code=201, summary="Save a new version (validated; 422 lists the problems)")
def save(body: TemplateIn, principal: Editor, engine: EngineDep, settings: SettingsDep) -> Any:
    with Session(engine) as session:
        try:
            row, problems = validate_and_save(
                session,
                _renderer(settings),
                channel=body.channel,
                reason=body.reason,
                sources=body.sources,
                author=principal.name,
                note=body.note,
                locale=body.locale,
                variant=body.variant,
                activate=body.activate,
            )
        except VersionConflict as err:
            raise HTTPException(409, str(err)) from err
        return _invalid(problems) if row is None else template_json(row)


@router.post("/preview", summary="Render sources with a sample cart: parts, SMS segments, push lengths")
def preview_sources(body: PreviewIn, _: Editor, settings: SettingsDep) -> dict[str, Any]:
    return preview(settings, body.channel, body.reason, body.sources, body.sample)


@router.get("/diff", summary="Unified diff between two versions")
def diff_versions(_: Editor, engine: EngineDep, a: VersionNumber, b: VersionNumber) -> dict[str, Any]:
    with Session(engine) as session:
        old, new = _row(session, a), _row(session, b)
        if (old.channel, old.reason) != (new.channel, new.reason):
            raise HTTPException(400, "both versions must be of the same channel and reason")
        return {"a": template_json(old, sources=False), "b": template_json(new, sources=False), "diff": diff(old, new)}


@router.get("/{template_id}", summary="One version with its sources and its variants' results")
def get_one(template_id: RowId, _: Editor, engine: EngineDep) -> dict[str, Any]:
    with Session(engine) as session:
        row = _row(session, template_id)
        return template_json(row) | {"variants": variant_report(session, row)}


@router.get("/{template_id}/history", summary="Every version of this template, newest first")
def get_history(template_id: RowId, _: Editor, engine: EngineDep) -> dict[str, Any]:
    with Session(engine) as session:
        return {"versions": [template_json(r, sources=False) for r in history(session, _row(session, template_id))]}


@router.post(
    "/{template_id}/rollback", status_code=201, summary="Make a new active version with this version's sources"
)
def rollback_to(
    template_id: RowId, principal: Editor, engine: EngineDep, settings: SettingsDep, body: RollbackIn | None = None
) -> Any:
    with Session(engine) as session:
        old = _row(session, template_id)
        try:
            row, problems = validate_and_save(
                session,
                _renderer(settings),
                channel=old.channel,
                reason=old.reason,
                sources=old.sources,
                author=principal.name,
                note=(body.note if body else "") or f"rollback to v{old.version}",
                locale=old.locale,
                variant=old.variant,
            )
        except VersionConflict as err:
            raise HTTPException(409, str(err)) from err
        return _invalid(problems) if row is None else template_json(row)


@router.post(
    "/{template_id}/test-send", summary="Send this version, rendered with a sample and marked [TEST], to yourself"
)
def test_send(
    template_id: RowId,
    body: TestSendIn,
    editor: Editor,
    engine: EngineDep,
    settings: SettingsDep,
    delivery: Annotated[Delivery, Depends(get_delivery)],
) -> dict[str, Any]:
    sender = f"key:{editor.key_id}" if editor.key_id is not None else "bootstrap"
    with Session(engine) as session:
        row = _row(session, template_id)
        wait = wait_before_next(session, sender, now_utc(), limit=TEST_SENDS_PER_HOUR, per=timedelta(hours=1))
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(
            429,
            f"at most {TEST_SENDS_PER_HOUR} test messages an hour per key; the next in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    try:
        recipient, delivered = send_test_message(settings, delivery, row, body.to, body.sample)
    except SendTestRefused as err:
        raise HTTPException(400, str(err)) from err
    except DeliveryError as err:
        raise HTTPException(502, f"the {row.channel} provider refused the test message: {err}") from err
    with Session(engine) as session:
        record_test_send(session, sender, now_utc(), keep=timedelta(hours=1))
        session.commit()
    return {
        "status": "sent",
        "to": recipient,
        "provider": delivered.provider,
        "template": template_json(row, sources=False),
    }
