"""API keys (admin only): create one (its secret is shown once), list them, revoke one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlmodel import Session

from services.api.auth import Principal, require_role
from services.api.deps import EngineDep, RowId
from services.store.api_keys import create_key, list_keys, revoke_key
from services.store.tables import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["API keys"])
AdminPrincipal = Annotated[Principal, Depends(require_role("admin"))]


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="who or what uses the key")
    role: Literal["viewer", "editor", "admin"]


class KeyPublic(BaseModel):
    id: int
    name: str
    role: str
    prefix: str = Field(description="first characters after `cr_`, to tell keys apart")
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> KeyPublic:
        return cls.model_validate(row, from_attributes=True)


class KeyCreated(KeyPublic):
    key: str = Field(description="the secret: shown only in this response, store it now")


@router.post("", status_code=201, summary="Create a key; the response is the only time its secret is shown")
async def post_key(engine: EngineDep, principal: AdminPrincipal, body: KeyCreate) -> KeyCreated:
    def create() -> KeyCreated:
        with Session(engine) as session:
            row, key = create_key(session, body.name.strip() or body.name, body.role, principal.name)
            session.commit()
            session.refresh(row)
            return KeyCreated(**KeyPublic.of(row).model_dump(), key=key)

    return await run_in_threadpool(create)


@router.get("", summary="Every key, without secrets")
async def get_keys(engine: EngineDep, _principal: AdminPrincipal) -> list[KeyPublic]:
    def load() -> list[KeyPublic]:
        with Session(engine) as session:
            return [KeyPublic.of(row) for row in list_keys(session)]

    return await run_in_threadpool(load)


@router.delete("/{key_id}", summary="Revoke a key at once, with every browser session signed in with it")
async def delete_key(engine: EngineDep, _principal: AdminPrincipal, key_id: RowId) -> KeyPublic:
    def revoke() -> KeyPublic | None:
        with Session(engine) as session:
            row = revoke_key(session, key_id)
            if row is None:
                return None
            session.commit()
            session.refresh(row)
            return KeyPublic.of(row)

    revoked = await run_in_threadpool(revoke)
    if revoked is None:
        raise HTTPException(404, f"no API key with id {key_id}")
    return revoked
