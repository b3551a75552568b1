"""The cluster review report (báo cáo sơ kết cụm liên kết): the figures a review gives.

The reports in ../shared/seeds measure a cluster by figures such as "31 of 35 criminal cases
in the border area solved" and "15 cases, 19 subjects; 46 administrative violations, 63
subjects". :func:`cluster_report` computes them for one cluster and a period from the
incident store, as tables (pandas DataFrames with English column names and Vietnamese and
English labels, see :data:`~geozone.report.tables.TABLES` and
:data:`~geozone.report.tables.COLUMN_LABELS`) and headline figures; the HTML page is built by
``maps.report`` and the CLI and API serve both.

:func:`cluster_report` reads top-down: the forms of the cluster
(:mod:`~geozone.report.forms`), their incidents read from the store
(:mod:`~geozone.report.incidents`), the tables (:mod:`~geozone.report.tables`), the headline
figures (:mod:`~geozone.report.figures`), and the hotspot and border-effect sections
(:mod:`~geozone.report.sections`); this module holds the report object and its exports.

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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from geozone.incidents.linking import one_per_event
from geozone.incidents.notices import unfinished_import_notices
from geozone.labels import SYNTHETIC_LABEL
from geozone.report.figures import headline_figures
from geozone.report.forms import cluster_forms, form_notes, period_bounds
from geozone.report.incidents import cluster_incidents, incident_points, prepare_incidents
from geozone.report.sections import hotspot_sections, report_study
from geozone.report.tables import TABLES, label, report_tables
from geozone.store.base import IncidentStore
from geozone.text import format_number
from geozone.vntime import VIETNAM_TZ

if TYPE_CHECKING:
    import geopandas as gpd

    from geozone.context import Context


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
        :data:`geozone.labels.SYNTHETIC_LABEL` prominently.
    attribution
        ``{"vi": ..., "en": ...}``: the attribution of the boundary sets the incidents were
        judged with.
    tables
        Name (:data:`~geozone.report.tables.TABLES`) → DataFrame with English column names
        (:data:`~geozone.report.tables.COLUMN_LABELS`).
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


def _address_only(
    store: IncidentStore, cluster_ids: list[str], start: date, end: date, notes: list[str]
) -> int:
    """Count the cluster's incidents known by their address only; say so in the notes.

    They have no point: no table, hotspot or border effect counts them, and no border-zone
    decision is made (see :mod:`geozone.address.incidents`).
    """
    from geozone.address.store import AddressIncidentStore

    counts = AddressIncidentStore(store.engine).counts(
        cluster_ids=cluster_ids, start=start, end=end
    )
    n = counts["address_only"]
    if n:
        levels = ", ".join(
            f"{level} {counts[level]:,}"
            for level in ("ward", "district", "province", "unresolved")
            if counts[level]
        )
        notes.append(
            f"Ngoài ra {format_number(n)} vụ việc chỉ có địa chỉ, không có tọa độ: không tính vào "
            "các bảng, điểm nóng và hiệu ứng giáp ranh, không quyết định vùng giáp ranh / "
            f"Besides, {n:,} incidents known by their address only ({levels}): not in the "
            "tables, hotspots or border effect, and no border-zone decision."
        )
    return n


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
        A committed cluster or a form carried from it (either gives the whole family, see
        :mod:`geozone.report.forms`).
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
    reports = prepare_incidents(cluster_incidents(store, [f.id for f in forms], start, end))
    # Events, not reports: the reports of one event by two members are counted once.
    frame, events = one_per_event(reports)
    frame = frame.reset_index(drop=True)
    active = [f for f in forms if f.overlaps(start, end)] or forms
    head = next((f.cluster for f in forms if f.id == cluster_id), forms[0].cluster)
    notes: list[str] = []
    n_synthetic = int(frame["synthetic"].sum())
    if n_synthetic:
        notes.append(
            f"{SYNTHETIC_LABEL.upper()}: "
            f"{format_number(n_synthetic)}/{format_number(len(frame))} vụ "
            f"việc do geozone.incidents.synthetic sinh ra, không phải số liệu thật / "
            f"{n_synthetic:,} of {len(frame):,} incidents are generated by "
            "geozone.incidents.synthetic, not real records."
        )
    # An import not finished: its reports may be counted as separate events (named).
    notes += unfinished_import_notices(store)
    if not len(frame):
        notes.append(
            "Không có vụ việc nào của cụm trong kỳ báo cáo / "
            "No incidents of the cluster in the period."
        )
    if events["linked_reports"]:
        notes.append(
            f"Vụ việc được đếm theo sự việc: {format_number(events['linked_reports'])} báo cáo "
            f"của hai thành viên trở lên về cùng một sự việc được ghép thành "
            f"{format_number(events['linked_events'])} sự việc (đơn vị phát hiện sớm nhất chủ "
            f"trì) / Incidents are counted as events: {events['linked_reports']:,} reports by "
            f"two or more members of one event were linked into {events['linked_events']:,} "
            f"events ({events['reports']:,} reports, {events['events']:,} events; the earliest "
            "detection leads)."
        )
    notes += form_notes(forms, start, end)
    notes.append(
        "Ngày theo giờ Việt Nam (UTC+7), tính cả ngày đầu và ngày cuối; tình trạng làm rõ tại "
        "thời điểm lập báo cáo / Days in Vietnam time (UTC+7), both ends included; solved "
        "status as stored when the report was made."
    )
    tables = report_tables(frame, forms, start, end)
    figures = headline_figures(frame, start, end)
    figures.update(
        reports=events["reports"],
        linked_reports=events["linked_reports"],
        linked_events=events["linked_events"],
    )
    figures["address_only"] = _address_only(store, [f.id for f in forms], start, end, notes)
    points = incident_points(frame)
    layers: dict[str, gpd.GeoDataFrame] = {"incidents": points}
    if hotspots:
        extra_tables, extra_layers, extra_figures = hotspot_sections(
            frame, report_study(store, context, cluster_id, start, end), forms, start, end, notes
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


def _unique(texts: Iterable[str]) -> str:
    return "; ".join(dict.fromkeys(t for t in texts if t))


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


__all__ = ["SYNTHETIC_LABEL", "ClusterReport", "cluster_report"]
