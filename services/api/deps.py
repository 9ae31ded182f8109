"""Typed dependencies shared by the routers."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.engine import Engine

from services.journeys import Journeys
from services.settings import Settings
from workflows.types import ClockSpec


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_clock(request: Request) -> ClockSpec:
    return request.app.state.clock


def get_journeys(request: Request) -> Journeys:
    journeys = request.app.state.journeys
    if journeys is None:
        raise HTTPException(503, "the workflow engine is not connected yet; retry shortly")
    return journeys


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ClockDep = Annotated[ClockSpec, Depends(get_clock)]
JourneysDep = Annotated[Journeys, Depends(get_journeys)]


def require_admin(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    if not settings.admin_api_key:
        raise HTTPException(401, "the /v1 API is disabled: set CR_ADMIN_API_KEY")
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(key.strip().encode(), settings.admin_api_key.encode()):
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})


AdminDep = Depends(require_admin)
