"""The incident table of a cluster map: a compact columnar payload the page turns into markers.

Incidents are sent to the page once, as column arrays (coordinates plus indexes into
de-duplicated tables of categories, lead units, rules and explanation sentences), and turned
into circle markers by ``geozone.js``; the heat layer reuses the same table. Popups are filled
on click from the table, whose strings are HTML-escaped here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geozone.incidents.schema import CATEGORIES, category_code
from geozone.labels import KIND_SHORT_LABELS, RULE_LABELS, SYNTHETIC_BANNER, bilingual
from geozone.text import format_number
from geozone.vntime import VIETNAM_TZ
from maps.elements import esc
from maps.errors import MapInputError
from maps.overlays import prepare_layer

#: Incident marker fill colour by category kind.
KIND_COLOURS = {"criminal": "#d32f2f", "administrative": "#1976d2", "other": "#757575"}
POPUP_LABELS = {
    "synthetic_html": esc(SYNTHETIC_BANNER),
    "id_html": esc("Mã / ID"),
    "time_html": esc("Thời gian / Time (UTC+7)"),
    "lead_html": esc("Đơn vị chủ trì / Lead unit"),
    "rule_html": esc("Nguyên tắc / Rule"),
    "event_html": esc("Các báo cáo của sự việc / Reports of the event"),
}
_POINT_DECIMALS = 5  # 1 m: incident markers


def _utc_times(values: pd.Series) -> pd.Series:
    """Parse times to UTC (naive times are Vietnam time; unreadable ones NaT)."""
    try:
        times = pd.to_datetime(values, errors="coerce", format="ISO8601")
    except (ValueError, TypeError):  # naive and aware values mixed: one by one
        times = pd.Series(
            [_aware(value) for value in values], index=values.index, dtype="datetime64[ns, UTC]"
        )
    if not pd.api.types.is_datetime64_any_dtype(times):  # several offsets
        times = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
    if times.dt.tz is None:
        times = times.dt.tz_localize(VIETNAM_TZ)
    return times.dt.tz_convert("UTC")


def _aware(value: Any) -> pd.Timestamp | None:
    """One time as UTC (naive = Vietnam time); None when it is not a time."""
    try:
        stamp: Any = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if pd.isna(stamp):
        return None
    aware = stamp.tz_localize(VIETNAM_TZ) if stamp.tzinfo is None else stamp
    return pd.Timestamp(aware.tz_convert("UTC"))


def _minutes(values: pd.Series) -> tuple[int, NDArray[np.int64]]:
    """Return a base and offsets in whole minutes (UTC epoch minutes; -1 = no time)."""
    times = _utc_times(values)
    valid = times.notna().to_numpy()
    stamps = times.dt.as_unit("s").astype("int64").to_numpy() // 60
    base = int(stamps[valid].min()) if valid.any() else 0
    return base, np.where(valid, stamps - base, -1).astype(np.int64)


def _factorize(values: pd.Series, label: Any = None) -> tuple[NDArray[np.int64], list[str]]:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    labels = [esc(label(v) if label else v) for v in uniques]
    return codes.astype(np.int64), labels


_NUMBER = re.compile(r"(\d+(?:[.,]\d+)*)")
#: Stands for a number in a sentence template (never produced by html.escape).
NUMBER_SLOT = "\x01"


@lru_cache(maxsize=200_000)
def _split_numbers(sentence: str) -> tuple[str, str]:
    """Return a sentence's escaped template and its numbers joined by "|".

    One pass of the pattern (``re.split`` with the numbers captured: text and numbers
    alternate). Cached: the same sentences come back each time a map's table is rebuilt.
    """
    parts = _NUMBER.split(sentence)
    return esc(NUMBER_SLOT.join(parts[0::2])), "|".join(parts[1::2])


def pack_sentences(sentences: Sequence[str]) -> tuple[list[str], list[str]]:
    """Compress distinct sentences into shared templates and their numbers.

    The explanations differ mostly by a distance in metres, so 50,000 incidents carry
    thousands of distinct sentences but only dozens of shapes. Numbers are cut out (each
    replaced by :data:`NUMBER_SLOT`), the rest is HTML-escaped and shared.

    Returns
    -------
    templates, packed
        The escaped templates, and per sentence ``"k|n1|n2..."``: template k with the
        numbers to put back into its slots in order (digits, dots and commas only).
    """
    templates: dict[str, int] = {}
    packed: list[str] = []
    for sentence in sentences:
        template, numbers = _split_numbers(sentence)
        k = templates.setdefault(template, len(templates))
        packed.append(f"{k}|{numbers}" if numbers else str(k))
    return list(templates), packed


def _common_prefix(first: str, last: str) -> str:
    """Return the common prefix of the lexicographically first and last strings (= of all)."""
    size = 0
    for a, b in zip(first, last, strict=False):
        if a != b:
            break
        size += 1
    return first[:size]


def _category(value: str) -> dict[str, Any]:
    category = CATEGORIES.get(value)
    if category is None:
        try:
            category = CATEGORIES[category_code(value)]
        except ValueError:
            return {"vi_html": esc(value), "en_html": esc(value), "kind": "other"}
    return {"vi_html": esc(category.vi), "en_html": esc(category.en), "kind": category.kind}


def incident_data(
    incidents: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None = None
) -> dict[str, Any]:
    """Build the compact columnar table the page's incident and heat layers read.

    Parameters
    ----------
    incidents
        Points; optional columns ``category`` (code or label), ``occurred_at``, ``rule``,
        ``lead_unit`` (a unit code), ``explanation_vi``, ``explanation_en``, ``synthetic``,
        ``external_id``, ``event_reports`` (the reports of a linked event, as text).
    units
        Units with ``code`` and ``full_name``, to name lead units (optional).

    Returns
    -------
    dict
        ``lat``/``lon`` (5 decimals, about 1 m); index arrays into tables of distinct
        HTML-escaped strings: ``cat``/``cats``, ``lead``/``leads``, ``rule``/``rules``,
        ``ev``/``evs`` (the reports of a linked event, one point per event),
        ``ex`` into ``vis``/``ens`` (packed sentences, see :func:`pack_sentences`, with
        templates ``vi_templates``/``en_templates``), -1 meaning none; ``t0`` and ``t``
        (UTC epoch minutes: base and offsets, -1 none); ``id_prefix`` and ``id`` (escaped);
        ``syn`` (0/1 per row, or one number for all) and the popup ``labels``.

    Raises
    ------
    MapInputError
        When a geometry is not a point (naming the row).
    """
    frame = prepare_layer(incidents, "incidents")
    geoms = frame.geometry.to_numpy()
    not_point = shapely.get_type_id(geoms) != 0
    if not_point.any():
        first = geoms[not_point][0]
        raise MapInputError(
            f"layer 'incidents': geometries must be points; row {frame.index[not_point][0]} "
            f"is a {first.geom_type}"
        )
    return incident_columns(
        pd.DataFrame(frame.drop(columns=frame.geometry.name)),
        shapely.get_x(geoms),
        shapely.get_y(geoms),
        units,
    )


def incident_columns(
    frame: pd.DataFrame,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    units: gpd.GeoDataFrame | None = None,
) -> dict[str, Any]:
    """Build the :func:`incident_data` table from plain columns and coordinates (EPSG:4326).

    Every step works on whole columns (factorised codes, one pattern pass per distinct
    sentence), so the stored incidents of a cluster go to the table without points built.
    """
    names: dict[str, str] = {}
    if units is not None and {"code", "full_name"} <= set(units.columns):
        names = dict(zip(units["code"].astype(str), units["full_name"].astype(str), strict=True))
    n = len(frame)
    data: dict[str, Any] = {
        "lat": np.round(np.asarray(lat, dtype=np.float64), _POINT_DECIMALS),
        "lon": np.round(np.asarray(lon, dtype=np.float64), _POINT_DECIMALS),
        "labels": POPUP_LABELS,
    }
    raw = frame["category"] if "category" in frame else pd.Series(["other"] * n, frame.index)
    cat_codes, cat_uniques = pd.factorize(raw.fillna("other").astype(str))
    cats = [_category(value) for value in cat_uniques]
    for cat in cats:
        cat["color"] = KIND_COLOURS[cat["kind"]]
    data["cat"], data["cats"] = cat_codes.astype(np.int64), cats
    if "occurred_at" in frame:
        data["t0"], data["t"] = _minutes(frame["occurred_at"])
    if "external_id" in frame:
        data["id_prefix"], data["id"] = _short_ids(frame["external_id"])
    if "lead_unit" in frame:
        data["lead"], data["leads"] = _factorize(
            frame["lead_unit"], lambda c: f"{names[c]} ({c})" if c in names else c
        )
    if "rule" in frame:
        data["rule"], data["rules"] = _factorize(frame["rule"], _rule_label)
    if "event_reports" in frame:  # a linked event, drawn once: its reports
        data["ev"], data["evs"] = _factorize(frame["event_reports"])
    columns = [c for c in ("explanation_vi", "explanation_en") if c in frame]
    if columns and not _explanations_by_first(frame, columns, data):
        # One code per distinct pair of sentences: each column factorised, codes combined.
        present = np.zeros(n, dtype=bool)
        key = np.zeros(n, dtype=np.int64)
        found: list[tuple[NDArray[np.int64], Any]] = []
        for column in columns:
            codes, uniques = pd.factorize(frame[column].to_numpy(dtype=object))
            present |= codes >= 0
            key = key * (len(uniques) + 1) + (codes + 1)
            found.append((codes, uniques))
        pair_codes, _ = pd.factorize(key[present])
        data["ex"] = np.full(n, -1, dtype=np.int64)
        data["ex"][present] = pair_codes
        # The row where each distinct pair first appears gives its sentences.
        rows = np.flatnonzero(present)[np.unique(pair_codes, return_index=True)[1]]
        for column, (codes, uniques) in zip(columns, found, strict=True):
            sentences = [str(uniques[c]) if c >= 0 else "" for c in codes[rows]]
            name = column.removeprefix("explanation_")
            data[f"{name}_templates"], data[f"{name}s"] = pack_sentences(sentences)
    if "synthetic" in frame:
        syn = frame["synthetic"].fillna(False).astype(bool).to_numpy().astype(np.int8)
        data["syn"] = int(syn[0]) if len(syn) and (syn == syn[0]).all() else syn
    return data


def _explanations_by_first(frame: pd.DataFrame, columns: list[str], data: dict[str, Any]) -> bool:
    """Fill ``ex`` and the packed sentences when the first column decides the others.

    Stored decisions always have both sentences, and the English follows the Vietnamese:
    one factorisation of the Vietnamese and one comparison of the English against the first
    English met for each Vietnamese sentence (instead of hashing both). Returns False (and
    fills nothing) when a sentence is missing or the English does not follow.
    """
    if frame[columns].isna().to_numpy().any():
        return False
    lead = frame[columns[0]].to_numpy(dtype=object)
    codes, _ = pd.factorize(lead)
    first = np.unique(codes, return_index=True)[1]  # each sentence's first row, in code order
    others = [frame[c].to_numpy(dtype=object) for c in columns[1:]]
    if not all(bool((values[first][codes] == values).all()) for values in others):
        return False
    data["ex"] = codes.astype(np.int64)
    for column, values in zip(columns, [lead, *others], strict=True):
        name = column.removeprefix("explanation_")
        sentences = [str(v) for v in values[first]]
        data[f"{name}_templates"], data[f"{name}s"] = pack_sentences(sentences)
    return True


_HTML_SPECIAL = re.compile(r"[&<>\"']")


def _short_ids(values: pd.Series) -> tuple[str, list[str]]:
    """Return the ids' common prefix and the rest of each id, HTML-escaped."""
    ids = values.astype(str).to_numpy(dtype=object)
    if not len(ids):
        return "", []
    prefix = _common_prefix(min(ids), max(ids))
    size = len(prefix)
    rest = [v[size:] for v in ids]
    if _HTML_SPECIAL.search("".join(rest)):
        rest = [esc(v) for v in rest]
    return esc(prefix), rest


def incident_legend(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the legend items of the incident kinds present in an :func:`incident_data` table."""
    kinds = dict.fromkeys(cat["kind"] for cat in data["cats"])
    return [
        {
            "swatch": {"kind": "circle", "color": "#202020", "fill": KIND_COLOURS[k]},
            "label_html": esc(bilingual(KIND_SHORT_LABELS[k])),
        }
        for k in KIND_COLOURS
        if k in kinds
    ]


def incident_summary(returned: int, total: int, reports: int | None = None) -> str:
    """Return the plain-text line saying how many incidents a map shows (Vietnamese, English).

    ``returned``: points drawn; ``reports``: the stored reports they stand for (a linked
    event is one point for several reports; default: one each). Numbers follow each
    language's format (50.000 / 50,000).
    """
    reports = returned if reports is None else reports
    if not total:
        return "Chưa có vụ việc nào của cụm này / No incidents of this cluster are stored"

    def vi(n: int) -> str:
        return format_number(n, "vi")

    def en(n: int) -> str:
        return format_number(n, "en")

    events_vi = events_en = ""
    if reports > returned:
        events_vi, events_en = f", gộp thành {vi(returned)} sự việc", f", as {en(returned)} events"
    if reports >= total:
        return (
            f"Hiển thị cả {vi(total)} vụ việc{events_vi} / "
            f"all {en(total)} incidents shown{events_en}"
        )
    return (
        f"Hiển thị {vi(reports)} vụ việc mới nhất trong {vi(total)}{events_vi} / "
        f"the newest {en(reports)} of {en(total)} incidents shown{events_en}"
    )


def reports_drawn(data: dict[str, Any] | None) -> int:
    """Return the stored reports a table's points stand for (a linked event's all of them)."""
    if data is None:
        return 0
    points = len(data["lat"])
    if "ev" not in data:
        return points
    per_event = np.array([text.count("; ") for text in data["evs"]] + [0], dtype=np.int64)
    codes = np.asarray(data["ev"], dtype=np.int64)
    return points + int(per_event[np.where(codes < 0, len(per_event) - 1, codes)].sum())


def _rule_label(rule: str) -> str:
    """Return a rule's bilingual label; an unknown rule is said to be unknown, never raw."""
    return RULE_LABELS.get(rule) or f"Nguyên tắc không xác định / Unknown rule ({rule})"


def incident_payload(
    incidents: gpd.GeoDataFrame | None,
    total: int,
    units: gpd.GeoDataFrame | None = None,
    *,
    data: dict[str, Any] | None = None,
    notices: Sequence[str] = (),
) -> dict[str, Any]:
    """Return what a served cluster map fetches to draw its incidents (``incident_loader.js``).

    Parameters
    ----------
    incidents
        Points, as for :func:`cluster_map` (None or empty: none).
    total
        How many incidents of the cluster are stored (``incidents`` may be the newest only).
    units
        ``code`` and ``full_name`` of the units that may lead, to name them.
    data
        The table already built (:func:`incident_columns`); ``incidents`` is then None.
    notices
        Plain-text notices of the store
        (:func:`geozone.incidents.notices.unfinished_import_notices`).

    Returns
    -------
    dict
        ``returned``, ``total``, ``synthetic`` (any incident is), ``summary`` (plain text),
        ``data`` (the :func:`incident_data` table, or None), ``legend`` (items with
        ``swatch`` and ``label_html``), ``notice_html`` (the synthetic badge or None),
        ``notices`` and ``notices_html`` (the notices, as given and escaped).
    """
    if data is None and incidents is not None and len(incidents):
        data = incident_data(incidents, units)
    returned = 0 if data is None else len(data["lat"])
    synthetic = bool(data is not None and "syn" in data and np.any(data["syn"]))
    return {
        "returned": returned,
        "total": int(total),
        "synthetic": synthetic,
        "summary": incident_summary(returned, int(total), reports_drawn(data)),
        "data": data,
        "legend": incident_legend(data) if data is not None else [],
        "notice_html": esc(SYNTHETIC_BANNER) if synthetic else None,
        "notices": list(notices),
        "notices_html": [esc(notice) for notice in notices],
    }


def thousands(n: int) -> str:
    """Vietnamese digit grouping: 50.000 (a number in Vietnamese text; see format_number)."""
    return format_number(n, "vi")
