"""API keys (admin key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import AdminDep, KeyStoreDep, summarise
from api.problems import problems
from api.schemas import KeyIn, KeyOut
from api.services.common import jsonable

router = APIRouter(tags=["keys"])
_AUTH = problems(401, 403)


@router.get("/keys", response_model=list[KeyOut], responses=_AUTH, summary="API keys")
def list_keys(caller: AdminDep, key_store: KeyStoreDep) -> list[Any]:
    """Return every key's name, role and dates (never the key)."""
    return [jsonable(k) for k in key_store.list_keys()]


@router.post(
    "/keys",
    response_model=KeyOut,
    status_code=201,
    responses={**_AUTH, **problems(409, 422)},
    summary="Create an API key",
)
def create_key(
    request: Request, caller: AdminDep, key_store: KeyStoreDep, body: KeyIn
) -> dict[str, Any]:
    """Create a key; the response holds it, once."""
    key = key_store.create_key(body.name, body.role, body.scopes)
    limited = f", limited to {', '.join(body.scopes)}" if body.scopes else ""
    summarise(request, f"created key {body.name!r} ({body.role}{limited})")
    return {"name": body.name, "role": body.role, "scopes": sorted(set(body.scopes)), "key": key}


@router.delete(
    "/keys/{name}",
    response_model=KeyOut,
    responses={**_AUTH, **problems(404)},
    summary="Revoke an API key",
)
def revoke_key(request: Request, caller: AdminDep, key_store: KeyStoreDep, name: str) -> Any:
    """Revoke a key (it stays listed, with ``revoked_at``)."""
    record = key_store.revoke_key(name)
    summarise(request, f"revoked key {name!r}")
    return jsonable(record)
