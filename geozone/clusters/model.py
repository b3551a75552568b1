"""Clusters (cụm liên kết): police units that signed a coordination regulation.

A cluster is defined in one boundary set (the set its members are named in) at one level.
Its members are police units of territorial units (``kind = "unit"``, named by GSO code) or
organisations without territory (``kind = "organisation"``, e.g. a company). Membership
changes over time (members are admitted at reviews), and the cluster itself runs for a
period. Committed definitions live in ``data/clusters/<id>.toml``, one file per cluster,
each traced to the news report it comes from.

Dates in the reports are often partial ("Ngày 16-6", no year): :class:`ReportedDate` keeps
what is known (year, month, day, each optional) plus inferred bounds, never an invented
year. Everything else uses plain dates.

Units merged away before the boundary set's register date are members with
``historical = true`` and ``merged_into = "<code in the set>"``: validation then checks the
unit they merged into and records the substitution (see :func:`validate_cluster`).

The border zone of a cluster is the band within :attr:`Cluster.zone_width_m` of the
boundaries between its territorial members (computed by ``geozone.clusters.zones.border_zones(bset,
codes, width_m)``); when a cluster gives no width, :data:`DEFAULT_ZONE_WIDTH_M` applies by
level.
"""

from __future__ import annotations

import calendar
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import shapely
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from geozone.boundaries.manifest import Level
from geozone.boundaries.sets import BoundarySet, Unit
from geozone.crs import utm_epsg
from geozone.errors import (
    ClusterDefinitionError,
    MemberNameMismatchError,
    UnknownMemberError,
    UnknownUnitError,
)
from geozone.settings import PROJECT_ROOT
from geozone.text import TYPE_ABBREVIATIONS, UNIT_TYPES, fold, nfc

#: Folder of the committed cluster definitions.
DEFAULT_CLUSTERS_DIR = PROJECT_ROOT / "data" / "clusters"

#: Border-zone width in metres by cluster level, used when a cluster gives none. A ward band
#: covers the streets either side of a ward boundary; district and province bands scale with
#: the size of the units and the distances offenders travel across them.
DEFAULT_ZONE_WIDTH_M: dict[Level, float] = {"ward": 200.0, "district": 1_000.0, "province": 3_000.0}

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
_PARTIAL_DATE = re.compile(
    r"^(?:(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?|--(?P<m>\d{2})-(?P<d>\d{2}))$"
)

Slug = Annotated[str, Field(pattern=_SLUG, min_length=1, max_length=80)]
NfcStr = Annotated[str, AfterValidator(nfc), Field(min_length=1)]
MemberKind = Literal["unit", "organisation"]
EventKind = Literal[
    "signed", "launched", "review", "agreed_to_admit", "admitted", "left", "carried", "confirmed"
]
#: How a carried cluster stands (see :attr:`Cluster.carry_status`).
CarryStatus = Literal["proposed", "confirmed", "lapsed"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


def _check_code(value: object, field_name: str) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f'{field_name} must be a quoted string with its leading zeros (e.g. "00169"), '
            f"not the number {value}"
        )
    if isinstance(value, str) and not _CODE.match(value):
        raise ValueError(f"{field_name} {value!r} is not a GSO code (2 to 5 digits)")
    return value


# -- dates -----------------------------------------------------------------------------------


class ReportedDate(BaseModel):
    """A date as far as a report gives it: year, month and day each optional.

    Written in TOML as a date (``2018-01-24``), a string (``"2017"``, ``"2017-03"``,
    ``"--06-16"`` for 16 June of an unknown year, the ISO 8601 form without year) or a table
    with ``year``/``month``/``day`` and the optional inferred bounds ``not_before`` /
    ``not_after`` and a ``note`` saying where they come from. ``inferred = true`` marks a
    date the report does not give but implies (an end read from "giai đoạn 2023 - 2024");
    it is shown as inferred wherever the date is.
    """

    model_config = _FROZEN

    year: int | None = Field(default=None, ge=1945, le=2100)
    month: int | None = Field(default=None, ge=1, le=12)
    day: int | None = Field(default=None, ge=1, le=31)
    not_before: date | None = None
    not_after: date | None = None
    inferred: bool = False
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, date):
            return {"year": value.year, "month": value.month, "day": value.day}
        if isinstance(value, str):
            match = _PARTIAL_DATE.match(value.strip())
            if not match:
                raise ValueError(
                    f"date {value!r} is not YYYY-MM-DD, YYYY-MM, YYYY or --MM-DD (year unknown)"
                )
            parts = match.groupdict()
            return {
                "year": parts["year"],
                "month": parts["month"] or parts["m"],
                "day": parts["day"] or parts["d"],
            }
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ReportedDate:
        if self.day is not None and self.month is None:
            raise ValueError("a day needs a month")
        if self.month is not None and self.day is not None:
            year = self.year if self.year is not None else 2000  # a leap year allows 29 Feb
            if self.day > calendar.monthrange(year, self.month)[1]:
                raise ValueError(f"day {self.day} does not exist in month {self.month}")
        if self.not_before and self.not_after and self.not_before > self.not_after:
            raise ValueError(f"not_before {self.not_before} is after not_after {self.not_after}")
        if self.year is not None and (
            (self.not_before and self._own_latest() < self.not_before)
            or (self.not_after and self._own_earliest() > self.not_after)
        ):
            raise ValueError(f"{self} contradicts its own bounds")
        return self

    def _own_earliest(self) -> date:
        assert self.year is not None
        return date(self.year, self.month or 1, self.day or 1)

    def _own_latest(self) -> date:
        assert self.year is not None
        month = self.month or 12
        return date(self.year, month, self.day or calendar.monthrange(self.year, month)[1])

    @property
    def exact(self) -> date | None:
        """The date when year, month and day are all known, else None."""
        if self.year is None or self.month is None or self.day is None:
            return None
        return date(self.year, self.month, self.day)

    @property
    def earliest(self) -> date | None:
        """The earliest day the date can be (None when nothing bounds it)."""
        if self.year is not None:
            return self._own_earliest()
        if self.not_before is None:
            return None
        if self.month is not None and self.day is not None:
            return _next_anniversary(self.not_before, self.month, self.day, step=1)
        return self.not_before

    @property
    def latest(self) -> date | None:
        """The latest day the date can be (None when nothing bounds it)."""
        if self.year is not None:
            return self._own_latest()
        if self.not_after is None:
            return None
        if self.month is not None and self.day is not None:
            return _next_anniversary(self.not_after, self.month, self.day, step=-1)
        return self.not_after

    def __str__(self) -> str:
        if self.year is not None:
            text = f"{self.year:04d}" + "".join(
                f"-{part:02d}" for part in (self.month, self.day) if part is not None
            )
        elif self.month is not None:
            text = f"--{self.month:02d}" + (f"-{self.day:02d}" if self.day else "")
            text += " (year unknown)"
        else:
            text = "date unknown"
        bounds = [f"not before {self.not_before}"] if self.not_before else []
        bounds += [f"not after {self.not_after}"] if self.not_after else []
        bounds += ["inferred"] if self.inferred else []
        return text + (f" ({', '.join(bounds)})" if bounds else "")


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


def _next_anniversary(start: date, month: int, day: int, step: int) -> date:
    """Return the first ``month``-``day`` on/after (step 1) or on/before (step -1) ``start``."""
    year = start.year
    for _ in range(9):  # 29 February recurs within 8 years
        if day <= calendar.monthrange(year, month)[1]:
            candidate = date(year, month, day)
            if (candidate - start).days * step >= 0:
                return candidate
        year += step
    raise ValueError(f"no {month:02d}-{day:02d} near {start}")  # pragma: no cover


class Period(BaseModel):
    """When the cluster runs: ``start`` and ``end`` (None: open)."""

    model_config = _FROZEN

    start: ReportedDate | None = None
    end: ReportedDate | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        first = self.start.earliest if self.start else None
        last = self.end.latest if self.end else None
        if first and last and first > last:
            raise ValueError(f"period starts ({self.start}) after it ends ({self.end})")
        return self

    def contains(self, day: date) -> bool:
        """Tell whether the cluster may run on ``day``.

        A partly known start counts from its earliest possible day and a partly known end
        up to its latest possible day (a cluster is not dropped for lack of a year).
        """
        first = self.start.earliest if self.start else None
        last = self.end.latest if self.end else None
        return (first is None or first <= day) and (last is None or day <= last)


# -- members and the rest --------------------------------------------------------------------


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

    Build one with :func:`load_cluster` (TOML) or :meth:`pydantic.BaseModel.model_validate`.
    The model checks itself (unique member ids, coherent events and dates, known problem
    keys); :func:`validate_cluster` checks it against its boundary set.
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

    def validate_against(self, bset: BoundarySet) -> ClusterCheck:
        """Check the members against ``bset``; see :func:`validate_cluster`."""
        return validate_cluster(self, bset)

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


# -- validation against a boundary set -------------------------------------------------------


@dataclass(frozen=True)
class MemberCheck:
    """How one member was checked against the boundary set.

    ``checked_code`` is the code looked up (``merged_into`` for historical members, then
    ``substituted`` is True and ``note`` says so); organisations have no code.
    """

    member_id: str
    kind: str
    name: str
    unit_code: str | None
    checked_code: str | None
    full_name: str | None
    province_code: str | None
    has_geometry: bool
    substituted: bool
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class ClusterCheck:
    """The result of :func:`validate_cluster` (only produced when every member passed)."""

    cluster_id: str
    set_id: str
    members: tuple[MemberCheck, ...]

    @property
    def substitutions(self) -> tuple[MemberCheck, ...]:
        """Historical members checked through the unit they merged into."""
        return tuple(check for check in self.members if check.substituted)

    @property
    def province_codes(self) -> tuple[str, ...]:
        """Provinces of the territorial members, in member order."""
        codes = (check.province_code for check in self.members)
        return tuple(dict.fromkeys(code for code in codes if code))

    @property
    def without_geometry(self) -> tuple[MemberCheck, ...]:
        """Territorial members whose unit is in the register only (no polygon)."""
        return tuple(c for c in self.members if c.checked_code and not c.has_geometry)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "cluster_id": self.cluster_id,
            "set_id": self.set_id,
            "members": [check.to_dict() for check in self.members],
        }


def names_match(given: str, unit: Unit) -> bool:
    """Tell whether ``given`` names ``unit``, ignoring case, diacritics and the type word.

    Any type word may open ``given`` ("Thị xã Từ Sơn" names Thành phố Từ Sơn: units change
    type over the years, codes do not).
    """
    key = fold(given)
    bare = fold(unit.name)
    prefixes = [fold(t) for t in UNIT_TYPES]
    prefixes += [abbr for abbrs in TYPE_ABBREVIATIONS.values() for abbr in abbrs]
    return key == bare or any(key == prefix + bare for prefix in prefixes)


def validate_cluster(cluster: Cluster, bset: BoundarySet) -> ClusterCheck:
    """Check every unit member of ``cluster`` against the boundary set it is named in.

    A unit member's code must exist in ``bset`` at the cluster's level, and its name must
    match the unit after folding diacritics and the type word. A historical member is checked
    through ``merged_into`` instead (its own old code, when given, must not still name it in
    the set), and the substitution is recorded. Geometry is not required: the legacy set
    lists pre-2025 wards in its register only, which is enough to check codes and names.

    Parameters
    ----------
    cluster
        The cluster definition.
    bset
        The set named by ``cluster.boundary_set``.

    Returns
    -------
    ClusterCheck
        One :class:`MemberCheck` per member.

    Raises
    ------
    ClusterDefinitionError
        When ``bset`` is not the cluster's boundary set.
    UnknownMemberError
        When a code is absent from the set or names a unit of another level (the message
        lists every bad member).
    MemberNameMismatchError
        When a code names a unit whose name differs from the member's (naming both).
    """
    if cluster.boundary_set != bset.id:
        raise ClusterDefinitionError(
            f"cluster {cluster.id} is defined in boundary set {cluster.boundary_set!r}, "
            f"not {bset.id!r}"
        )
    unknown: list[str] = []
    mismatched: list[str] = []
    checks: list[MemberCheck] = []
    for member in cluster.members:  # a handful of members: no hot path
        if member.kind == "organisation":
            checks.append(
                MemberCheck(
                    member.id,
                    member.kind,
                    member.name,
                    None,
                    None,
                    None,
                    None,
                    False,
                    False,
                    "organisation: no territory",
                )
            )
            continue
        code = member.territory_code
        assert code is not None
        what = "merged_into" if member.historical else "unit_code"
        try:
            unit = bset.get(code)
        except UnknownUnitError:
            unknown.append(
                f"member {member.id!r} ({member.name}): {what} {code} is not in {bset.id}"
            )
            continue
        if unit.level != cluster.level:
            unknown.append(
                f"member {member.id!r} ({member.name}): {what} {code} is {unit.full_name}, a "
                f"{unit.level}, but cluster {cluster.id} is at {cluster.level} level"
            )
            continue
        note = None
        if member.historical:
            if member.unit_code and _still_there(bset, member.unit_code, member.name):
                mismatched.append(
                    f"member {member.id!r} is marked historical, but {member.unit_code} still "
                    f"names {member.name} in {bset.id}; drop historical/merged_into"
                )
                continue
            old = f"{member.name} ({member.unit_code or 'old code not given'})"
            note = f"{old} merged into {unit.full_name} ({unit.code}); checked through it"
        elif not names_match(member.name, unit):
            mismatched.append(
                f"member {member.id!r}: code {code} is {unit.full_name} in {bset.id}, but the "
                f"cluster names it {member.name!r}"
            )
            continue
        checks.append(
            MemberCheck(
                member.id,
                member.kind,
                member.name,
                member.unit_code,
                unit.code,
                unit.full_name,
                unit.province_code,
                unit.has_geometry,
                member.historical,
                note,
            )
        )
    if unknown:
        raise UnknownMemberError(f"cluster {cluster.id}: " + "; ".join(unknown + mismatched))
    if mismatched:
        raise MemberNameMismatchError(f"cluster {cluster.id}: " + "; ".join(mismatched))
    return ClusterCheck(cluster.id, bset.id, tuple(checks))


def _still_there(bset: BoundarySet, code: str, name: str) -> bool:
    try:
        return names_match(name, bset.get(code))
    except UnknownUnitError:
        return False


# -- loading ---------------------------------------------------------------------------------


def load_cluster(path: Path | str) -> Cluster:
    """Read one cluster definition from a TOML file named ``<id>.toml``.

    Raises
    ------
    ClusterDefinitionError
        When the file is missing, is not TOML, breaks the schema (the message names the file,
        the field and, for members, the member id) or its name differs from its ``id``.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClusterDefinitionError(f"cluster file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ClusterDefinitionError(f"{path}: not valid TOML ({exc})") from None
    try:
        cluster = Cluster.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe_error(error, data) for error in exc.errors())
        raise ClusterDefinitionError(f"{path}: {problems}") from None
    if cluster.id != path.stem:
        raise ClusterDefinitionError(
            f"{path}: the file of cluster {cluster.id!r} must be named {cluster.id}.toml"
        )
    return cluster


def _describe_error(error: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for step in error["loc"]:
        if isinstance(step, int):
            label = f"[{step}]"
            if isinstance(node, list) and step < len(node):
                node = node[step]
                if isinstance(node, dict) and "id" in node:
                    label += f" (id {node['id']!r})"
            parts.append(label)
        else:
            node = node.get(step) if isinstance(node, dict) else None
            parts.append(("." if parts else "") + str(step))
    where = "".join(parts) or "cluster"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


def load_clusters(folder: Path | str | None = None) -> dict[str, Cluster]:
    """Read every ``*.toml`` cluster in ``folder`` (default :data:`DEFAULT_CLUSTERS_DIR`).

    Returns
    -------
    dict
        Clusters by id, sorted by id.

    Raises
    ------
    ClusterDefinitionError
        When the folder does not exist or a file is invalid (naming the file).
    """
    root = Path(folder) if folder is not None else DEFAULT_CLUSTERS_DIR
    if not root.is_dir():
        raise ClusterDefinitionError(f"cluster folder {root} does not exist")
    clusters = {cluster.id: cluster for cluster in map(load_cluster, sorted(root.glob("*.toml")))}
    return dict(sorted(clusters.items()))


def slugify(text: str) -> str:
    """Return a slug for ids: folded letters and digits joined by hyphens.

    >>> slugify("Phường Nghĩa Đô")
    'phuong-nghia-do'
    """
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return "-".join(re.findall(r"[a-z0-9]+", ascii_text))
