"""Counts and model status lines for `cartrecovery status`, read from the application database."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from services.core.lateness import BEHIND_AFTER_S
from services.core.settings import Settings
from services.model_ops.overview import models_overview
from services.reports.send_timing import send_timing
from services.store.db import make_engine
from services.store.tables import Cart, Message


def journey_counts(settings: Settings) -> dict[str, list[tuple[str, int]]]:
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        by_status = session.exec(select(Cart.status, func.count(col(Cart.id))).group_by(Cart.status)).all()
        by_state = session.exec(
            select(Cart.journey_state, func.count(col(Cart.id)))
            .where(Cart.status == "open")
            .group_by(Cart.journey_state)
        ).all()
        by_channel = session.exec(
            select(Message.channel, func.count(col(Message.id)))
            .where(Message.status == "sent")
            .group_by(Message.channel)
        ).all()
    engine.dispose()
    return {
        "carts by status": sorted(by_status),
        "open journeys by state": sorted(by_state),
        "messages sent by channel": sorted(by_channel),
    }


def send_lines(settings: Settings) -> list[str]:
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        timing = send_timing(session, settings.time_scale)
    engine.dispose()
    if not timing["sends"]:
        return ["no sends yet"]
    return [
        f"latest {timing['sends']} sends left after their planned time by (real seconds): "
        + ", ".join(f"{name} {timing[name]:.1f}" for name in ("p50", "p90", "p99", "max")),
        f"{timing['late']} left more than {BEHIND_AFTER_S:.0f} s late"
        + (" - workers are behind" if timing["late"] else ""),
    ]


def model_lines(settings: Settings) -> list[tuple[str, str]]:
    """(kind, "Learning: needs ..." / "Active v3, trained on ..." / "Alert: ...") per model."""
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        overview = models_overview(session, settings)
    engine.dispose()
    return [(m["kind"], m["line"]) for m in overview["models"]]
