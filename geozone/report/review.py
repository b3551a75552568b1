"""The cluster review report (báo cáo sơ kết cụm liên kết): the figures a review gives.

The reports in ../shared/seeds measure a cluster by figures such as "31 of 35 criminal cases
in the border area solved" and "15 cases, 19 subjects; 46 administrative violations, 63
subjects". :func:`cluster_report` computes them for one cluster and a period from the
incident store, as tables (pandas DataFrames with English column names and Vietnamese and
English labels, see :data:`TABLES` and :data:`COLUMN_LABELS`) and headline figures; the HTML
page is built by ``maps.report`` and the CLI and API serve both.

Which incidents
---------------
An incident belongs to the report when the store holds a decision of the cluster for it (it
was judged by the cluster's rules: inside a member or detected by one) and it occurred on a
day from ``start`` to ``end`` inclusive, in Vietnam time. Everything is read through the
store (:meth:`~geozone.store.IncidentStore.query` and
:meth:`~geozone.store.IncidentStore.cluster_rows`, page by page), so the figures equal what
the store answers for the same filters.

A cluster named in the pre-2025 units is carried into the 2025 units from 1 July 2025 under
the id ``<id>-vn2025`` (:func:`geozone.assignment.territory.territories`). A report covers the
cluster's
whole family: the original *and* every form carried from it, each on the days it applies
(the store holds each incident's decision under the form in force on its date), so a review
of 2025 of ``hoa-do-phuc-vi`` counts the incidents before and after the reorganisation.
Asking for the carried id (``hoa-do-phuc-vi-vn2025``) gives the same report under that name,
as the cluster maps do (``maps.layers.cluster_on``): restrict the period to restrict the
form. The ``cluster_forms`` table lists the forms, their sets and their days; per-member
tables keep the forms apart (a code such as 00160 names different wards in the two sets).

Counting rules
--------------
- *Cases* are incidents; *subjects* the sum of their ``subjects`` (đối tượng); *solved* those
  whose status is ``solved`` at the time of the report ("31/35": solved / cases).
- *Criminal* and *administrative* follow :data:`geozone.incidents.schema.CATEGORIES`.
- *In the border area* is the stored ``in_zone`` flag of the cluster's decision (inside a
  pair or junction zone, or on a boundary between members).
- *Jointly handled* is the incident's ``jointly_handled`` flag.
- Per member: ``in_territory`` counts incidents in the member's territory, ``detected``
  those it detected (``detected_by`` names its code or member id), ``led`` those it leads
  under the regulation (the stored ``lead_unit``); ``solved``, ``subjects`` and
  ``jointly_handled`` are of the cases it leads. Incidents outside every member (detected
  by one) and leads by non-members are counted on an "outside the members" row, so every
  column sums to the cluster's total.
- Months are calendar months in Vietnam time; every month of the period is listed.

Hotspots and the border effect
------------------------------
With ``hotspots=True`` the report adds Getis-Ord Gi* cells over the study area, the very cells
every other output shows (:func:`geozone.analysis.study.study_hotspots`: 250 m squares, normal
p-values,
FDR-corrected, "too few to test" below the minimum count), figures for the cluster's named hotspots
(:func:`geozone.analysis.hotspots.named_hotspot_figures`, each place as the cluster defines it, e.g.
the T11 bridge ±150 m) and the border effect per cluster form and member pair
(:func:`geozone.analysis.border_effect.border_effect`: the share of incidents in the zone against
the
zone's share of the area, with its binomial test).

Exports
-------
:meth:`ClusterReport.to_json` gives JSON-ready data; :meth:`ClusterReport.write_csv` writes one
CSV per table plus ``summary.csv``. CSV files are UTF-8 **with a byte-order mark** and CRLF line
ends (RFC 4180): Excel, which analysts open them with, reads a BOM-less file in the legacy code
page and garbles Vietnamese diacritics; pandas (``encoding="utf-8-sig"``), LibreOffice and
csvkit read the BOM. Every row of every CSV carries the ``synthetic`` flag of the report and
the data ``attribution``, so a single file passed on still says both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from geozone.errors import (
    DataNotFoundError,
    InvalidParameterError,
    UnknownClusterError,
    UnknownUnitError,
)
from geozone.incidents.schema import CATEGORIES
from geozone.store.base import MAX_QUERY_LIMIT, IncidentQuery, IncidentStore
from geozone.vntime import VIETNAM_TZ

if TYPE_CHECKING:
    import geopandas as gpd

    from geozone.analysis.study import ClusterStudy
    from geozone.assignment import ClusterTerritory
    from geozone.boundaries.sets import BoundarySet
    from geozone.clusters.dates import ReportedDate
    from geozone.clusters.model import Cluster, Member
    from geozone.context import Context

#: The label every synthetic report shows (Vietnamese / English).
SYNTHETIC_LABEL = "Dữ liệu mô phỏng / Synthetic data"
KINDS: tuple[str, ...] = ("criminal", "administrative")
KIND_LABELS: dict[str, tuple[str, str]] = {
    "criminal": ("Phạm pháp hình sự", "Criminal cases"),
    "administrative": ("Vi phạm hành chính", "Administrative violations"),
    "all": ("Tổng cộng", "All"),
}
AREA_LABELS: dict[str, tuple[str, str]] = {
    "in_zone": ("Địa bàn giáp ranh", "In the border area"),
    "outside_zone": ("Ngoài địa bàn giáp ranh", "Outside the border area"),
}
OUTSIDE_MEMBERS = ("Ngoài địa bàn các thành viên", "Outside the members' territory")
#: Radius around a named hotspot given as a bare point (a cluster's hotspots carry their own).
NAMED_HOTSPOT_RADIUS_M = 300.0

#: Tables in report order: name → (Vietnamese title, English title).
TABLES: dict[str, tuple[str, str]] = {
    "by_category": ("Vụ việc theo loại", "Incidents by category"),
    "border_zone": ("Địa bàn giáp ranh và ngoài giáp ranh", "In and outside the border area"),
    "by_member": ("Theo đơn vị thành viên", "By member unit"),
    "by_period": ("Theo tháng", "By month"),
    "membership": ("Thay đổi thành viên trong kỳ", "Membership changes in the period"),
    "cluster_forms": (
        "Phạm vi cụm theo bộ ranh giới",
        "Forms of the cluster by boundary set",
    ),
    "hotspots": ("Điểm nóng thống kê (Gi*)", "Statistical hotspots (Gi*)"),
    "named_hotspots": ("Điểm nóng đã biết", "Named hotspots"),
    "border_effect": ("Hiệu ứng giáp ranh", "Border effect"),
}

#: Column name → (Vietnamese label, English label), for headers of every table.
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "category": ("Mã loại", "Category code"),
    "label_vi": ("Loại vụ việc", "Category (Vietnamese)"),
    "label_en": ("Loại (tiếng Anh)", "Category"),
    "kind": ("Nhóm", "Kind"),
    "kind_vi": ("Nhóm", "Kind (Vietnamese)"),
    "kind_en": ("Nhóm (tiếng Anh)", "Kind"),
    "cases": ("Số vụ", "Cases"),
    "subjects": ("Đối tượng", "Subjects"),
    "solved": ("Làm rõ", "Solved"),
    "solved_ratio": ("Tỷ lệ làm rõ", "Solved / cases"),
    "jointly_handled": ("Phối hợp xử lý", "Jointly handled"),
    "in_zone": ("Ở địa bàn giáp ranh", "In the border area"),
    "in_zone_solved": ("Làm rõ ở giáp ranh (vụ)", "Solved in the border area (cases)"),
    "in_zone_solved_ratio": ("Làm rõ ở giáp ranh", "Solved in the border area"),
    "review": ("Cần xem xét", "For review"),
    "area": ("Mã địa bàn", "Area code"),
    "area_vi": ("Địa bàn", "Area (Vietnamese)"),
    "area_en": ("Địa bàn (tiếng Anh)", "Area"),
    "cluster_id": ("Mã cụm", "Cluster id"),
    "member_id": ("Mã thành viên", "Member id"),
    "member_code": ("Mã đơn vị", "Unit code"),
    "member_name": ("Đơn vị", "Member unit"),
    "member_kind": ("Loại thành viên", "Member kind"),
    "partial": ("Một phần", "Partial"),
    "joined": ("Tham gia", "Joined"),
    "left": ("Rời cụm", "Left"),
    "in_territory": ("Trên địa bàn", "In its territory"),
    "detected": ("Phát hiện", "Detected"),
    "led": ("Chủ trì", "Led"),
    "month": ("Tháng", "Month"),
    "criminal_cases": ("Hình sự: số vụ", "Criminal: cases"),
    "criminal_subjects": ("Hình sự: đối tượng", "Criminal: subjects"),
    "criminal_solved": ("Hình sự: số vụ làm rõ", "Criminal: cases solved"),
    "criminal_solved_ratio": ("Hình sự: làm rõ", "Criminal: solved"),
    "administrative_cases": ("Hành chính: số vụ", "Administrative: cases"),
    "administrative_subjects": ("Hành chính: đối tượng", "Administrative: subjects"),
    "administrative_solved": ("Hành chính: số vụ làm rõ", "Administrative: cases solved"),
    "administrative_solved_ratio": ("Hành chính: làm rõ", "Administrative: solved"),
    "date": ("Ngày", "Date"),
    "change": ("Thay đổi", "Change"),
    "text_vi": ("Nội dung", "Description (Vietnamese)"),
    "text_en": ("Nội dung (tiếng Anh)", "Description"),
    "set_id": ("Bộ ranh giới", "Boundary set"),
    "carried_from": ("Chuyển từ", "Carried from"),
    "applies_from": ("Áp dụng từ", "Applies from"),
    "applies_to": ("Áp dụng đến", "Applies to"),
    "placed": ("Có ranh giới", "Has territory"),
    "members": ("Số thành viên", "Members"),
    "cell_id": ("Ô lưới", "Grid cell"),
    "count": ("Số vụ", "Incidents"),
    "gi_z": ("Gi* z", "Gi* z-score"),
    "p_sim": ("p (hoán vị)", "Permutation p"),
    "q_value": ("q (FDR)", "FDR q-value"),
    "confidence": ("Độ tin cậy", "Confidence"),
    "lon": ("Kinh độ", "Longitude"),
    "lat": ("Vĩ độ", "Latitude"),
    "place": ("Địa điểm", "Place"),
    "n_incidents": ("Số vụ", "Incidents"),
    "share": ("Tỷ trọng", "Share"),
    "n_criminal": ("Hình sự", "Criminal"),
    "n_administrative": ("Hành chính", "Administrative"),
    "top_category": ("Loại nhiều nhất", "Top category"),
    "density_km2": ("Mật độ (vụ/km²)", "Density (per km²)"),
    "overall_density_km2": ("Mật độ chung (vụ/km²)", "Overall density (per km²)"),
    "hot_cell": ("Trùng ô điểm nóng", "On a hot cell"),
    "scope": ("Phạm vi", "Scope"),
    "pair": ("Cặp đơn vị (mã)", "Member pair (codes)"),
    "pair_name": ("Cặp đơn vị", "Member pair"),
    "code_a": ("Đơn vị A", "Unit A"),
    "code_b": ("Đơn vị B", "Unit B"),
    "n_in_zone": ("Ở giáp ranh", "In the zone"),
    "incident_share": ("Tỷ trọng vụ việc ở giáp ranh", "Share of incidents in the zone"),
    "zone_area_km2": ("Diện tích giáp ranh (km²)", "Zone area (km²)"),
    "area_km2": ("Diện tích (km²)", "Area (km²)"),
    "area_share": ("Tỷ trọng diện tích giáp ranh", "Zone share of the area"),
    "expected_in_zone": ("Kỳ vọng ở giáp ranh", "Expected in the zone"),
    "ratio": ("Hệ số", "Ratio"),
    "ratio_ci_low": ("Hệ số: cận dưới 95%", "Ratio: 95% low"),
    "ratio_ci_high": ("Hệ số: cận trên 95%", "Ratio: 95% high"),
    "share_ci_low": ("Tỷ trọng: cận dưới 95%", "Share: 95% low"),
    "share_ci_high": ("Tỷ trọng: cận trên 95%", "Share: 95% high"),
    "p_value": ("Giá trị p", "p-value"),
    "reason": ("Lý do thiếu", "Why missing"),
}
#: Change kinds of the membership table → (Vietnamese, English).
CHANGE_LABELS: dict[str, tuple[str, str]] = {
    "joined": ("Tham gia", "Joined"),
    "left": ("Rời cụm", "Left"),
    "carried": ("Chuyển sang đơn vị mới", "Carried into new units"),
    "period_start": ("Bắt đầu giai đoạn", "Period starts"),
    "period_end": ("Kết thúc giai đoạn", "Period ends"),
    "signed": ("Ký quy chế", "Regulation signed"),
    "launched": ("Ra mắt", "Launched"),
    "review": ("Sơ kết", "Review"),
    "admitted": ("Kết nạp", "Admitted"),
}


def _names(text: str) -> list[str]:
    """Return the column names listed in ``text`` (separated by white space)."""
    return text.split()


#: Incident columns the report reads from :meth:`IncidentStore.query`.
_INCIDENT_COLUMNS = _names(
    "external_id occurred_at category detected_by status subjects jointly_handled synthetic "
    "lon lat set_id unit_code"
)
#: Decision columns the report reads from :meth:`IncidentStore.cluster_rows`.
_DECISION_COLUMNS = _names(
    "external_id cluster_id member_code in_zone zone_kind zone_units lead_unit rule review "
    "explanation_vi explanation_en"
)


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterReport:
    """A cluster review for a period: tables, headline figures, notes.

    Attributes
    ----------
    cluster_id, cluster_name, cluster_name_en
        The cluster asked for and its names.
    cluster_ids
        The forms covered: the original and the forms carried from it.
    set_ids
        The boundary sets of the forms that apply in the period.
    start, end
        First and last day of the period (inclusive, Vietnam time).
    generated_at
        When the report was made (Vietnam time).
    synthetic
        True when any incident of the report is synthetic: every rendering then says
        :data:`SYNTHETIC_LABEL` prominently.
    attribution
        ``{"vi": ..., "en": ...}``: the attribution of the boundary sets the incidents were
        judged with.
    tables
        Name (:data:`TABLES`) → DataFrame with English column names (:data:`COLUMN_LABELS`).
    figures
        Headline numbers (``criminal_cases``, ``in_zone_criminal_solved_ratio``…) and the
        sentences ``headline_vi`` / ``headline_en``.
    notes
        Things the reader must know (synthetic data, empty period, forms, skipped sections).
    layers
        Geometry for the report's map, in EPSG:4326, not exported: ``incidents`` (points with
        their decision) and ``hotspot_cells`` (significant Gi* cells) when computed.
    """

    cluster_id: str
    cluster_name: str
    cluster_name_en: str
    cluster_ids: tuple[str, ...]
    set_ids: tuple[str, ...]
    start: date
    end: date
    generated_at: datetime
    synthetic: bool
    attribution: dict[str, str]
    tables: dict[str, pd.DataFrame]
    figures: dict[str, Any]
    notes: list[str]
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict, repr=False)

    @property
    def empty(self) -> bool:
        """True when no incident of the cluster occurred in the period."""
        return int(self.figures.get("cases", 0)) == 0

    def metadata(self) -> dict[str, Any]:
        """Return what the report is about (cluster, period, synthetic flag, attribution)."""
        data: dict[str, Any] = {
            "cluster_id": self.cluster_id,
            "cluster_name": self.cluster_name,
            "cluster_name_en": self.cluster_name_en,
            "cluster_ids": list(self.cluster_ids),
            "set_ids": list(self.set_ids),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "synthetic": self.synthetic,
            "attribution": dict(self.attribution),
        }
        if self.synthetic:
            data["synthetic_label"] = SYNTHETIC_LABEL
        return data

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (tables as rows with labelled columns).

        Returns
        -------
        dict
            :meth:`metadata`, ``figures``, ``notes`` and ``tables``: name → ``title_vi``,
            ``title_en``, ``columns`` (``name``, ``vi``, ``en``) and ``rows`` (one object per
            row; missing values are null).
        """
        tables = {}
        for name, frame in self.tables.items():
            title_vi, title_en = TABLES.get(name, (name, name))
            tables[name] = {
                "title_vi": title_vi,
                "title_en": title_en,
                "columns": [
                    {"name": str(c), "vi": label(c)[0], "en": label(c)[1]} for c in frame.columns
                ],
                "rows": _records(frame),
            }
        return {
            **self.metadata(),
            "figures": _plain(self.figures),
            "notes": list(self.notes),
            "tables": tables,
        }

    def write_csv(self, directory: Path | str) -> list[Path]:
        """Write one CSV per table and ``summary.csv`` (figures, notes, metadata).

        Files are UTF-8 with a byte-order mark and CRLF line ends (see the module notes);
        each row carries ``synthetic`` and ``attribution``. Existing files are replaced.

        Parameters
        ----------
        directory
            Created when missing.

        Returns
        -------
        list of pathlib.Path
            The files written: ``summary.csv`` first, then the tables in :data:`TABLES` order.
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        attribution = f"{self.attribution['vi']} | {self.attribution['en']}"
        written = [folder / "summary.csv"]
        _write_csv(self.summary_frame(), written[0], self.synthetic, attribution)
        for name, frame in self.tables.items():
            path = folder / f"{name}.csv"
            _write_csv(frame, path, self.synthetic, attribution)
            written.append(path)
        return written

    def summary_frame(self) -> pd.DataFrame:
        """Return metadata, figures and notes as a two-column ``key`` / ``value`` table."""
        items: list[tuple[str, Any]] = []
        for key, value in self.metadata().items():
            if isinstance(value, dict):
                items += [(f"{key}_{k}", v) for k, v in value.items()]
            elif isinstance(value, list):
                items.append((key, ", ".join(map(str, value))))
            else:
                items.append((key, value))
        items += list(self.figures.items())
        items += [(f"note_{k}", note) for k, note in enumerate(self.notes, start=1)]
        return pd.DataFrame(items, columns=["key", "value"])


def label(column: object) -> tuple[str, str]:
    """Return the (Vietnamese, English) header of a report column (the name when unknown)."""
    name = str(column)
    return COLUMN_LABELS.get(name, (name, name))


def ratio(solved: Any, cases: Any) -> Any:
    """Return the solved ratio text "31/35" of scalars or aligned arrays/Series."""
    if isinstance(solved, pd.Series | np.ndarray):
        left = pd.Series(np.asarray(solved, dtype=np.int64)).astype(str)
        right = pd.Series(np.asarray(cases, dtype=np.int64)).astype(str)
        out = (left + "/" + right).to_numpy(dtype=object)
        return pd.Series(out, index=solved.index) if isinstance(solved, pd.Series) else out
    return f"{int(solved)}/{int(cases)}"


# -- the forms of a cluster ------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterForm:
    """One form of a cluster: the original or a form carried into a newer boundary set.

    Attributes
    ----------
    cluster
        The definition (members named in ``set_id``).
    set_id
        The boundary set the members are named in.
    bset
        That set, when loaded.
    territory
        The cluster placed on its set; None when its members have no geometry there (a ward
        cluster named in the legacy register): no incident is judged under this form.
    applies_from, applies_to
        The days the form can judge incidents: the cluster's period within the set's
        validity (None: open).
    """

    cluster: Cluster
    set_id: str
    bset: BoundarySet | None
    territory: ClusterTerritory | None
    applies_from: date | None
    applies_to: date | None

    @property
    def id(self) -> str:
        """The form's cluster id."""
        return self.cluster.id

    def member_name(self, member: Member) -> str:
        """Return a member's full unit name in the form's set ("Phường Quan Hoa"), else its name."""
        code = member.territory_code
        if self.bset is None or code is None or member.historical:
            return member.name
        try:
            return self.bset.get(code).full_name
        except UnknownUnitError:
            return member.name

    def overlaps(self, start: date, end: date) -> bool:
        """Tell whether the form applies on any day from ``start`` to ``end``."""
        return (self.applies_from is None or self.applies_from <= end) and (
            self.applies_to is None or start <= self.applies_to
        )


def cluster_forms(context: Context, cluster_id: str) -> list[ClusterForm]:
    """Return the forms of the cluster ``cluster_id`` names (see the module notes).

    A cluster and the forms carried from it into newer units are one family: the original id
    and a carried id (``hoa-do-phuc-vi`` and ``hoa-do-phuc-vi-vn2025``) give the same forms.

    Parameters
    ----------
    context
        Loaded sets, clusters and territories.
    cluster_id
        A committed cluster id, or the id of a placed cluster (carried or defined elsewhere).

    Returns
    -------
    list of ClusterForm
        The original first, then the carried forms by the date they apply from.

    Raises
    ------
    UnknownClusterError
        When no committed or placed cluster has the id (the known ids are listed).
    """
    placed = {t.cluster.id: t for t in context.territories}
    if cluster_id in placed:
        root = placed[cluster_id].cluster.carried_from or cluster_id
    elif cluster_id in context.clusters:
        root = cluster_id
    else:
        known = sorted({*context.clusters, *placed})
        raise UnknownClusterError(f"no cluster {cluster_id!r}; known: {', '.join(known)}")
    original = context.clusters.get(root)
    if original is None and root in placed:
        original = placed[root].cluster
    chosen: list[tuple[Cluster, ClusterTerritory | None]] = []
    if original is not None:
        chosen.append((original, placed.get(root)))
    chosen += [
        (t.cluster, t)
        for t in context.territories
        if t.cluster.carried_from == root and t.cluster.id != root
    ]
    forms = [_form(context, cluster, territory) for cluster, territory in chosen]
    return forms[:1] + sorted(forms[1:], key=lambda f: (f.applies_from or date.min, f.id))


def _form(context: Context, cluster: Cluster, territory: ClusterTerritory | None) -> ClusterForm:
    bset: BoundarySet | None
    if territory is not None:
        bset = territory.bset
    else:
        try:
            bset = context.boundary_set(cluster.boundary_set)
        except DataNotFoundError:
            bset = None
    first = cluster.period.start.earliest if cluster.period.start else None
    last = cluster.period.end.latest if cluster.period.end else None
    if bset is not None:
        first = max(first or date.min, bset.info.valid_from)
        if bset.info.valid_to is not None:
            last = min(last or date.max, bset.info.valid_to)
    return ClusterForm(cluster, cluster.boundary_set, bset, territory, first, last)


# -- reading the store -----------------------------------------------------------------------


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """Return the instants ``[start 00:00, end + 1 day 00:00)`` in Vietnam time.

    Raises
    ------
    InvalidParameterError
        When a bound is not a date or ``start`` is after ``end``.
    """
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise InvalidParameterError(f"{name} must be a date (YYYY-MM-DD), got {value!r}")
    if start > end:
        raise InvalidParameterError(
            f"the period is reversed: start {start.isoformat()} is after end {end.isoformat()}"
        )
    return (
        datetime.combine(start, time(0), VIETNAM_TZ),
        datetime.combine(end + timedelta(days=1), time(0), VIETNAM_TZ),
    )


def cluster_incidents(
    store: IncidentStore,
    cluster_ids: Sequence[str],
    start: date,
    end: date,
    *,
    page_size: int = MAX_QUERY_LIMIT,
) -> pd.DataFrame:
    """Read the incidents of clusters in a period with their decision, page by page.

    Parameters
    ----------
    store
        The incident store.
    cluster_ids
        Cluster ids (forms of one cluster); an incident judged under several is kept once,
        under the first.
    start, end
        First and last day, inclusive, in Vietnam time.
    page_size
        Rows per page (at most :data:`~geozone.store.base.MAX_QUERY_LIMIT`).

    Returns
    -------
    pandas.DataFrame
        One row per incident: the incident columns (``occurred_at`` in Vietnam time, ``lon``,
        ``lat``, ``category``, ``status``, ``subjects``, ``jointly_handled``, ``synthetic``,
        ``detected_by``, ``set_id``, ``unit_code``) and the cluster's decision
        (``cluster_id``, ``member_code``, ``in_zone``, ``zone_kind``, ``zone_units``,
        ``lead_unit``, ``rule``, ``review``, ``explanation_vi``, ``explanation_en``).
    """
    begin, finish = period_bounds(start, end)
    frames: list[pd.DataFrame] = []
    for cluster_id in cluster_ids:
        offset = 0
        while True:
            query = IncidentQuery(
                cluster_id=cluster_id, start=begin, end=finish, limit=page_size, offset=offset
            )
            page, total = store.query(query)
            if not len(page):
                break
            decisions = store.cluster_rows(query)[_DECISION_COLUMNS]
            incidents = pd.DataFrame(page[_INCIDENT_COLUMNS])
            frames.append(incidents.merge(decisions, on="external_id", how="inner"))
            offset += len(page)
            if offset >= total or len(page) < page_size:
                break
    if not frames:
        return _empty_incidents()
    frame = pd.concat(frames, ignore_index=True)
    return frame.drop_duplicates("external_id", keep="first").reset_index(drop=True)


def _empty_incidents() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in _INCIDENT_COLUMNS})
    frame["occurred_at"] = pd.Series(dtype="datetime64[us, UTC]").dt.tz_convert(VIETNAM_TZ)
    for column in ("subjects",):
        frame[column] = pd.Series(dtype="int64")
    for column in ("jointly_handled", "synthetic"):
        frame[column] = pd.Series(dtype=bool)
    for column in ("lon", "lat"):
        frame[column] = pd.Series(dtype="float64")
    for column in _DECISION_COLUMNS[1:]:
        frame[column] = pd.Series(dtype=bool if column in ("in_zone", "review") else object)
    return frame


def _prepared(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the derived columns: ``kind``, ``solved``, ``month`` and typed flags."""
    out = frame.copy()
    kinds = {code: category.kind for code, category in CATEGORIES.items()}
    out["kind"] = out["category"].map(kinds).fillna("other").astype(object)
    out["solved"] = out["status"].eq("solved").to_numpy(dtype=bool)
    for column in ("in_zone", "review", "jointly_handled", "synthetic"):
        out[column] = out[column].fillna(False).astype(bool)
    out["subjects"] = pd.to_numeric(out["subjects"]).fillna(0).astype(np.int64)
    out["zone_solved"] = out["in_zone"] & out["solved"]
    local = pd.to_datetime(out["occurred_at"]).dt.tz_convert(VIETNAM_TZ).dt.tz_localize(None)
    out["month"] = local.dt.to_period("M")
    return out


# -- the tables ------------------------------------------------------------------------------

_TALLY = {
    "cases": ("external_id", "size"),
    "subjects": ("subjects", "sum"),
    "solved": ("solved", "sum"),
    "jointly_handled": ("jointly_handled", "sum"),
    "in_zone": ("in_zone", "sum"),
    "in_zone_solved": ("zone_solved", "sum"),
    "review": ("review", "sum"),
}


def _tally(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Cases, subjects, solved, jointly handled, in zone, in-zone solved, review per group."""
    grouped = frame.groupby(keys, sort=False, dropna=False, observed=True)
    out: pd.DataFrame = grouped.agg(**_TALLY).astype(np.int64)
    return out


def _by_category(frame: pd.DataFrame) -> pd.DataFrame:
    columns = _names(
        "category label_vi label_en kind cases subjects solved solved_ratio jointly_handled "
        "in_zone in_zone_solved in_zone_solved_ratio review"
    )
    if not len(frame):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    out = _tally(frame, ["category"]).reset_index()
    out["label_vi"] = out["category"].map(lambda c: CATEGORIES[c].vi if c in CATEGORIES else c)
    out["label_en"] = out["category"].map(lambda c: CATEGORIES[c].en if c in CATEGORIES else c)
    out["kind"] = out["category"].map(lambda c: CATEGORIES[c].kind if c in CATEGORIES else "other")
    out["solved_ratio"] = ratio(out["solved"], out["cases"])
    out["in_zone_solved_ratio"] = ratio(out["in_zone_solved"], out["in_zone"])
    rank = out["kind"].map({k: i for i, k in enumerate(KINDS)}).fillna(len(KINDS))
    out = out.assign(_rank=rank).sort_values(
        ["_rank", "cases", "category"], ascending=[True, False, True]
    )
    return out[columns].reset_index(drop=True)


def _border_zone(frame: pd.DataFrame) -> pd.DataFrame:
    tallies = [
        _tally(frame.assign(area=frame["in_zone"]), ["area", "kind"]),
        _tally(frame.assign(area=frame["in_zone"], kind="all"), ["area", "kind"]),
    ]
    counts = pd.concat(tallies)
    index = pd.MultiIndex.from_product([[True, False], [*KINDS, "all"]], names=["area", "kind"])
    counts = counts.reindex(index, fill_value=0).reset_index()
    counts["area"] = np.where(counts["area"].astype(bool), "in_zone", "outside_zone")
    counts["area_vi"] = counts["area"].map(lambda a: AREA_LABELS[a][0])
    counts["area_en"] = counts["area"].map(lambda a: AREA_LABELS[a][1])
    counts["kind_vi"] = counts["kind"].map(lambda k: KIND_LABELS[k][0])
    counts["kind_en"] = counts["kind"].map(lambda k: KIND_LABELS[k][1])
    counts["solved_ratio"] = ratio(counts["solved"], counts["cases"])
    return counts[
        _names(
            "area area_vi area_en kind kind_vi kind_en cases subjects solved solved_ratio "
            "jointly_handled review"
        )
    ]


def _members_of(form: ClusterForm, start: date, end: date) -> pd.DataFrame:
    """Return the members of a form during the period (none when the form does not apply)."""
    rows = []
    if form.overlaps(start, end):
        first = max(start, form.applies_from or start)
        last = min(end, form.applies_to or end)
        for member in form.cluster.members:  # a handful of members
            if (member.joined is None or member.joined <= last) and (
                member.left is None or first < member.left
            ):
                rows.append(
                    {
                        "cluster_id": form.id,
                        "member_id": member.id,
                        "member_code": member.territory_code or member.id,
                        "member_name": form.member_name(member),
                        "member_kind": member.kind,
                        "partial": member.partial,
                        "joined": member.joined.isoformat() if member.joined else None,
                        "left": member.left.isoformat() if member.left else None,
                    }
                )
    return pd.DataFrame(
        rows,
        columns=_names(
            "cluster_id member_id member_code member_name member_kind partial joined left"
        ),
    )


_MEMBER_COUNTS = _names(
    "in_territory in_zone detected led solved solved_ratio subjects jointly_handled"
)


def _by_member(
    frame: pd.DataFrame, forms: Sequence[ClusterForm], start: date, end: date
) -> pd.DataFrame:
    parts = []
    for form in forms:  # one or two forms
        members = _members_of(form, start, end)
        rows = frame[frame["cluster_id"] == form.id]
        if not len(members) and not len(rows):
            continue
        codes = set(members["member_code"])
        ids = {
            **dict(zip(members["member_id"], members["member_code"], strict=True)),
            **{code: code for code in codes},
        }
        held = rows["member_code"].where(rows["member_code"].isin(codes), None)
        led = rows["lead_unit"].where(rows["lead_unit"].isin(codes), None)
        detected = rows["detected_by"].map(ids)
        outside = "\x00outside"
        territory = rows.assign(_m=held.fillna(outside)).groupby("_m")
        leads = rows.assign(_m=led.fillna(outside)).groupby("_m")
        counts = pd.DataFrame(
            {
                "in_territory": territory.size(),
                "in_zone": territory["in_zone"].sum(),
                "detected": rows.assign(_m=detected).groupby("_m").size(),
                "led": leads.size(),
                "solved": leads["solved"].sum(),
                "subjects": leads["subjects"].sum(),
                "jointly_handled": leads["jointly_handled"].sum(),
            }
        )
        table = members.set_index("member_code", drop=False)
        if outside in counts.index:
            extra = pd.DataFrame(
                [
                    {
                        "cluster_id": form.id,
                        "member_id": None,
                        "member_code": None,
                        "member_name": f"{OUTSIDE_MEMBERS[0]} / {OUTSIDE_MEMBERS[1]}",
                        "member_kind": "outside",
                        "partial": False,
                        "joined": None,
                        "left": None,
                    }
                ],
                index=[outside],
            )
            table = pd.concat([table, extra]) if len(table) else extra
        counts = counts.reindex(table.index).fillna(0).astype(np.int64)
        table = pd.concat([table, counts], axis=1)
        table["solved_ratio"] = ratio(table["solved"], table["led"])
        parts.append(table.reset_index(drop=True))
    columns = [*_members_of(forms[0], start, end).columns, *_MEMBER_COUNTS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def _by_period(frame: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    months = pd.period_range(pd.Period(start, "M"), pd.Period(end, "M"), freq="M")
    counts = _tally(frame, ["month", "kind"])
    out = pd.DataFrame({"month": months.astype(str)}, index=months)
    for kind in KINDS:
        mine = (
            counts.xs(kind, level="kind")
            if len(counts) and kind in counts.index.get_level_values("kind")
            else pd.DataFrame(columns=list(_TALLY))
        )
        mine = mine.reindex(months, fill_value=0).astype(np.int64)
        out[f"{kind}_cases"] = mine["cases"]
        out[f"{kind}_subjects"] = mine["subjects"]
        out[f"{kind}_solved"] = mine["solved"]
        out[f"{kind}_solved_ratio"] = ratio(mine["solved"], mine["cases"])
    total = _tally(frame, ["month"]).reindex(months, fill_value=0).astype(np.int64)
    out["cases"] = total["cases"]
    out["in_zone"] = total["in_zone"]
    out["jointly_handled"] = total["jointly_handled"]
    return out.reset_index(drop=True)


def _in_period(reported: ReportedDate | None, start: date, end: date) -> bool:
    if reported is None:
        return False
    exact = reported.exact
    if exact is not None:
        return start <= exact <= end
    first, last = reported.earliest, reported.latest
    return first is not None and last is not None and first <= end and start <= last


def _date_text(reported: ReportedDate) -> str:
    exact = reported.exact
    return exact.isoformat() if exact is not None else str(reported)


def _carried_text(notes: str | None) -> tuple[str, str]:
    """Vietnamese and English of a carried member's note ("From A (code), B (code).")."""
    english = notes or ""
    vietnamese = english
    if english.startswith("From "):
        vietnamese = "Kế thừa từ " + english.removeprefix("From ")
        vietnamese = vietnamese.replace(" (in part).", " (một phần).")
    return vietnamese, english


def _membership(forms: Sequence[ClusterForm], start: date, end: date) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []

    def add(day: str, form: ClusterForm, change: str, vi: str, en: str, member: Any = None) -> None:
        rows.append(
            {
                "date": day,
                "cluster_id": form.id,
                "change": change,
                "member_id": member.id if member is not None else None,
                "member_code": (member.territory_code or member.id) if member is not None else None,
                "member_name": form.member_name(member) if member is not None else None,
                "text_vi": vi,
                "text_en": en,
            }
        )

    for form in forms:  # a handful of forms, members and events
        cluster = form.cluster
        period = cluster.period
        carried_on = period.start.exact if cluster.carried_from and period.start else None
        event_days = {e.date.exact for e in cluster.events if e.date.exact is not None}
        if (
            period.start is not None
            and _in_period(period.start, start, end)
            and period.start.exact not in event_days
        ):
            add(
                _date_text(period.start),
                form,
                "period_start",
                f"Cụm bắt đầu hoạt động ({cluster.name}).",
                f"The cluster's period starts ({cluster.name_en}).",
            )
        for event in cluster.events:
            if event.kind in ("admitted", "left") or not _in_period(event.date, start, end):
                continue
            add(_date_text(event.date), form, event.kind, event.text, event.text_en or event.text)
        for member in cluster.members:
            if member.joined is not None and start <= member.joined <= end:
                if carried_on is not None and member.joined == carried_on:
                    vi, en = _carried_text(member.notes)
                    if member.partial:
                        vi, en = f"Một phần. {vi}", f"Partial member. {en}"
                    add(member.joined.isoformat(), form, "carried", vi, en, member)
                else:
                    add(
                        member.joined.isoformat(),
                        form,
                        "joined",
                        f"{form.member_name(member)} tham gia cụm.",
                        f"{form.member_name(member)} joins the cluster.",
                        member,
                    )
            if member.left is not None and start <= member.left <= end:
                add(
                    member.left.isoformat(),
                    form,
                    "left",
                    f"{form.member_name(member)} rời cụm.",
                    f"{form.member_name(member)} leaves the cluster.",
                    member,
                )
        if period.end is not None and _in_period(period.end, start, end):
            add(
                _date_text(period.end),
                form,
                "period_end",
                f"Kết thúc giai đoạn của cụm ({period.note or _date_text(period.end)}).",
                f"The cluster's period ends ({period.note or _date_text(period.end)}).",
            )
    columns = _names("date cluster_id change member_id member_code member_name text_vi text_en")
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values("date", kind="stable").reset_index(drop=True)


def _cluster_forms_table(
    forms: Sequence[ClusterForm], frame: pd.DataFrame, start: date, end: date
) -> pd.DataFrame:
    counts = frame.groupby("cluster_id").size()
    return pd.DataFrame(
        {
            "cluster_id": [f.id for f in forms],
            "set_id": [f.set_id for f in forms],
            "carried_from": [f.cluster.carried_from for f in forms],
            "applies_from": [f.applies_from.isoformat() if f.applies_from else None for f in forms],
            "applies_to": [f.applies_to.isoformat() if f.applies_to else None for f in forms],
            "placed": [f.territory is not None for f in forms],
            "members": [len(_members_of(f, start, end)) for f in forms],
            "cases": [int(counts.get(f.id, 0)) for f in forms],
        }
    )


# -- figures ---------------------------------------------------------------------------------


def _vi_number(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _figures(frame: pd.DataFrame, start: date, end: date) -> dict[str, Any]:
    crim = frame["kind"].eq("criminal")
    adm = frame["kind"].eq("administrative")
    zone = frame["in_zone"]
    solved = frame["solved"]
    subjects = frame["subjects"]

    def count(mask: pd.Series[bool]) -> int:
        return int(mask.sum())

    figures: dict[str, Any] = {
        "cases": len(frame),
        "subjects": int(subjects.sum()),
        "solved": count(solved),
        "solved_ratio": ratio(count(solved), len(frame)),
    }
    for name, mask in (("criminal", crim), ("administrative", adm)):
        figures[f"{name}_cases"] = count(mask)
        figures[f"{name}_subjects"] = int(subjects[mask].sum())
        figures[f"{name}_solved"] = count(mask & solved)
        figures[f"{name}_solved_ratio"] = ratio(count(mask & solved), count(mask))
    figures["in_zone_cases"] = count(zone)
    figures["in_zone_subjects"] = int(subjects[zone].sum())
    figures["in_zone_solved"] = count(zone & solved)
    figures["in_zone_solved_ratio"] = ratio(count(zone & solved), count(zone))
    for name, mask in (("criminal", crim), ("administrative", adm)):
        figures[f"in_zone_{name}_cases"] = count(zone & mask)
        figures[f"in_zone_{name}_solved"] = count(zone & mask & solved)
        figures[f"in_zone_{name}_solved_ratio"] = ratio(
            count(zone & mask & solved), count(zone & mask)
        )
    figures["jointly_handled"] = count(frame["jointly_handled"])
    figures["in_zone_jointly_handled"] = count(zone & frame["jointly_handled"])
    figures["review"] = count(frame["review"])
    figures["synthetic_incidents"] = count(frame["synthetic"])
    figures["days"] = (end - start).days + 1
    f = figures
    if not len(frame):
        f["headline_vi"] = "Không có vụ việc nào của cụm trong kỳ báo cáo."
        f["headline_en"] = "No incidents of the cluster in the period."
        return figures
    f["headline_vi"] = (
        f"{_vi_number(f['criminal_cases'])} vụ phạm pháp hình sự, "
        f"{_vi_number(f['criminal_subjects'])} đối tượng; "
        f"{_vi_number(f['administrative_cases'])} vụ vi phạm hành chính, "
        f"{_vi_number(f['administrative_subjects'])} đối tượng; "
        f"ở địa bàn giáp ranh: làm rõ {f['in_zone_criminal_solved_ratio']} vụ phạm pháp hình "
        f"sự; phối hợp xử lý {_vi_number(f['jointly_handled'])} vụ."
    )
    f["headline_en"] = (
        f"{f['criminal_cases']:,} criminal cases, {f['criminal_subjects']:,} subjects; "
        f"{f['administrative_cases']:,} administrative violations, "
        f"{f['administrative_subjects']:,} subjects; in the border area: solved "
        f"{f['in_zone_criminal_solved_ratio']} criminal cases; "
        f"{f['jointly_handled']:,} handled jointly."
    )
    return figures


# -- hotspots and the border effect ----------------------------------------------------------


def _incident_points(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    import geopandas as gpd

    columns = _names(
        "external_id occurred_at category kind status synthetic cluster_id member_code "
        "in_zone zone_units lead_unit rule review explanation_vi explanation_en"
    )
    points = gpd.points_from_xy(frame["lon"], frame["lat"], crs=4326)
    return gpd.GeoDataFrame(frame[columns].reset_index(drop=True), geometry=points, crs=4326)


def _hotspots(
    study: ClusterStudy | None, forms: Sequence[ClusterForm], notes: list[str]
) -> tuple[dict[str, pd.DataFrame], dict[str, gpd.GeoDataFrame], dict[str, Any]]:
    """Return the Gi* cells over the study area and the named hotspots' figures.

    The cells are those of :func:`geozone.analysis.study.study_hotspots` with its defaults, as every
    other output shows them.
    """
    from geozone.analysis.hotspots import cluster_places, named_hotspot_figures
    from geozone.analysis.study import study_hotspots

    tables: dict[str, pd.DataFrame] = {}
    layers: dict[str, gpd.GeoDataFrame] = {}
    figures: dict[str, Any] = {}
    if study is None:
        notes.append(
            "Không tính điểm nóng: các thành viên không có ranh giới trong kỳ / "
            "Hotspots not computed: no member has a territory with geometry in the period."
        )
        return tables, layers, figures
    area, points = study.area, study.points()
    result = study_hotspots(study)
    cells = result.cells
    significant = cells[cells["significant"].astype(bool)]
    figures["hotspot_status"] = result.status
    figures["hotspot_message"] = result.message
    figures["hotspot_cells_tested"] = len(cells)
    figures["hotspot_cells_hot"] = int((significant["kind"] == "hot").sum())
    figures["hotspot_cells_cold"] = int((significant["kind"] == "cold").sum())
    notes.append(f"Điểm nóng Gi* / Gi* hotspots: {result.message}")
    centre = shapely.point_on_surface(significant.geometry.to_numpy())
    table = pd.DataFrame(significant.drop(columns=significant.geometry.name))
    table["lon"] = np.round(shapely.get_x(centre), 6)
    table["lat"] = np.round(shapely.get_y(centre), 6)
    keep = _names("cell_id kind confidence count gi_z p_sim q_value lon lat")
    order = table.assign(_cold=table["kind"].ne("hot"), _z=-table["gi_z"].abs())
    tables["hotspots"] = table.loc[order.sort_values(["_cold", "_z"]).index, keep].reset_index(
        drop=True
    )
    layers["hotspot_cells"] = significant.reset_index(drop=True)
    places = cluster_places(f.cluster for f in forms)  # a name met in several forms once
    if places:
        tables["named_hotspots"] = named_hotspot_figures(
            points, places, radius_m=NAMED_HOTSPOT_RADIUS_M, area=area, result=result
        )
    return tables, layers, figures


def _border_effect(
    frame: pd.DataFrame, forms: Sequence[ClusterForm], start: date, end: date
) -> pd.DataFrame | None:
    from geozone.analysis.border_effect import border_effect

    parts = []
    for form in forms:
        if form.territory is None or not form.territory.geometric:
            continue
        if not form.overlaps(start, end):
            continue
        rows = frame[frame["cluster_id"] == form.id]
        found = border_effect(
            rows[
                [
                    "external_id",
                    "occurred_at",
                    "category",
                    "member_code",
                    "in_zone",
                    "zone_units",
                    "lon",
                    "lat",
                ]
            ],
            form.territory,
        )
        names = {
            member.territory_code: form.member_name(member)
            for member in form.cluster.members
            if member.territory_code
        }
        pair_names = [
            None if a is None else f"{names.get(a, a)} – {names.get(b, b)}"
            for a, b in zip(found["code_a"], found["code_b"], strict=True)
        ]
        found.insert(list(found.columns).index("pair") + 1, "pair_name", pair_names)
        parts.append(found.assign(cluster_id=form.id))
    if not parts:
        return None
    out = pd.concat(parts, ignore_index=True)
    return out[["cluster_id", *(c for c in out.columns if c != "cluster_id")]]


# -- the report ------------------------------------------------------------------------------


def cluster_report(
    store: IncidentStore,
    context: Context,
    cluster_id: str,
    start: date,
    end: date,
    *,
    hotspots: bool = True,
) -> ClusterReport:
    """Compute the review of a cluster over a period from the incident store.

    Parameters
    ----------
    store
        The incident store, with assignments (see :func:`geozone.incidents.pipeline.assign_stale`).
    context
        Sets, clusters and territories (:func:`geozone.context.load_context`).
    cluster_id
        A committed cluster or a form carried from it (either gives the whole family, see the
        module notes).
    start, end
        First and last day of the period, inclusive, in Vietnam time.
    hotspots
        Add the Gi* hotspot cells, the named hotspots' figures and the border effect.

    Returns
    -------
    ClusterReport
        Tables ``by_category``, ``border_zone``, ``by_member``, ``by_period``,
        ``membership``, ``cluster_forms`` and, with ``hotspots``, ``hotspots``,
        ``named_hotspots`` and ``border_effect``; headline figures; notes. A period without
        incidents gives a report that says so (zero counts, every month listed).

    Raises
    ------
    UnknownClusterError
        No cluster has the id (the known ids are named).
    InvalidParameterError
        A bound is not a date, or ``start`` is after ``end``.
    """
    period_bounds(start, end)
    forms = cluster_forms(context, cluster_id)
    frame = _prepared(cluster_incidents(store, [f.id for f in forms], start, end))
    active = [f for f in forms if f.overlaps(start, end)] or forms
    head = next((f.cluster for f in forms if f.id == cluster_id), forms[0].cluster)
    notes: list[str] = []
    n_synthetic = int(frame["synthetic"].sum())
    if n_synthetic:
        notes.append(
            f"{SYNTHETIC_LABEL.upper()}: {_vi_number(n_synthetic)}/{_vi_number(len(frame))} vụ "
            f"việc do geozone.incidents.synthetic sinh ra, không phải số liệu thật / "
            f"{n_synthetic:,} of {len(frame):,} incidents are generated by "
            "geozone.incidents.synthetic, not real records."
        )
    if not len(frame):
        notes.append(
            "Không có vụ việc nào của cụm trong kỳ báo cáo / "
            "No incidents of the cluster in the period."
        )
    notes += _form_notes(forms, start, end)
    notes.append(
        "Ngày theo giờ Việt Nam (UTC+7), tính cả ngày đầu và ngày cuối; tình trạng làm rõ tại "
        "thời điểm lập báo cáo / Days in Vietnam time (UTC+7), both ends included; solved "
        "status as stored when the report was made."
    )
    tables: dict[str, pd.DataFrame] = {
        "by_category": _by_category(frame),
        "border_zone": _border_zone(frame),
        "by_member": _by_member(frame, forms, start, end),
        "by_period": _by_period(frame, start, end),
        "membership": _membership(forms, start, end),
        "cluster_forms": _cluster_forms_table(forms, frame, start, end),
    }
    figures = _figures(frame, start, end)
    points = _incident_points(frame)
    layers: dict[str, gpd.GeoDataFrame] = {"incidents": points}
    if hotspots:
        extra_tables, extra_layers, extra_figures = _hotspot_sections(
            frame, _study(store, context, cluster_id, start, end), forms, start, end, notes
        )
        tables.update(extra_tables)
        layers.update(extra_layers)
        figures.update(extra_figures)
    vi = _unique(f.bset.info.attribution for f in active if f.bset is not None)
    en = _unique(f.bset.info.attribution_en for f in active if f.bset is not None)
    return ClusterReport(
        cluster_id=cluster_id,
        cluster_name=head.name,
        cluster_name_en=head.name_en,
        cluster_ids=tuple(f.id for f in forms),
        set_ids=tuple(dict.fromkeys(f.set_id for f in active)),
        start=start,
        end=end,
        generated_at=datetime.now(VIETNAM_TZ).replace(microsecond=0),
        synthetic=bool(n_synthetic),
        attribution={"vi": vi, "en": en},
        tables=tables,
        figures=figures,
        notes=notes,
        layers=layers,
    )


def _hotspot_sections(
    frame: pd.DataFrame,
    study: ClusterStudy | None,
    forms: Sequence[ClusterForm],
    start: date,
    end: date,
    notes: list[str],
) -> tuple[dict[str, pd.DataFrame], dict[str, gpd.GeoDataFrame], dict[str, Any]]:
    tables, layers, figures = _hotspots(study, forms, notes)
    effect = _border_effect(frame, forms, start, end)
    if effect is not None:
        tables["border_effect"] = effect
    return tables, layers, figures


def _study(
    store: IncidentStore, context: Context, cluster_id: str, start: date, end: date
) -> ClusterStudy | None:
    """Return the cluster's study over the period (None when no form has geometry)."""
    from geozone.analysis.study import cluster_study

    try:
        return cluster_study(store, context, cluster_id, start, end)
    except InvalidParameterError:
        return None


def _unique(texts: Iterable[str]) -> str:
    return "; ".join(dict.fromkeys(t for t in texts if t))


def _form_notes(forms: Sequence[ClusterForm], start: date, end: date) -> list[str]:
    notes = []
    if len(forms) > 1:
        parts_vi, parts_en = [], []
        for form in forms:
            days = f"{form.applies_from or '…'} – {form.applies_to or '…'}"
            parts_vi.append(f"{form.id} ({form.set_id}, {days})")
            parts_en.append(f"{form.id} ({form.set_id}, {days})")
        notes.append(
            "Báo cáo gồm các dạng của cụm trước và sau sắp xếp đơn vị hành chính: "
            + "; ".join(parts_vi)
            + " / The report covers the cluster before and after the reorganisation of units: "
            + "; ".join(parts_en)
            + "."
        )
    for form in forms:
        if not form.overlaps(start, end):
            continue
        days = f"{form.applies_from or '…'} – {form.applies_to or '…'}"
        if form.territory is None:
            notes.append(
                f"{form.id}: các thành viên được đặt tên theo đơn vị của {form.set_id}, bộ này "
                f"không có ranh giới cấp {form.cluster.level}; vụ việc trong {days} không được "
                f"tính theo dạng này / its members are named in {form.set_id}, which has no "
                f"{form.cluster.level} geometry: no incident in {days} is judged under this form."
            )
        elif form.territory.geometric and form.territory.sides.carried:
            notes.append(_carried_zone_note(form))
        elif not form.territory.geometric:
            areas = ", ".join(form.territory.unit_name(c) for c in form.territory.area_codes)
            notes.append(
                f"{form.id}: bộ {form.set_id} không có ranh giới cấp {form.cluster.level} của "
                f"các thành viên (no ward geometry); vụ việc trong {days} tại {areas} được ghi "
                f"nhận để xem xét nhưng không xác định được đơn vị chủ trì; nhập lớp ranh giới "
                f"phường cũ để có quyết định / {form.set_id} has no {form.cluster.level} geometry "
                f"of its members: incidents in {days} in {areas} are recorded for review "
                f"without a lead unit (rule no_member_geometry); import an old ward layer "
                f"(geozone data import … --register {form.set_id}) to decide them."
            )
    if not any(f.overlaps(start, end) for f in forms):
        notes.append(
            "Cụm không hoạt động trong kỳ báo cáo / The cluster did not run in the period."
        )
    else:
        gaps = "; ".join(f"{a} – {b}" for a, b in _uncovered(forms, start, end))
        if gaps:
            notes.append(
                f"Cụm không hoạt động (ngoài giai đoạn của cụm hoặc của bộ ranh giới) trong: "
                f"{gaps} / The cluster did not run (outside its period or its boundary set's) "
                f"on: {gaps}."
            )
    return notes


def _carried_zone_note(form: ClusterForm) -> str:
    """Say how a carried form's zone was derived, with its area and the original's."""
    territory = form.territory
    assert territory is not None
    carried = float(territory.zones.area_summary()["union_km2"])
    original = territory.original_zone_km2() or 0.0
    sides = territory.sides
    drawn = territory.drawn is not None
    how_vi = " Vùng giáp ranh do cán bộ vẽ khi xác nhận." if drawn else sides.basis_vi
    how_en = " The border zone drawn by a planner at confirmation." if drawn else sides.basis_en
    return (
        f"{form.id}:{how_vi} Diện tích vùng giáp ranh {_vi_decimal(carried)} km² (theo ranh "
        f"giới ban đầu {_vi_decimal(original)} km²) /{how_en} Border zone area {carried:,.2f} "
        f"km² (by the original lines {original:,.2f} km²)."
    )


def _vi_decimal(value: float) -> str:
    from geozone.text import format_number

    whole, _, part = f"{value:.2f}".partition(".")
    return f"{format_number(int(whole), 'vi')},{part}"


def _uncovered(forms: Sequence[ClusterForm], start: date, end: date) -> list[tuple[date, date]]:
    """Return the stretches of the period on which no form of the cluster applies."""
    spans = sorted(
        (max(start, f.applies_from or start), min(end, f.applies_to or end))
        for f in forms
        if f.overlaps(start, end)
    )
    gaps, day = [], start
    for first, last in spans:
        if first > day:
            gaps.append((day, first - timedelta(days=1)))
        day = max(day, last + timedelta(days=1))
    if day <= end:
        gaps.append((day, end))
    return gaps


# -- exports ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-ready Python values (numpy scalars, NaN, dates, periods, lists) recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, pd.Period):
        return str(value)
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, str | int):
        return value
    if isinstance(value, shapely.Geometry):
        return shapely.to_wkt(value, rounding_precision=6)
    return str(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = [str(c) for c in frame.columns]
    return [
        dict(zip(columns, (_plain(v) for v in row), strict=True))
        for row in frame.itertuples(index=False, name=None)
    ]


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the frame with lists joined by "-" and geometry as WKT."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object and len(values):
            if values.map(lambda v: isinstance(v, list | tuple | np.ndarray)).any():
                out[column] = values.map(
                    lambda v: (
                        "-".join(map(str, v)) if isinstance(v, list | tuple | np.ndarray) else v
                    )
                )
            elif values.map(lambda v: isinstance(v, shapely.Geometry)).any():
                out[column] = shapely.to_wkt(values.to_numpy(), rounding_precision=6)
    return out


def _write_csv(frame: pd.DataFrame, path: Path, synthetic: bool, attribution: str) -> None:
    out = _csv_ready(frame).assign(synthetic=synthetic, attribution=attribution)
    out.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")


__all__ = [
    "COLUMN_LABELS",
    "SYNTHETIC_LABEL",
    "TABLES",
    "ClusterForm",
    "ClusterReport",
    "cluster_forms",
    "cluster_incidents",
    "cluster_report",
    "label",
    "period_bounds",
    "ratio",
]
