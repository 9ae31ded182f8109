"""Who may call what. Roles, from most to least power: admin (everything, API keys), editor
(templates), viewer (reports and cart journeys). A role includes the ones below it.

Today a request authenticates with the bootstrap key `CR_ADMIN_API_KEY` as a Bearer token, which
carries the admin role.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException

from services.api.deps import SettingsDep

ROLES = ("viewer", "editor", "admin")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def has(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def authenticate(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> Principal:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"})
    if settings.admin_api_key and hmac.compare_digest(key.strip().encode(), settings.admin_api_key.encode()):
        return Principal("bootstrap admin key", "admin")
    raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})


def require_role(role: str):
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.has(role):
            raise HTTPException(403, f"this needs the {role} role; your key has {principal.role}")
        return principal

    return dependency


AdminDep = Depends(require_role("admin"))
EditorDep = Depends(require_role("editor"))
ViewerDep = Depends(require_role("viewer"))
