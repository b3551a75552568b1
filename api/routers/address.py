"""Addresses: ``GET /address?q=…&date=…`` (public), incidents known by address (analyst)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import ContextDep, ScopedAnalystDep, StoreDep
from api.params import QueryDate
from api.problems import problems
from api.scopes import scope_detectors, scope_units
from api.services import address as service
from api.services.common import json_response
from geozone.address.resolve import MAX_ADDRESS_CHARS
from geozone.store.base import MAX_QUERY_OFFSET

router = APIRouter(tags=["address"])


class AddressOut(BaseModel):
    """What an address names on a date, and today (the CLI's ``geozone address --json``).

    ``complete`` is false when a part could not be read or the text fits several units:
    ``problem`` then names the part ("no ward 'Nghia Dox' in Quận Cầu Giấy, Thành phố Hà
    Nội; closest: Nghĩa Đô, Nghĩa Tân") and ``alternatives`` lists the units it fits.
    """

    text: str
    date: str = Field(description="The incident's date (YYYY-MM-DD); it picks the set.")
    set: str = Field(description="The boundary set in force on the date.")
    level: str | None = Field(description="ward, district or province: how far it resolved.")
    complete: bool
    unit: dict[str, Any] | None = Field(description="The finest unit in force on the date.")
    chain: list[dict[str, Any]] = Field(description="That unit and its parents, finest first.")
    candidates: list[dict[str, Any]] = Field(
        description="Finer units it may lie in when the address does not say which."
    )
    form: str | None = Field(description="old (three tiers) or new (two tiers).")
    read_set: str | None
    read_chain: list[dict[str, Any]] = Field(description="The units named, in the set read.")
    valid_to: str | None = Field(description="Last day the set read was in force.")
    street: str | None
    parts: list[dict[str, Any]]
    successors: list[dict[str, Any]] = Field(
        description="Today's successors of the old unit read, with shares where known."
    )
    predecessors: list[dict[str, Any]]
    unread: list[dict[str, Any]] = Field(description="The parts not read, and why.")
    alternatives: list[dict[str, Any]]
    notes: list[str]
    problem: str | None = Field(description="What stops a complete resolution, or null.")
    description: str


QueryText = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_ADDRESS_CHARS,
        description="The address, old (ward, district, province) or new (ward, province) "
        "form, with or without diacritics, abbreviated (P., Q., TP., TX., H., X., TT.), in "
        f"any order; at most {MAX_ADDRESS_CHARS} characters, no control characters.",
        examples=["số 12 ngõ 35 Hoàng Quốc Việt, P. Nghĩa Đô, Q. Cầu Giấy, Hà Nội"],
    ),
]


@router.get(
    "/address",
    response_model=AddressOut,
    responses=problems(400, 404, 422),
    summary="Resolve an address to its units on a date",
)
def resolve_address(
    context: ContextDep,
    q: QueryText,
    date: QueryDate | None = None,
) -> Response:
    """Return the units an address names in the set in force on ``date``, and where they went.

    ``date`` is the incident's date, YYYY-MM-DD (default: today in Vietnam); the answer
    holds the unit chain in the set in force that day and today's successors of the old
    units read. An address the service cannot read wholly is still answered (200) with
    ``complete: false`` and the part named in ``problem``. A blank, overlong or
    control-character ``q`` or a malformed ``date`` is 422; a date on which no boundary set
    is in force is 400; an instance without the legacy and the current set loaded is 404.
    """
    return json_response(service.resolve(context, q, date))


class AddressIncidentsOut(BaseModel):
    """Incidents stored by their address only, counted apart from located ones."""

    counts: dict[str, int] = Field(
        description="address_only (all), and by the level the address reached: ward, "
        "district, province, unresolved."
    )
    numberMatched: int  # noqa: N815 (OGC name)
    numberReturned: int  # noqa: N815
    incidents: list[dict[str, Any]] = Field(
        description="Each with its address, its jurisdiction at the address's level and the "
        "clusters' 'address_only' review decisions; never a point."
    )


@router.get(
    "/address/incidents",
    response_model=AddressIncidentsOut,
    responses=problems(401, 403, 422),
    summary="Incidents known by their address only",
)
def address_incidents(
    caller: ScopedAnalystDep,
    context: ContextDep,
    store: StoreDep,
    cluster_id: Annotated[
        str | None,
        Query(max_length=120, description="Only those a cluster's decisions concern."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_QUERY_OFFSET)] = 0,
) -> Response:
    """Return the incidents imported without coordinates and located by their address.

    They have no point, so no map draws them and no hotspot or border effect counts them;
    this is where they are counted: ``counts`` by the level their address reached, and a
    page of them with their review decisions (rule ``address_only``: no border-zone
    decision is made from an address). A key with scopes sees those its scopes cover.
    """
    units = scope_units(context, caller.scopes) if caller.scopes else None
    detectors = scope_detectors(context, caller.scopes) if caller.scopes else frozenset()
    return json_response(
        service.address_incidents(store, cluster_id, limit, offset, units, detectors)
    )
