"""Clusters (cụm liên kết): police units that signed a coordination regulation.

A cluster is defined in one boundary set (the set its members are named in) at one level.
Its members are police units of territorial units (``kind = "unit"``, named by GSO code) or
organisations without territory (``kind = "organisation"``, e.g. a company). Membership
changes over time (members are admitted at reviews), and the cluster itself runs for a
period. Committed definitions live in ``data/clusters/<id>.toml``, one file per cluster,
each traced to the news report it comes from (read and checked by
:mod:`geozone.clusters.files`).

Dates in the reports are often partial ("Ngày 16-6", no year):
:class:`~geozone.clusters.dates.ReportedDate` keeps what is known (year, month, day, each
optional) plus inferred bounds, never an invented year. Everything else uses plain dates.

Units merged away before the boundary set's register date are members with
``historical = true`` and ``merged_into = "<code in the set>"``: validation then checks the
unit they merged into and records the substitution (see
:func:`geozone.clusters.files.validate_cluster`).

The border zone of a cluster is the band within :attr:`Cluster.zone_width_m` of the
boundaries between its territorial members (computed by ``geozone.clusters.zones.border_zones(bset,
codes, width_m)``); when a cluster gives no width, :data:`DEFAULT_ZONE_WIDTH_M` applies by
level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

import geopandas as gpd
import shapely
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from geozone.boundaries.manifest import Level
from geozone.clusters.dates import _FROZEN, Period, ReportedDate
from geozone.crs import utm_epsg
from geozone.text import nfc

#: Border-zone width in metres by cluster level, used when a cluster gives none. A ward band
#: covers the streets either side of a ward boundary; district and province bands scale with
#: the size of the units and the distances offenders travel across them.
DEFAULT_ZONE_WIDTH_M: dict[Level, float] = {"ward": 200.0, "district": 1_000.0, "province": 3_000.0}

#: The day district police (công an cấp huyện) ceased, before the districts were abolished
#: on 1 July 2025 (:attr:`Cluster.police_ceased_from`).
DISTRICT_POLICE_CEASED = date(2025, 3, 1)

#: Problems (crime and disorder) the reports name, folded key → (Vietnamese, English).
PROBLEMS: dict[str, tuple[str, str]] = {
    "drugs": ("ma túy", "drugs"),
    "prostitution": ("mại dâm", "prostitution"),
    "theft": ("trộm cắp", "theft"),
    "loan_sharking": ("tín dụng đen", "loan-sharking (black credit)"),
    "pavement_encroachment": (
        "kinh doanh lấn chiếm vỉa hè, lòng đường (quán trà đá)",
        "trading on pavements and roadway (tea stalls)",
    ),
    "sanitation": ("vi phạm vệ sinh môi trường", "sanitation and environmental violations"),
    "traffic": ("vi phạm giao thông", "traffic violations"),
    "hostile_activity": (
        "hoạt động chống phá của các thế lực thù địch",
        "activity of hostile forces",
    ),
}


_SLUG = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$"


_CODE = re.compile(r"^[0-9]{2,5}$")


Slug = Annotated[str, Field(pattern=_SLUG, min_length=1, max_length=80)]


NfcStr = Annotated[str, AfterValidator(nfc), Field(min_length=1)]


MemberKind = Literal["unit", "organisation"]


EventKind = Literal[
    "signed", "launched", "review", "agreed_to_admit", "admitted", "left", "carried", "confirmed"
]


#: How a carried cluster stands (see :attr:`Cluster.carry_status`).
CarryStatus = Literal["proposed", "confirmed", "lapsed"]


def _check_code(value: object, field_name: str) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f'{field_name} must be a quoted string with its leading zeros (e.g. "00169"), '
            f"not the number {value}"
        )
    if isinstance(value, str) and not _CODE.match(value):
        raise ValueError(f"{field_name} {value!r} is not a GSO code (2 to 5 digits)")
    return value


def _drawn_polygon(text: str) -> shapely.Geometry | None:
    """Read a drawn zone (WKT): a valid (multi)polygon in degrees, else None."""
    try:
        shape = shapely.from_wkt(text)
    except Exception:  # shapely raises several types for bad WKT
        return None
    if shape is None or shape.geom_type not in ("Polygon", "MultiPolygon"):
        return None
    minx, miny, maxx, maxy = shape.bounds
    if not shape.is_valid or minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        return None
    return shape


class Member(BaseModel):
    """One member of a cluster.

    Attributes
    ----------
    id
        Stable within the cluster (a slug such as ``"quan-hoa"``).
    kind
        ``"unit"``: the police of a territorial unit named by ``unit_code`` in the cluster's
        boundary set. ``"organisation"``: a member without territory (a company); it can
        detect incidents but never holds territory.
    name
        The unit's name (type word optional: "Quan Hoa" or "Phường Quan Hoa") or the
        organisation's name, in Vietnamese.
    joined, left
        Membership dates; ``joined`` None means a founding member whose founding date is not
        known exactly. A member is in from ``joined`` and out from ``left`` (exclusive).
    historical, merged_into
        For a unit merged away before the set's register date: ``merged_into`` is the code of
        the unit of the set that now holds its territory; ``unit_code`` is then its old code
        (optional) and is not looked up.
    partial
        Set on clusters carried into new units: this unit took only a minor share of the
        original members it succeeds (see ``geozone.clusters.migrate``).
    planned
        Agreed to be admitted (at a review, say) without a reported date of admission: listed,
        never active, until a date is known (then give ``joined`` and drop ``planned``).
    successor_of
        Set on clusters carried into new units: the ids and codes of the original members
        this unit succeeds (a detector named by one of them, when it has this successor only,
        is this member).
    """

    model_config = _FROZEN

    id: Slug
    kind: MemberKind
    name: NfcStr
    name_en: str | None = None
    unit_code: str | None = None
    joined: date | None = None
    left: date | None = None
    historical: bool = False
    merged_into: str | None = None
    partial: bool = False
    planned: bool = False
    successor_of: tuple[str, ...] = ()
    notes: str | None = None

    @field_validator("unit_code", "merged_into", mode="before")
    @classmethod
    def _codes(cls, value: object, info: ValidationInfo) -> object:
        return _check_code(value, info.field_name or "code")

    @model_validator(mode="after")
    def _coherent(self) -> Member:
        if self.kind == "organisation":
            if self.unit_code or self.merged_into or self.historical or self.partial:
                raise ValueError(
                    f"member {self.id!r} is an organisation: it has no unit_code, "
                    "merged_into, historical or partial"
                )
        elif self.historical:
            if not self.merged_into:
                raise ValueError(
                    f"member {self.id!r} is historical: give merged_into, the code of the unit "
                    "that now holds its territory"
                )
        else:
            if not self.unit_code:
                raise ValueError(f"member {self.id!r} is a unit: give its unit_code")
            if self.merged_into:
                raise ValueError(
                    f"member {self.id!r} has merged_into but is not marked historical = true"
                )
        if self.joined and self.left and self.left <= self.joined:
            raise ValueError(
                f"member {self.id!r} leaves ({self.left}) before it joins ({self.joined})"
            )
        if self.planned and self.joined:
            raise ValueError(
                f"member {self.id!r} is planned (admission agreed, date unknown): drop joined, "
                "or drop planned when the admission date is known"
            )
        return self

    @property
    def territory_code(self) -> str | None:
        """The code whose territory the member holds (``merged_into`` for historical units)."""
        if self.kind != "unit":
            return None
        return self.merged_into if self.historical else self.unit_code

    def active_on(self, day: date) -> bool:
        """Tell whether the member belongs on ``day`` (cluster period not considered).

        A planned member (admission agreed, no date reported) never does.
        """
        if self.planned:
            return False
        return (self.joined is None or self.joined <= day) and (
            self.left is None or day < self.left
        )


class Clause(BaseModel):
    """One clause of a regulation, in Vietnamese (as reported) and English."""

    model_config = _FROZEN

    vi: NfcStr
    en: str


class Regulation(BaseModel):
    """The coordination regulation (quy chế phối hợp) the members signed.

    ``lead_rule`` holds the clauses that say which member leads an incident (empty when the
    report gives none); ``provisions`` other reported content.
    """

    model_config = _FROZEN

    title: NfcStr | None = None
    title_en: str | None = None
    signed: ReportedDate | None = None
    signed_at: NfcStr | None = None
    signed_at_en: str | None = None
    lead_rule: tuple[Clause, ...] = ()
    provisions: tuple[Clause, ...] = ()
    note: str | None = None


class Hotspot(BaseModel):
    """A named place of the cluster: a point with a radius, or a polygon.

    ``point`` is ``[lon, lat]`` in EPSG:4326 with ``radius_m``; ``polygon`` is WKT or a
    GeoJSON geometry (Polygon or MultiPolygon, lon/lat).
    """

    model_config = _FROZEN

    name: NfcStr
    name_en: str | None = None
    point: tuple[float, float] | None = None
    radius_m: float | None = Field(default=None, gt=0, le=50_000)
    polygon: str | dict[str, Any] | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Hotspot:
        if (self.point is None) == (self.polygon is None):
            raise ValueError(f"hotspot {self.name!r}: give either point (with radius_m) or polygon")
        if self.point is not None:
            lon, lat = self.point
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError(f"hotspot {self.name!r}: point must be [lon, lat] in degrees")
            if self.radius_m is None:
                raise ValueError(f"hotspot {self.name!r}: a point needs radius_m")
        else:
            try:
                shape = self.geometry()
            except Exception as exc:
                raise ValueError(f"hotspot {self.name!r}: unreadable polygon ({exc})") from exc
            if shape.geom_type not in ("Polygon", "MultiPolygon") or not shape.is_valid:
                raise ValueError(f"hotspot {self.name!r}: polygon must be a valid (multi)polygon")
            minx, miny, maxx, maxy = shape.bounds
            if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
                raise ValueError(f"hotspot {self.name!r}: polygon must be in lon/lat degrees")
            if self.radius_m is not None:
                raise ValueError(f"hotspot {self.name!r}: radius_m goes with a point only")
        return self

    def geometry(self) -> shapely.Geometry:
        """Return the point or polygon in EPSG:4326."""
        if self.point is not None:
            return shapely.Point(*self.point)
        if isinstance(self.polygon, str):
            return shapely.from_wkt(self.polygon)
        return shapely.geometry.shape(self.polygon)

    def area(self) -> shapely.Geometry:
        """Return the hotspot as a polygon in EPSG:4326 (a point is buffered in UTM)."""
        shape = self.geometry()
        if self.point is None:
            return shape
        epsg = int(utm_epsg(self.point[0]))
        series = gpd.GeoSeries([shape], crs=4326).to_crs(epsg).buffer(float(self.radius_m or 0))
        return series.to_crs(4326).iloc[0]


class Source(BaseModel):
    """The report a definition comes from, with a short quote."""

    model_config = _FROZEN

    report: str
    outlet: str | None = None
    url: str | None = None
    quote: NfcStr
    quote_en: str | None = None
    note: str | None = None


class ReportedFigure(BaseModel):
    """A figure a report gives about the cluster's work (kept for reviews).

    ``value`` of ``of`` (31 of 35 cases solved) or alone; ``qualifier`` ``"more_than"`` for
    "hơn 100".
    """

    model_config = _FROZEN

    key: Slug
    value: int = Field(ge=0)
    of: int | None = Field(default=None, ge=0)
    qualifier: Literal["exact", "more_than"] = "exact"
    period: str
    label_en: str
    quote: NfcStr

    @model_validator(mode="after")
    def _of(self) -> ReportedFigure:
        if self.of is not None and self.of < self.value:
            raise ValueError(
                f"figure {self.key!r}: {self.value} of {self.of} is more than the whole"
            )
        return self


class ClusterEvent(BaseModel):
    """A dated event: signing, launch, review, admission or departure of members."""

    model_config = _FROZEN

    date: ReportedDate
    kind: EventKind
    text: NfcStr
    text_en: str | None = None
    members: tuple[str, ...] = ()


class Cluster(BaseModel):
    """A cluster (cụm liên kết) of police units around shared boundaries.

    Build one with :func:`geozone.clusters.files.load_cluster` (TOML) or
    :meth:`pydantic.BaseModel.model_validate`. The model checks itself (unique member ids,
    coherent events and dates, known problem keys);
    :func:`geozone.clusters.files.validate_cluster` checks it against its boundary set.
    """

    model_config = _FROZEN

    id: Slug
    name: NfcStr
    name_en: str
    boundary_set: str = Field(min_length=1)
    level: Level
    members: tuple[Member, ...] = Field(min_length=1)
    period: Period = Period()
    events: tuple[ClusterEvent, ...] = ()
    zone_width_m: float | None = Field(default=None, gt=0, le=50_000)
    hotspots: tuple[Hotspot, ...] = ()
    problems: tuple[str, ...] = ()
    regulation: Regulation | None = None
    source: Source | None = None
    reported_figures: tuple[ReportedFigure, ...] = ()
    carried_from: str | None = None
    carried_from_level: Level | None = None
    #: The original's names (Vietnamese, English), for sentences that name the original.
    carried_from_name: NfcStr | None = None
    carried_from_name_en: str | None = None
    original_period: Period | None = None
    carry_status: CarryStatus | None = None
    confirmed_from: date | None = None
    confirmed_by: str | None = None
    drawn_zone: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Cluster:
        ids = [member.id for member in self.members]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"duplicate member ids: {', '.join(duplicated)}")
        unknown = [p for p in self.problems if p not in PROBLEMS]
        if unknown:
            raise ValueError(f"unknown problems {unknown}; known: {', '.join(PROBLEMS)}")
        by_id = {member.id: member for member in self.members}
        for event in self.events:
            for member_id in event.members:
                member = by_id.get(member_id)
                if member is None:
                    raise ValueError(f"event {event.kind} {event.date}: no member {member_id!r}")
                if event.kind == "agreed_to_admit" and not member.planned and not member.joined:
                    raise ValueError(
                        f"event {event.kind} {event.date} lists member {member_id!r}: mark it "
                        "planned (date of admission unknown) or give its joined date"
                    )
                expected = {"admitted": member.joined, "left": member.left}.get(event.kind)
                if event.kind in ("admitted", "left") and expected != event.date.exact:
                    field = "joined" if event.kind == "admitted" else "left"
                    raise ValueError(
                        f"event {event.kind} {event.date} lists member {member_id!r}, whose "
                        f"{field} is {expected}"
                    )
        if self.carry_status is not None and self.carried_from is None:
            raise ValueError("carry_status is for carried clusters: give carried_from")
        if self.carried_from is None and (self.carried_from_name or self.carried_from_name_en):
            raise ValueError("carried_from_name is for carried clusters: give carried_from")
        if (self.carry_status == "confirmed") != (self.confirmed_from is not None):
            raise ValueError("a confirmed carried cluster (and only one) has confirmed_from")
        if self.drawn_zone is not None:
            shape = _drawn_polygon(self.drawn_zone)
            if shape is None:
                raise ValueError("drawn_zone must be a valid polygon in lon/lat (WKT)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _carried_is_proposed(cls, data: Any) -> Any:
        """Make a carried cluster whose status is not given a proposal (until confirmed)."""
        if isinstance(data, dict) and data.get("carried_from") and not data.get("carry_status"):
            return {**data, "carry_status": "proposed"}
        return data

    # -- views -------------------------------------------------------------------------------

    def member(self, member_id: str) -> Member:
        """Return the member with ``member_id`` (KeyError naming it otherwise)."""
        for member in self.members:
            if member.id == member_id:
                return member
        raise KeyError(f"cluster {self.id} has no member {member_id!r}")

    @property
    def effective_zone_width_m(self) -> float:
        """``zone_width_m`` or the default for the cluster's level."""
        return (
            self.zone_width_m if self.zone_width_m is not None else DEFAULT_ZONE_WIDTH_M[self.level]
        )

    @property
    def organisations(self) -> tuple[Member, ...]:
        """Members without territory."""
        return tuple(m for m in self.members if m.kind == "organisation")

    @property
    def lead_rule(self) -> tuple[Clause, ...]:
        """The regulation's lead-unit clauses (empty when none is reported)."""
        return self.regulation.lead_rule if self.regulation else ()

    @property
    def planned_members(self) -> tuple[Member, ...]:
        """Members whose admission was agreed but not dated (never active)."""
        return tuple(m for m in self.members if m.planned)

    @property
    def decides(self) -> bool:
        """Whether decisions are made under the cluster at all.

        A carried cluster whose source had ended before the reform (``lapsed``) makes none
        until a planner confirms it; every other cluster decides on the days it runs.
        """
        return self.carry_status != "lapsed"

    @property
    def police_ceased_from(self) -> date | None:
        """The day its members' police units ceased, when they did before the cluster ended.

        District police (công an cấp huyện) ceased on 1 March 2025, four months before the
        units themselves were abolished: a cluster of districts named in its own units still
        runs on its dates, but its lead units no longer exist as police units (its carried
        form, from 1 July 2025, is another cluster). None for any other cluster.
        """
        if self.level != "district" or self.carried_from is not None:
            return None
        end = self.period.end
        if end is not None and end.latest is not None and end.latest < DISTRICT_POLICE_CEASED:
            return None
        return DISTRICT_POLICE_CEASED

    def in_force(self, day: date) -> bool:
        """Tell whether the cluster may run on ``day`` (see :meth:`Period.contains`)."""
        return self.period.contains(day)

    def members_on(self, day: date) -> tuple[Member, ...]:
        """Members on ``day``: admissions and departures applied, none outside the period."""
        if not self.in_force(day):
            return ()
        return tuple(member for member in self.members if member.active_on(day))

    def territorial_members(self, day: date) -> tuple[Member, ...]:
        """Members holding territory on ``day`` (organisations left out)."""
        return tuple(member for member in self.members_on(day) if member.kind == "unit")

    def territory_codes(self, day: date) -> tuple[str, ...]:
        """Return the unique unit codes held on ``day`` (historical members substituted)."""
        codes = (member.territory_code for member in self.territorial_members(day))
        return tuple(dict.fromkeys(code for code in codes if code))

    def to_dict(self) -> dict[str, Any]:
        """Return the cluster as JSON-ready data."""
        return self.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class Confirmation:
    """A planner's confirmation that a carried cluster applies from a date.

    ``cluster_id`` is the carried id (``<id>-<set>``); ``from_date`` the first day it applies
    (never before the set it is carried into began); ``by`` who confirmed it; ``zone`` a border
    zone the planner drew instead of the derived one (WKT in EPSG:4326), used from then on.
    """

    cluster_id: str
    from_date: date
    by: str | None = None
    note: str | None = None
    zone: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the confirmation as JSON-ready data."""
        return {
            "cluster_id": self.cluster_id,
            "from_date": self.from_date.isoformat(),
            "by": self.by,
            "note": self.note,
            "zone": self.zone,
        }
