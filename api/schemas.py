"""Request and response models (with the examples shown in the OpenAPI document)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.auth_store import Role
from api.params import QueryDate
from geozone.assignment.rules import RuleName
from geozone.incidents.fields import FIELDS

# Strict: a JSON true is not the number 1.
_LON = Field(ge=-180, le=180, strict=True, description="Longitude in degrees (EPSG:4326).")
_LAT = Field(ge=-90, le=90, strict=True, description="Latitude in degrees (EPSG:4326).")


class Health(BaseModel):
    """Liveness of the service."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
    status: Literal["ok"]


class Version(BaseModel):
    """Versions of the service and of the data it judges with."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "geozone": "0.1.0",
                    "sets": {"vn2025": "ab12…:3"},
                    "clusters": ["hoa-do-phuc-vi"],
                    "current_set": "vn2025",
                }
            ]
        }
    )
    geozone: str
    sets: dict[str, str]
    clusters: list[str]
    current_set: str


class SetOut(BaseModel):
    """A loaded boundary set."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "vn2025",
                    "title": "Vietnam 2025",
                    "valid_from": "2025-07-01",
                    "valid_to": None,
                    "licence": "CC-BY-4.0",
                    "attribution": "…",
                    "attribution_en": "…",
                    "levels": ["province", "ward"],
                    "current": True,
                }
            ]
        }
    )
    id: str
    title: str
    valid_from: dt.date
    valid_to: dt.date | None
    licence: str
    attribution: str
    attribution_en: str
    levels: list[str]
    current: bool
    title_vi: str | None = Field(default=None, description="The title in Vietnamese.")
    as_of: str | None = Field(
        default=None,
        description="When the set's boundaries stand, for a set that is one "
        "snapshot used for a longer period (YYYY-MM or YYYY-MM-DD); answers for a day outside "
        "it carry a notice saying so. None: its units are those of every day it is used for.",
    )


class UnitOut(BaseModel):
    """An administrative unit (without geometry)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "00160",
                    "name": "Nghĩa Đô",
                    "full_name": "Phường Nghĩa Đô",
                    "unit_type": "Phường",
                    "level": "ward",
                    "parent_code": "01",
                    "province_code": "01",
                    "name_en": None,
                    "area_km2": 5.1,
                    "has_geometry": True,
                    "in_register": True,
                }
            ]
        }
    )
    code: str
    name: str
    full_name: str
    unit_type: str | None
    level: str
    parent_code: str | None
    province_code: str
    name_en: str | None
    area_km2: float | None
    has_geometry: bool
    in_register: bool


class UnitPage(BaseModel):
    """One page of units."""

    numberMatched: int  # noqa: N815 (OGC name)
    numberReturned: int  # noqa: N815
    units: list[UnitOut]
    links: list[dict[str, str]] = Field(
        default_factory=list,
        description="self, and next/prev when there are rows after/before this page.",
    )
    former: list[dict[str, Any]] = Field(
        default_factory=list,
        description="With q and no set: the units of that name that no longer exist (none of "
        "today's is named exactly so), with their validity and today's successors, and the "
        "sentence 'Phường Quan Hoa (đến 30/06/2025) → nay thuộc Phường Nghĩa Đô, Phường Cầu "
        "Giấy'.",
    )


class PointIn(BaseModel):
    """A point to locate."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"lon": 105.8064, "lat": 21.0387, "date": "2025-08-01", "detected_by": "o2"}
            ]
        }
    )
    lon: float = _LON
    lat: float = _LAT
    date: QueryDate | None = Field(
        default=None, description="Picks the boundary set (default today)."
    )
    detected_by: str | None = Field(
        default=None,
        max_length=FIELDS["detected_by"].max_length,
        description=(
            "The detecting unit: a member's id or unit code, or its name as people write it "
            "('Phường Nghĩa Đô', 'nghia-do', 'CA phường Nghĩa Đô'; matched without accents)."
        ),
    )


class ClusterDecision(BaseModel):
    """What a concerned cluster decides for a point."""

    model_config = ConfigDict(extra="allow")
    cluster_id: str
    in_zone: bool
    lead_unit: str | None = None
    cooperating: list[str] = []
    rule: RuleName | None = None
    distance_m: float | None = None
    explanation_vi: str = ""
    explanation_en: str = ""


class CandidateOut(BaseModel):
    """A unit within the boundary tolerance of a located point."""

    code: str
    full_name: str
    distance_m: float = Field(description="Metres from the point (0 for the holding unit).")


class Located(BaseModel):
    """A judged point: its unit, boundary candidates and cluster decisions.

    ``GET /locate`` and each point of ``POST /locate`` give the same answer for the same
    point, date, detecting unit and tolerance (so does ``geozone locate --json``).
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "lon": 105.81,
                    "lat": 21.03,
                    "set_id": "vn2025",
                    "locate_status": "inside",
                    "unit_code": "00008",
                    "on_boundary": False,
                    "candidates": [
                        {"code": "00008", "full_name": "Phường Ngọc Hà", "distance_m": 0.0}
                    ],
                    "clusters": [
                        {
                            "cluster_id": "hoa-do-phuc-vi-vn2025",
                            "in_zone": True,
                            "lead_unit": "00160",
                            "rule": "border_detector",
                            "explanation_en": "…",
                            "explanation_vi": "…",
                        }
                    ],
                    "notices": [],
                    "description": "In Phường Ngọc Hà, Thành phố Hà Nội (vn2025).",
                    "tolerance_m": 10.0,
                }
            ]
        },
    )
    lon: float
    lat: float
    set_id: str | None
    locate_status: str
    unit_code: str | None
    on_boundary: bool
    candidates: list[CandidateOut] = Field(
        description="Every unit within the tolerance, nearest first; the holding unit first "
        "(0 m). Off a boundary, the holding unit alone; outside every unit, the units within "
        "the tolerance; none without a set in force.",
    )
    clusters: list[ClusterDecision]
    notices: list[str] = Field(
        default_factory=list,
        description=(
            "In plain text (Vietnamese / English): first, when the boundary set the point "
            "was judged on is one snapshot and the date lies outside it, that the units, "
            "names and boundaries are the snapshot's (vn-legacy-districts: about 02/2023, used "
            "from 2008-08-01 to 2025-06-30); then the clusters that concern the point (in a "
            "member's unit, or detected by a member) but do not apply on its date, each with "
            "its period: they decide nothing for it. Empty when there is nothing to say."
        ),
    )
    unit: UnitOut | None = Field(
        default=None, description="The finest unit holding the point (None outside)."
    )
    chain: list[UnitOut] = Field(
        default_factory=list, description="The holding unit and its parents, finest first."
    )
    description: str = Field(description="Where the point is, in one sentence.")
    tolerance_m: float = Field(description="The boundary tolerance applied, in metres.")


class RejectOut(BaseModel):
    """One problem of one posted incident record."""

    index: int = Field(description="Position of the record in the posted list (from 0).")
    external_id: str | None
    field: str
    reason: str


class IncidentsPosted(BaseModel):
    """What ``POST /incidents`` did."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "received": 2,
                    "stored": 1,
                    "duplicates": 0,
                    "assigned": 1,
                    "rejects": [
                        {
                            "index": 1,
                            "external_id": "x-2",
                            "field": "category",
                            "reason": "unknown category 'unicorns'",
                        }
                    ],
                }
            ]
        }
    )
    received: int
    stored: int = Field(description="Records stored by this request.")
    duplicates: int = Field(description="Records whose external_id was stored already.")
    assigned: int
    linked: int = Field(
        default=0,
        description="Of the records, those linked with a report by another member into one "
        "event (their ``event_id`` shared; the earliest detection leads).",
    )
    note: str | None = Field(
        default=None, description="Set when the records are stored but not yet assigned."
    )
    rejects: list[RejectOut]
    reassign_job: JobOut | None = Field(
        default=None,
        description="The background job reassigning incidents judged before the context "
        "changed (this request judged only its own), when any are left.",
    )


INCIDENT_EXAMPLE: dict[str, Any] = {
    "external_id": "HN-2025-000123",
    "occurred_at": "2025-08-01T21:00:00+07:00",
    "lon": 105.8064,
    "lat": 21.0387,
    "category": "drugs",
    "detected_by": "nghia-do",
}


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (OGC API paging fields when paged)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[dict[str, Any]]
    numberMatched: int | None = None  # noqa: N815
    numberReturned: int | None = None  # noqa: N815


#: The OpenAPI description of the ``notices`` of the answers that count incidents or events.
NOTICES_DESCRIPTION = (
    "What the answer cannot say right, in plain text (Vietnamese / English): one notice per "
    "import of the store that is not finished (said running, or stopped), naming its file "
    "and the rows read: its reports may be counted as separate events until it is finished "
    "or linked; and one when stored reports are not linked into events yet (each counts as "
    "an event of its own until 'geozone incidents link' runs). An answer resting on a "
    "boundary set that is one snapshot, for days outside it (vn-legacy-districts, about "
    "02/2023, used from 2008-08-01 to 2025-06-30), also says that its boundaries are "
    "the snapshot's. Empty when there is nothing to say."
)
Notices = Annotated[list[str], Field(description=NOTICES_DESCRIPTION)]
#: The JSON Schema of ``notices`` in the answers documented by hand rather than by a model.
NOTICES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "description": NOTICES_DESCRIPTION,
}


class IncidentCollection(FeatureCollection):
    """A page of incidents as GeoJSON, with the notices of the store and of the page's rows."""

    notices: Notices = Field(default_factory=list)


class IncidentOut(BaseModel):
    """One stored incident: its fields, unit assignment and cluster decisions, and the notices.

    The fields as stored (``external_id``, ``occurred_at``, ``lon``, ``lat``, ``category``…,
    ``event_id`` and ``event_role``), ``assignment``, ``clusters`` (one decision per cluster)
    and ``problems``; ``notices`` as ``GET /incidents`` gives them (its event may be counted
    wrong while an import is unfinished), then the boundary set's snapshot when the incident's
    date lies outside it (as ``GET /locate`` says it: the units are named as the snapshot
    has them), and one per cluster the incident concerns (in a member's unit, or detected by
    a member) that does not apply on its date, with its period: that cluster decides nothing
    for it.
    """

    model_config = ConfigDict(extra="allow")
    notices: Notices = Field(default_factory=list)


class JobOut(BaseModel):
    """A background import job."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3f2c…",
                    "kind": "import",
                    "source": "incidents.csv",
                    "status": "done",
                    "rows_done": 4,
                    "rows_total": 4,
                    "report": {"stored": 2, "rejected": 2, "rejects": []},
                    "error": None,
                }
            ]
        }
    )
    id: str
    kind: str
    owner: str | None = Field(default=None, description="The key that submitted it.")
    source: str
    status: str
    rows_done: int
    rows_total: int | None
    report: dict[str, Any] | None
    error: str | None


class PatrolZoneIn(BaseModel):
    """A patrol zone to create or replace."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cluster_id": "hoa-do-phuc-vi-vn2025",
                    "name": "Tuyến cầu T11",
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [
                            [
                                [105.805, 21.037],
                                [105.808, 21.037],
                                [105.808, 21.040],
                                [105.805, 21.040],
                                [105.805, 21.037],
                            ]
                        ],
                    },
                    "notes": "",
                }
            ]
        }
    )
    cluster_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    geometry: dict[str, Any] = Field(description="A GeoJSON Polygon in EPSG:4326.")
    notes: str = Field(default="", max_length=4_000)


class KeyIn(BaseModel):
    """An API key to create."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "ops", "role": "analyst"}]})
    name: str = Field(min_length=1, max_length=64)
    role: Role
    scopes: list[
        Annotated[str, Field(pattern=r"^(unit|cluster|province):[A-Za-z0-9._-]{1,120}$")]
    ] = Field(
        default_factory=list,
        max_length=100,
        description="unit:CODE, cluster:ID or province:CODE: the key reads only these (none: "
        "the whole country); routes that do not honour scopes refuse it.",
    )


class KeyOut(BaseModel):
    """An API key's record (never the key or its hash)."""

    name: str
    role: str
    scopes: list[str] = Field(default_factory=list, description="Empty: the whole country.")
    created_at: str | None = None
    revoked_at: str | None = None
    key: str | None = Field(default=None, description="The key itself; only when created.")


#: A cluster definition for ``POST /clusters`` (two wards of the 2025 units, at the T11 bridge).
CLUSTER_EXAMPLE: dict[str, Any] = {
    "id": "nghia-do-ngoc-ha",
    "name": "Cụm liên kết Nghĩa Đô – Ngọc Hà",
    "name_en": "Nghĩa Đô–Ngọc Hà cluster",
    "boundary_set": "vn2025",
    "level": "ward",
    "zone_width_m": 200,
    "period": {"start": {"year": 2025, "month": 7, "day": 1}},
    "members": [
        {"id": "nghia-do", "kind": "unit", "unit_code": "00160", "name": "Phường Nghĩa Đô"},
        {"id": "ngoc-ha", "kind": "unit", "unit_code": "00008", "name": "Phường Ngọc Hà"},
    ],
    "hotspots": [
        {
            "name": "Khu vực cầu T11",
            "name_en": "T11 bridge area",
            "point": [105.8064, 21.0387],
            "radius_m": 150,
        }
    ],
}


class ConfirmationIn(BaseModel):
    """A planner's confirmation that a carried cluster applies from a date."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_date: dt.date = Field(
        alias="from",
        le=dt.date(2100, 12, 31),
        description="First day the carried cluster applies (not before the reform date).",
    )
    note: str | None = Field(default=None, max_length=500, description="Kept with it.")
    zone: dict[str, Any] | None = Field(
        default=None,
        description="A border zone drawn instead of the derived one: a GeoJSON Polygon or "
        "MultiPolygon in EPSG:4326, checked as patrol zones are.",
    )
