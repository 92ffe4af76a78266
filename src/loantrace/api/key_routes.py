"""API keys, for admins: create (the token is shown once), list, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from loantrace.api.auth import ADMIN, PrincipalDep
from loantrace.api.patterns import EIP55, PRINTABLE, Address, PrintableText
from loantrace.services.access import AccessService, KeyInfo

router = APIRouter(tags=["keys"])


async def get_access(request: Request) -> AccessService:
    """Return the access use cases."""
    return cast(AccessService, request.app.state.access)


AccessDep = Annotated[AccessService, Depends(get_access)]
KeyIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="the key id")]


class _KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PrintableText = Field(
        min_length=1, max_length=120, description=f"who or what holds it; {PRINTABLE}"
    )
    ttl_days: int = Field(365, ge=1, le=3650, description="days until it expires")


class LenderKeyIn(_KeyIn):
    """A lender key to create: it acts for one lender, whose address it needs."""

    role: Literal["lender"]
    lender: Address = Field(description=f"the lender's address; {EIP55}")


class StaffKeyIn(_KeyIn):
    """An admin, auditor or regulator key to create: bound to no lender."""

    role: Literal["admin", "auditor", "regulator"]
    lender: None = Field(None, description="only lender keys are bound to a lender")


KeyIn = Annotated[LenderKeyIn | StaffKeyIn, Field(discriminator="role")]


class KeyOut(BaseModel):
    """A key as it may be shown: never its token (except once, when created)."""

    id: str
    role: str
    lender: str | None
    name: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    active: bool
    token: str | None = Field(None, description="the bearer token; shown only on creation")


def key_out(key: KeyInfo, token: str | None = None) -> KeyOut:
    """Return the response model of a key."""
    return KeyOut(
        id=key.id,
        role=key.role,
        lender=key.lender,
        name=key.name,
        created_by=key.created_by,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        active=key.active,
        token=token,
    )


@router.post("/v1/keys", status_code=201, dependencies=[ADMIN])
def create_key(principal: PrincipalDep, access: AccessDep, body: KeyIn) -> KeyOut:
    """Create an API key; its token is in this answer only (it is stored hashed)."""
    key, token = access.create_key(
        by=principal.key_id,
        role=body.role,
        lender=body.lender,
        name=body.name,
        ttl_days=body.ttl_days,
    )
    return key_out(key, token)


@router.get("/v1/keys", dependencies=[ADMIN])
def list_keys(access: AccessDep) -> list[KeyOut]:
    """Every key, revoked and expired ones included."""
    return [key_out(k) for k in access.list_keys()]


@router.delete("/v1/keys/{key_id}", dependencies=[ADMIN])
def revoke_key(access: AccessDep, key_id: KeyIdPath) -> KeyOut:
    """Revoke a key at once; revoking it again changes nothing."""
    return key_out(access.revoke_key(key_id))
