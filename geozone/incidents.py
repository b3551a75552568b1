"""Incidents: the model and the category vocabulary taken from the cluster reports.

An incident is a point with a time, a category and, when known, the unit that detected it.
Times are timezone-aware; a naive time is taken as Vietnam time (UTC+7). Every record made by
the synthetic generator carries ``synthetic = True`` and keeps it through storage and export.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from geozone.text import fold, nfc

#: Vietnam has one time zone, UTC+7, and no daylight saving.
VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")

CategoryKind = Literal["criminal", "administrative"]
Status = Literal["open", "solved"]


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
        Naming the unknown text and the known codes.
    """
    code = _BY_LABEL.get(fold(text))
    if code is None:
        raise ValueError(f"unknown category {text!r}; known: {', '.join(CATEGORIES)}")
    return code


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=VIETNAM_TZ)


class Incident(BaseModel):
    """One incident as reported.

    Attributes
    ----------
    external_id
        The reporting system's id; unique within the store (re-imports are deduplicated on it).
    occurred_at, detected_at
        When it happened and when a unit detected it; naive times are Vietnam time.
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

    external_id: Annotated[str, AfterValidator(nfc), Field(min_length=1, max_length=128)]
    occurred_at: Annotated[datetime, AfterValidator(_aware)]
    detected_at: Annotated[datetime, AfterValidator(_aware)] | None = None
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    category: str
    detected_by: str | None = Field(default=None, max_length=64)
    status: Status = "open"
    subjects: int = Field(default=0, ge=0, le=10_000)
    jointly_handled: bool = False
    description: Annotated[str, AfterValidator(nfc), Field(max_length=4_000)] = ""
    synthetic: bool = False

    @field_validator("category", mode="before")
    @classmethod
    def _known_category(cls, value: object) -> str:
        return category_code(str(value))

    @model_validator(mode="after")
    def _detected_after_occurred(self) -> Incident:
        if self.detected_at is not None and self.detected_at < self.occurred_at:
            raise ValueError(
                f"detected_at {self.detected_at.isoformat()} is before occurred_at "
                f"{self.occurred_at.isoformat()}"
            )
        return self


#: What :func:`geozone.assign.jurisdiction` says of each incident (after ``external_id``).
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
#: What :func:`geozone.assign.assign_clusters` decides per incident and cluster.
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
