"""Incidents: the model and the category vocabulary taken from the cluster reports.

An incident is a point with a time, a category and, when known, the unit that detected it.
Times are timezone-aware; a naive time is taken as Vietnam time (UTC+7). Every record made by
the synthetic generator carries ``synthetic = True`` and keeps it through storage and export.

The rules of each field (lengths, ranges, allowed values, NFC, defaults) are not written
here: :class:`Incident` takes them from the field table,
:data:`geozone.incidents.fields.INCIDENT_FIELDS`, as the file check and the store do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from geozone.incidents.fields import FIELDS, INCIDENT_FIELDS, ROW_WORDING, Status
from geozone.text import fold, nfc
from geozone.vntime import VIETNAM_TZ, aware

CategoryKind = Literal["criminal", "administrative"]


@dataclass(frozen=True)
class Category:
    """One incident category: a stable code, Vietnamese and English labels, its kind."""

    code: str
    vi: str
    en: str
    kind: CategoryKind


#: Categories named in the five reports (../shared/seeds), plus the usual neighbours of
#: those crimes in police statistics. Codes are stable identifiers; labels are for display.
CATEGORIES: dict[str, Category] = {
    c.code: c
    for c in (
        Category("drugs", "Ma túy", "Drugs", "criminal"),
        Category("theft", "Trộm cắp tài sản", "Theft", "criminal"),
        Category("robbery", "Cướp, cướp giật tài sản", "Robbery and snatching", "criminal"),
        Category("loan_sharking", "Tín dụng đen", "Loan-sharking", "criminal"),
        Category("prostitution", "Mại dâm", "Prostitution", "criminal"),
        Category("gambling", "Đánh bạc", "Gambling", "criminal"),
        Category("assault", "Cố ý gây thương tích", "Assault", "criminal"),
        Category("fraud", "Lừa đảo chiếm đoạt tài sản", "Fraud", "criminal"),
        Category(
            "pavement_encroachment",
            "Lấn chiếm vỉa hè, lòng đường",
            "Pavement and roadway encroachment",
            "administrative",
        ),
        Category(
            "sanitation", "Vi phạm vệ sinh môi trường", "Sanitation violation", "administrative"
        ),
        Category(
            "traffic", "Vi phạm trật tự an toàn giao thông", "Traffic violation", "administrative"
        ),
        Category(
            "public_order", "Gây rối trật tự công cộng", "Disturbing public order", "administrative"
        ),
        Category(
            "fire_safety", "Vi phạm phòng cháy chữa cháy", "Fire-safety violation", "administrative"
        ),
    )
}

_BY_LABEL = {fold(key): c.code for c in CATEGORIES.values() for key in (c.code, c.vi, c.en)}


def category_code(text: str) -> str:
    """Return the category code for a code or a Vietnamese/English label (folded).

    Raises
    ------
    ValueError
        Naming the unknown text and the known codes, or a NUL character in the text.
    """
    if "\x00" in text:  # folding would drop it: refused, as the file reader does
        raise ValueError(f"category {text!r} contains a NUL character")
    code = _BY_LABEL.get(fold(text))
    if code is None:
        raise ValueError(f"unknown category {text!r}; known: {', '.join(CATEGORIES)}")
    return code


# -- the plausible time range -----------------------------------------------------------------
#
# One range for every incident time (occurred_at, detected_at), applied by the model, the file
# validation, the store's write path and the API's query parameters. A value outside it is a
# typo or a placeholder ("01/01/0001" for an unknown date), never a real police record.

#: The earliest plausible incident time: 2 September 1945, when the Democratic Republic of
#: Vietnam was proclaimed (its police force dates from 19 August 1945), in Vietnam time.
EARLIEST_TIME = datetime(1945, 9, 2, tzinfo=VIETNAM_TZ)
#: How far past the present an incident time may lie (clocks of reporting units that run
#: ahead, a report typed just after midnight in another zone).
FUTURE_ALLOWANCE = timedelta(days=1)
#: How far past the present the end of a query period may lie (a report of the year ahead).
PERIOD_HORIZON = timedelta(days=2 * 366)


def latest_time() -> datetime:
    """Return the latest plausible incident time: now plus :data:`FUTURE_ALLOWANCE`."""
    return datetime.now(VIETNAM_TZ) + FUTURE_ALLOWANCE


def time_range_text() -> str:
    """Describe the plausible range for messages (the upper bound moves with the clock)."""
    return f"from {EARLIEST_TIME.date().isoformat()} to now + {FUTURE_ALLOWANCE.days} day"


def implausible_time(value: datetime) -> str | None:
    """Return why an incident time is outside the plausible range, or None when inside.

    A naive ``value`` is Vietnam time.
    """
    zoned = aware(value)
    if zoned < EARLIEST_TIME:
        return f"{zoned.isoformat()} is before {EARLIEST_TIME.date().isoformat()}"
    if zoned > latest_time():
        return f"{zoned.isoformat()} is in the future (more than {FUTURE_ALLOWANCE} ahead)"
    return None


def plausible_utc_us(utc_us: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Tell which instants (microseconds since 1970 UTC; NaT is int64 min) are plausible.

    The vectorised twin of :func:`implausible_time`; NaT is not plausible.
    """
    low = int(EARLIEST_TIME.timestamp() * 1_000_000)
    high = int(latest_time().timestamp() * 1_000_000)
    values = np.asarray(utc_us, dtype=np.int64)
    return (values >= low) & (values <= high)


def check_period_bound(value: datetime | date, name: str) -> None:
    """Refuse a query bound outside [:data:`EARLIEST_TIME`, now + :data:`PERIOD_HORIZON`].

    Raises
    ------
    ValueError
        Naming ``name`` and the range (the API answers 422, the CLI exits 2).
    """
    if isinstance(value, datetime):
        instant = aware(value)
    else:
        instant = datetime(value.year, value.month, value.day, tzinfo=VIETNAM_TZ)
    horizon = datetime.now(VIETNAM_TZ) + PERIOD_HORIZON
    if not EARLIEST_TIME.date() <= instant.date() <= horizon.date():
        raise ValueError(
            f"{name} {value.isoformat()} is outside {EARLIEST_TIME.date().isoformat()} – "
            f"{horizon.date().isoformat()} (incidents are dated {time_range_text()})"
        )


def _plausible(value: datetime) -> datetime:
    value = aware(value)
    reason = implausible_time(value)
    if reason is not None:
        raise ValueError(f"{reason}; incident times run {time_range_text()}")
    return value


def _not_a_bare_number(value: object) -> object:
    """Refuse ``20240501`` or ``1714521600``: pydantic would read them as Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("a bare number is not a time; write YYYY-MM-DD[THH:MM[:SS][+07:00]]")
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError(
            f"{value.strip()[:20]!r} is a bare number, not a time; write YYYY-MM-DD[THH:MM]"
        )
    return value


def _no_nul(value: str) -> str:
    """Refuse text holding a NUL character (PostgreSQL cannot store it; no export means it)."""
    if "\x00" in value:
        raise ValueError(ROW_WORDING["nul"])
    return value


def _rules(name: str) -> tuple[Any, ...]:
    """Return the pydantic metadata of a field, from the field table.

    In order: NFC with spaces collapsed, the NUL check, then the limits (lengths, range,
    finite numbers), which therefore apply to the normalised text.
    """
    spec = FIELDS[name]
    rules: list[Any] = []
    if spec.nfc:
        rules.append(AfterValidator(nfc))
    if spec.no_nul:
        rules.append(AfterValidator(_no_nul))
    rules.append(
        Field(
            min_length=spec.min_length,
            max_length=spec.max_length,
            ge=spec.low,
            le=spec.high,
            allow_inf_nan=False if spec.kind == "coordinate" else None,
        )
    )
    return tuple(rules)


def _default(name: str) -> Any:
    """Return the default of a field, from the field table."""
    return FIELDS[name].default


#: A timezone-aware incident time in the plausible range (naive: Vietnam time).
IncidentTime = Annotated[datetime, BeforeValidator(_not_a_bare_number), AfterValidator(_plausible)]


class Incident(BaseModel):
    """One incident as reported.

    Attributes
    ----------
    external_id
        The reporting system's id; unique within the store (re-imports are deduplicated on it).
    occurred_at, detected_at
        When it happened and when a unit detected it; naive times are Vietnam time. Both lie
        in the plausible range (:data:`EARLIEST_TIME` to :func:`latest_time`); bare numbers
        are refused, not read as Unix seconds.
    lon, lat
        Position in EPSG:4326 (imports convert other CRSs first).
    category
        A code of :data:`CATEGORIES`; labels in either language are accepted and converted.
    detected_by
        The detecting unit's code or a cluster member id; None when unknown.
    synthetic
        True for generated records (demos, tests, benchmarks); never for real ones.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    external_id: Annotated[str, *_rules("external_id")]
    occurred_at: IncidentTime
    detected_at: IncidentTime | None = _default("detected_at")
    lon: Annotated[float, *_rules("lon")]
    lat: Annotated[float, *_rules("lat")]
    category: str
    detected_by: Annotated[str, *_rules("detected_by")] | None = _default("detected_by")
    status: Status = _default("status")
    subjects: Annotated[int, *_rules("subjects")] = _default("subjects")
    jointly_handled: bool = _default("jointly_handled")
    description: Annotated[str, *_rules("description")] = _default("description")
    synthetic: bool = _default("synthetic")

    @field_validator("category", mode="before")
    @classmethod
    def _known_category(cls, value: object) -> str:
        return category_code(str(value))

    @model_validator(mode="after")
    def _times_in_order(self) -> Incident:
        for spec in INCIDENT_FIELDS:  # detected_at may not precede occurred_at
            later = getattr(self, spec.name)
            earlier = getattr(self, spec.after) if spec.after else None
            if later is not None and earlier is not None and later < earlier:
                raise ValueError(
                    spec.reason("order", value=later.isoformat(), other=earlier.isoformat())
                )
        return self


#: What :func:`geozone.assignment.jurisdiction.jurisdiction` says of each incident (after
#: ``external_id``).
JURISDICTION_FIELDS: tuple[str, ...] = (
    "set_id",
    "locate_status",
    "unit_code",
    "ward_code",
    "district_code",
    "province_code",
    "on_boundary",
    "candidates",
)
#: What :func:`geozone.assignment.decide.assign_clusters` decides per incident and cluster.
CLUSTER_DECISION_FIELDS: tuple[str, ...] = (
    "cluster_id",
    "member_code",
    "in_zone",
    "zone_kind",
    "zone_units",
    "distance_m",
    "boundary_with",
    "lead_unit",
    "cooperating",
    "rule",
    "review",
    "explanation_vi",
    "explanation_en",
)
