"""Typed dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.engine import Engine

from services.ingest.journeys import Journeys
from services.core.settings import Settings
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
