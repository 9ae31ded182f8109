"""`POST /v1/carts/{cart_id}/survey`: the shopper's answer to the one-question survey "what held
you back?", relayed by the shop's backend. It labels the cart's abandonment reason for the reason
classifier (services/store/frames/reason_labels.py); a second answer replaces the first.

Role editor, like the templates: the answer changes what the models learn, so a viewer key
(reports) cannot post one.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from channel_models.vocabulary import REASONS
from services.api.auth import EditorDep
from services.api.deps import ClockDep, EngineDep
from services.core.clock import service_now
from services.store.frames.reason_labels import record_survey_answer
from services.store.views import find_cart

router = APIRouter(prefix="/v1/carts", tags=["labels"], dependencies=[EditorDep])

Reason = Literal[REASONS]  # type: ignore[valid-type]


class SurveyAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = Field(description=f"what held the shopper back: one of {', '.join(REASONS)}")
    shop: str | None = Field(None, max_length=255, description="the shop, when a cart token may be in several")


class SurveyLabel(BaseModel):
    cart_id: str
    shop: str
    reason: str
    source: str
    recorded_at: str


@router.post("/{cart_id}/survey", status_code=201, summary="Record the shopper's answer: why the cart was abandoned")
async def answer_survey(engine: EngineDep, clock: ClockDep, cart_id: str, answer: SurveyAnswer) -> SurveyLabel:
    now = service_now(clock)

    def store() -> SurveyLabel | None:
        with Session(engine) as session:
            cart = find_cart(session, cart_id, answer.shop)
            if cart is None:
                return None
            label = record_survey_answer(session, cart.id, answer.reason, now)
            session.commit()
            return SurveyLabel(
                cart_id=cart.token,
                shop=cart.shop,
                reason=label.reason,
                source=label.source,
                recorded_at=now.isoformat(),
            )

    label = await run_in_threadpool(store)
    if label is None:
        raise HTTPException(404, f"no cart {cart_id!r}" + (f" in shop {answer.shop!r}" if answer.shop else ""))
    return label
