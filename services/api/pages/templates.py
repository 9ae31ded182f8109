"""The template editor's pages: the list, the editor with its live preview, history and diff.

Server-rendered and usable without JavaScript (the first preview is rendered here, saving and
rolling back are plain forms with the CSRF field); services/api/static/editor.js re-renders the
preview as the editor types, through `POST /v1/templates/preview` with the session cookie and
the `X-CSRF-Token` header. Element ids are stable for browser tests: `#source-<file with - for
/ and .>`, `#sample-*`, `#preview`, `#errors`, `#sms-count`, `#rollback-<version>`, `#diff`.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from channel_models.learning.variants import MIN_SENDS
from channel_models.vocabulary import BUCKETS, REASONS
from message_templates import TemplateRenderer
from message_templates.context_limits import MAX_CART_LINES
from message_templates.samples import SAMPLE_LOCALES
from services.api.auth import Principal
from services.api.deps import EngineDep, RowId, SettingsDep, VersionNumber
from services.api.pages import render_page
from services.api.pages.access import require_page_role
from services.messaging.template_choice import variant_report
from services.messaging.template_editor import VARIANT_PATTERN, Sample, preview, template_json, validate_and_save
from services.messaging.templates_store import (
    VersionConflict,
    diff,
    get_template,
    history,
    list_templates,
)

router = APIRouter(prefix="/templates", tags=["template editor pages"], include_in_schema=False)
EditorPage = Annotated[Principal, Depends(require_page_role("editor"))]


async def form_data(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(form_data)]


def element_id(name: str) -> str:
    """ "email/price.html" -> "source-email-price-html"."""
    return "source-" + name.replace("/", "-").replace(".", "-")


def _row(session: Session, template_id: int):
    row = get_template(session, template_id)
    if row is None:
        raise HTTPException(404, f"template {template_id} not found")
    return row


@router.get("", summary="Templates with their active version and variant results")
def list_page(request: Request, _: EditorPage, engine: EngineDep) -> Response:
    with Session(engine) as session:
        rows = list_templates(session)
        stats: dict[tuple, dict] = {}
        for row in rows:
            group = (row.channel, row.reason, row.locale)
            if group not in stats:
                stats[group] = {v["variant"]: v for v in variant_report(session, row)}
        items = [(row, stats[(row.channel, row.reason, row.locale)].get(row.variant)) for row in rows]
    return render_page(request, "templates_list.html", items=items, min_sends=MIN_SENDS)


def _edit_page(
    request: Request,
    engine,
    settings,
    template_id: RowId,
    *,
    sources=None,
    errors=(),
    note="",
    variant=None,
    status_code=200,
) -> Response:
    with Session(engine) as session:
        row = _row(session, template_id)
        versions = history(session, row)
        variants = variant_report(session, row)
    sources = sources if sources is not None else row.sources
    first = preview(settings, row.channel, row.reason, sources, Sample())
    return render_page(
        request,
        "template_edit.html",
        status_code=status_code,
        row=row,
        versions=versions,
        variants=variants,
        files=[(name, element_id(name), sources.get(name, "")) for name in sorted(row.sources)],
        errors=list(errors),
        preview=first,
        note=note,
        variant=variant or row.variant,
        reasons=REASONS,
        buckets=BUCKETS,
        locales=sorted(SAMPLE_LOCALES),
        saved=request.query_params.get("saved"),
        template=template_json(row, sources=False),
        sms_budget=settings.sms_max_segments,
        max_cart_lines=MAX_CART_LINES,
    )


@router.get("/diff", summary="Diff between two versions")
def diff_page(request: Request, _: EditorPage, engine: EngineDep, a: VersionNumber, b: VersionNumber) -> Response:
    with Session(engine) as session:
        old, new = _row(session, a), _row(session, b)
        text = diff(old, new)
    return render_page(request, "template_diff.html", old=old, new=new, lines=text.splitlines())


@router.get("/{template_id}/edit", summary="The editor")
def edit_page(
    request: Request, template_id: RowId, _: EditorPage, engine: EngineDep, settings: SettingsDep
) -> Response:
    return _edit_page(request, engine, settings, template_id)


@router.post("/{template_id}/edit", summary="Save a new version from the editor form")
async def save_from_form(
    request: Request, template_id: RowId, principal: EditorPage, engine: EngineDep, settings: SettingsDep, form: Form
) -> Response:
    def save() -> Response:
        with Session(engine) as session:
            row = _row(session, template_id)
            sources = {name: str(form.get(name, "")).replace("\r\n", "\n") for name in row.sources}
            note = str(form.get("note", ""))[:500]
            variant = str(form.get("variant", row.variant)).strip() or row.variant
            if not re.match(VARIANT_PATTERN, variant):
                problems = [
                    {
                        "file": None,
                        "line": None,
                        "message": "variant must be a capital letter, optionally followed by letters or digits",
                    }
                ]
                saved = None
            else:
                try:
                    saved, problems = validate_and_save(
                        session,
                        TemplateRenderer(settings.sms_max_segments),
                        channel=row.channel,
                        reason=row.reason,
                        sources=sources,
                        author=principal.name,
                        note=note,
                        locale=row.locale,
                        variant=variant,
                    )
                except VersionConflict as err:
                    saved, problems = None, [{"file": None, "line": None, "message": str(err)}]
            if saved is not None:
                return RedirectResponse(f"/templates/{saved.id}/edit?saved={saved.version}", status_code=303)
        return _edit_page(
            request,
            engine,
            settings,
            template_id,
            sources=sources,
            errors=problems,
            note=note,
            variant=variant,
            status_code=422,
        )

    return await run_in_threadpool(save)


@router.post("/{template_id}/rollback", summary="Roll back to this version (a new active version)")
async def rollback_from_form(
    request: Request, template_id: RowId, principal: EditorPage, engine: EngineDep, settings: SettingsDep
) -> Response:
    def roll() -> Response:
        with Session(engine) as session:
            old = _row(session, template_id)
            try:
                row, problems = validate_and_save(
                    session,
                    TemplateRenderer(settings.sms_max_segments),
                    channel=old.channel,
                    reason=old.reason,
                    sources=old.sources,
                    author=principal.name,
                    note=f"rollback to v{old.version}",
                    locale=old.locale,
                    variant=old.variant,
                )
            except VersionConflict as err:
                row, problems = None, [{"file": None, "line": None, "message": str(err)}]
            if row is not None:
                return RedirectResponse(f"/templates/{row.id}/edit?saved={row.version}", status_code=303)
        return _edit_page(request, engine, settings, template_id, errors=problems, status_code=422)

    return await run_in_threadpool(roll)
