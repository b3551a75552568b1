"""The store's write path: frames checked and put in canonical form before a backend writes.

:func:`prepare_incidents` checks a caller's incident frame against the field table
(:mod:`geozone.incidents.fields`): the required columns, the text lengths, NUL characters,
the plausible time range, the coordinate ranges, the categories, the allowed statuses, the
count's range and the flags, each worded as the table words it for a frame; defaults fill
the columns left out. :func:`prepare_assignments` checks the frames of
:meth:`~geozone.store.base.IncidentStore.save_assignments`. Both are vectorised and backend
independent, and raise one :class:`~geozone.errors.IncidentDataError` naming every problem
(and up to five external ids per problem), so that nothing of a bad frame is stored.

The store takes Python and pandas values, not the spellings of files: text is made Unicode
NFC and otherwise kept as given (whitespace included); a naive time is Vietnam time.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from geozone.errors import IncidentDataError
from geozone.incidents.fields import (
    FIELDS,
    INCIDENT_COLUMNS,
    REQUIRED_COLUMNS,
    IncidentField,
    frame_wording,
)
from geozone.incidents.schema import CATEGORIES, category_code, plausible_utc_us, time_range_text
from geozone.store.base import CLUSTER_COLUMNS, LOCATE_STATUSES, UNIT_COLUMNS
from geozone.text import nfc
from geozone.vntime import VIETNAM_TZ

#: The length limit of an incident's id, checked where assignment frames name incidents.
_ID_LENGTH = FIELDS["external_id"].max_length


class _Problems:
    """Collects what is wrong with a frame, so one error names everything."""

    def __init__(self, what: str, ids: pd.Series[Any]) -> None:
        self.what = what
        self.ids = ids
        self.lines: list[str] = []

    def rows(self, bad: pd.Series[bool] | np.ndarray[Any, Any], message: str) -> None:
        mask = np.asarray(bad, dtype=bool)
        if not mask.any():
            return
        sample = self.ids[mask].head(5).tolist()
        more = ", …" if mask.sum() > 5 else ""
        self.lines.append(
            f"{message} in {int(mask.sum())} row(s) (external_id "
            f"{', '.join(repr(v) for v in sample)}{more})"
        )

    def add(self, message: str) -> None:
        self.lines.append(message)

    def raise_any(self) -> None:
        if self.lines:
            raise IncidentDataError(f"{self.what}: " + "; ".join(self.lines))


def _columns(frame: pd.DataFrame, what: str, required: Sequence[str], known: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise IncidentDataError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in required if c not in frame.columns]
    unknown = [c for c in frame.columns if c not in known and c != "geometry"]
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s) {', '.join(map(str, unknown))}")
    if problems:
        raise IncidentDataError(f"{what}: " + "; ".join(problems))


def _text(
    frame: pd.DataFrame,
    column: str,
    problems: _Problems,
    *,
    default: str | None,
    nullable: bool,
    max_length: int | None = None,
    collapse: bool = False,
) -> pd.Series[Any]:
    """Return the column as an object Series of NFC str (None where null and nullable).

    ``collapse`` also strips the text and collapses its runs of spaces, as
    :func:`geozone.text.nfc` does for the model and the file reader: an id is the same id
    however it was spaced, and a blank one is empty.
    """
    if column not in frame.columns:
        return pd.Series([default] * len(frame), index=frame.index, dtype=object)
    values = frame[column]
    present = values.notna()
    kind = pd.api.types.infer_dtype(values[present], skipna=True)
    if kind not in ("string", "empty"):
        problems.add(frame_wording("not_text", name=column, found=kind))
        return values.astype(str).astype(object).where(present, None)
    # Each distinct value is normalised and checked once (codes, members, rules repeat).
    codes, uniques = pd.factorize(values.astype(object).where(present, None), sort=False)
    if collapse:  # geozone.text.nfc per distinct value: 30x faster than pandas' str methods
        texts: list[str] = [nfc(t) for t in map(str, uniques)]
    else:  # NFC by Python (which hands back a text that is NFC already, not a copy)
        texts = [unicodedata.normalize("NFC", t) for t in map(str, uniques)]
    taken = np.empty(len(texts) + 1, dtype=object)  # the last for code -1: null
    taken[:-1] = texts
    out = pd.Series(taken[codes], index=values.index, dtype=object)
    if not nullable:
        if default is None:
            problems.rows(~present, frame_wording("missing", name=column))
        else:
            out = out.where(present, default)
    if max_length is not None:
        too_long = np.fromiter((len(t) > max_length for t in texts), bool, len(texts))
        problems.rows(
            pd.Series(np.append(too_long, False)[codes], index=values.index),
            frame_wording("too_long", name=column, limit=max_length),
        )
    nul = np.append(np.fromiter(("\x00" in t for t in texts), bool, len(texts)), False)
    problems.rows(pd.Series(nul[codes], index=values.index), frame_wording("nul", name=column))
    return out


def _field_text(frame: pd.DataFrame, spec: IncidentField, problems: _Problems) -> pd.Series[Any]:
    """Return an incident text field, checked by its rules (:func:`_text`)."""
    return _text(
        frame,
        spec.name,
        problems,
        default=spec.default,
        nullable=spec.nullable,
        max_length=spec.max_length,
        collapse=spec.nfc,
    )


def _flag(
    frame: pd.DataFrame, column: str, problems: _Problems, *, default: bool | None
) -> pd.Series[Any]:
    """Return a bool column (object with None when ``default`` is None and values are null)."""
    if column not in frame.columns:
        return pd.Series([default] * len(frame), index=frame.index, dtype=object)
    values = frame[column]
    if pd.api.types.is_bool_dtype(values.dtype) and not values.isna().any():
        return values.astype(bool)
    present = values.notna()
    valid = values[present].isin([True, False])
    problems.rows(
        present & valid.reindex(values.index, fill_value=True).eq(False),
        frame_wording("not_a_flag", name=column),
    )
    out = values.astype(object).where(present, default)
    if default is None:
        return out.map(lambda v: None if v is None else bool(v))
    return out.astype(bool)


#: A time string that carries its offset: a clock time followed by Z or ±hh[:mm].
_OFFSET = re.compile(r"\d\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|[+-]\d\d(:?\d\d)?)$", re.IGNORECASE)


def _is_bare_number(value: object) -> bool:
    """Tell a number given for a time (20240501, "2024.5"): refused, as the model does."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | np.number):
        return True
    if isinstance(value, str):
        try:
            float(value.strip())
        except ValueError:
            return False
        return True
    return False


def _is_aware(value: object) -> bool:
    if isinstance(value, str):
        return _OFFSET.search(value.strip()) is not None
    return getattr(value, "tzinfo", None) is not None


def _utc_times(values: pd.Series[Any], column: str, problems: _Problems) -> pd.Series[Any]:
    """Parse a time column into ``datetime64[us, UTC]``; naive times are Vietnam time.

    Datetime columns convert as they are; object columns (datetimes, ISO strings, offsets
    mixed) are split into the values that carry an offset and those that do not.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        parsed = values
    elif pd.api.types.is_datetime64_dtype(dtype):
        parsed = values.dt.tz_localize(VIETNAM_TZ)
    else:
        present = values.notna()
        bare = values.map(_is_bare_number).astype(bool)
        aware = present & ~bare & values.map(_is_aware).astype(bool)
        naive = present & ~bare & ~aware
        parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
        if aware.any():
            parsed[aware] = pd.to_datetime(
                values[aware], utc=True, errors="coerce", format="ISO8601"
            ).dt.as_unit("us")
        if naive.any():
            local = pd.to_datetime(values[naive], errors="coerce", format="ISO8601")
            parsed[naive] = local.dt.tz_localize(VIETNAM_TZ).dt.tz_convert("UTC").dt.as_unit("us")
        problems.rows(present & parsed.isna(), frame_wording("unreadable", name=column))
    result: pd.Series[Any] = parsed.dt.tz_convert("UTC").dt.as_unit("us")
    return result


def prepare_incidents(incidents: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Validate an incidents frame and return its canonical form and the repeated-id count.

    The canonical frame has :data:`~geozone.incidents.fields.INCIDENT_COLUMNS` in order, a
    fresh index, text NFC, times ``datetime64[us, UTC]``, category codes, and no repeated
    ``external_id`` (the first row of an id wins; the others are counted).

    Raises
    ------
    IncidentDataError
        Naming every invalid column and up to five offending external ids per problem.
    """
    what = "incidents frame"
    _columns(incidents, what, REQUIRED_COLUMNS, INCIDENT_COLUMNS)
    frame = incidents.reset_index(drop=True)
    problems = _Problems(what, frame["external_id"])
    out: dict[str, pd.Series[Any]] = {"external_id": _external_ids(frame, problems)}
    problems.ids = out["external_id"]
    out |= _times(frame, problems)
    out |= {name: _coordinate(frame, FIELDS[name], problems) for name in ("lon", "lat")}
    out["category"] = _categories(frame, FIELDS["category"], problems)
    out["detected_by"] = _field_text(frame, FIELDS["detected_by"], problems)
    out["status"] = _choice(frame, FIELDS["status"], problems)
    out["subjects"] = _count(frame, FIELDS["subjects"], problems)
    out["jointly_handled"] = _field_flag(frame, FIELDS["jointly_handled"], problems)
    out["description"] = _field_text(frame, FIELDS["description"], problems)
    out["synthetic"] = _field_flag(frame, FIELDS["synthetic"], problems)
    problems.raise_any()
    result = pd.DataFrame(out, index=frame.index)[list(INCIDENT_COLUMNS)]
    repeated = result["external_id"].duplicated(keep="first")
    n_repeated = int(repeated.sum())
    if n_repeated:
        result = result[~repeated].reset_index(drop=True)
    return result, n_repeated


#: The time fields, in their order.
_TIMES = tuple(spec for spec in FIELDS.values() if spec.kind == "time")


def _external_ids(frame: pd.DataFrame, problems: _Problems) -> pd.Series[Any]:
    """Return the ids: text within the length, not empty."""
    spec = FIELDS["external_id"]
    ids = _field_text(frame, spec, problems)
    if spec.min_length is not None:
        problems.rows(ids.str.len().fillna(0) < spec.min_length, spec.summary("empty"))
    return ids


def _times(frame: pd.DataFrame, problems: _Problems) -> dict[str, pd.Series[Any]]:
    """Return the time fields in UTC: readable, present when required, plausible, in order."""
    times: dict[str, pd.Series[Any]] = {}
    for spec in _TIMES:
        if spec.name not in frame.columns:
            times[spec.name] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
            continue
        times[spec.name] = _utc_times(frame[spec.name], spec.name, problems)
        if spec.required:
            missing = times[spec.name].isna() & frame[spec.name].isna()
            problems.rows(missing, spec.summary("missing"))
    for spec in _TIMES:
        values = times[spec.name]
        outside = values.notna() & ~plausible_utc_us(pd.DatetimeIndex(values).asi8)
        problems.rows(outside, spec.summary("plausible", range=time_range_text()))
    for spec in _TIMES:
        if spec.after is not None:
            early = (times[spec.name] < times[spec.after]).fillna(False)
            problems.rows(early, spec.summary("order"))
    return times


def _coordinate(frame: pd.DataFrame, spec: IncidentField, problems: _Problems) -> pd.Series[Any]:
    """Return a coordinate as float64: a number within the field's range."""
    number = pd.to_numeric(frame[spec.name], errors="coerce").astype("float64")
    problems.rows(~number.between(*spec.bounds), spec.summary("range"))
    return number


def _categories(frame: pd.DataFrame, spec: IncidentField, problems: _Problems) -> pd.Series[Any]:
    """Return category codes (labels in either language are converted)."""
    category = frame[spec.name]
    labels = category.dropna().astype(str).unique()
    codes: dict[str, str] = {}
    unknown = []
    for label in labels:  # the distinct labels, not the rows
        try:
            codes[label] = category_code(label)
        except ValueError:
            unknown.append(label)
    if unknown:
        quoted = ", ".join(map(repr, unknown[:5]))
        problems.add(spec.summary("unknown", value=quoted, known=", ".join(CATEGORIES)))
    problems.rows(category.isna(), spec.summary("missing"))
    return category.astype(object).map(codes)


def _choice(frame: pd.DataFrame, spec: IncidentField, problems: _Problems) -> pd.Series[Any]:
    """Return a text that must be one of the field's choices (its default when left out)."""
    values = _field_text(frame, spec, problems)
    problems.rows(~values.isin(spec.choices), spec.summary("choice"))
    return values


def _count(frame: pd.DataFrame, spec: IncidentField, problems: _Problems) -> pd.Series[Any]:
    """Return a whole number within the field's range as int64 (its default when left out)."""
    if spec.name not in frame.columns:
        return pd.Series(spec.default, index=frame.index, dtype="int64")
    values = pd.to_numeric(frame[spec.name], errors="coerce")
    bad = ~values.between(*spec.bounds) | (values % 1 != 0)
    problems.rows(bad, spec.summary("not_whole"))
    return values.where(~bad, spec.default).astype("int64")  # bad rows are refused below


def _field_flag(frame: pd.DataFrame, spec: IncidentField, problems: _Problems) -> pd.Series[Any]:
    """Return a flag field as bool (its default when left out)."""
    return _flag(frame, spec.name, problems, default=spec.default)


def _code_lists(values: pd.Series[Any], column: str, problems: _Problems) -> pd.Series[Any]:
    """Return a Series of lists of str (a missing value is an empty list)."""

    def as_list(value: object) -> list[str] | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list | tuple | np.ndarray | pd.Series):
            return [str(v) for v in value]
        return None

    lists = values.map(as_list)  # one small list per row: these are stored as JSON per row
    problems.rows(lists.isna(), f"{column} is not a list of codes")
    return lists


def prepare_assignments(
    units: pd.DataFrame, clusters: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate the frames of :meth:`IncidentStore.save_assignments`; return canonical ones.

    Raises
    ------
    IncidentDataError
        A column is missing or unknown, a value is invalid, an incident is repeated in
        ``units``, an (incident, cluster) pair is repeated, or a cluster row names an incident
        that ``units`` lacks.
    """
    unit_frame = _units_frame(units)
    return unit_frame, _clusters_frame(clusters, unit_frame["external_id"])


def canonical_checked(
    incidents: pd.DataFrame, units: pd.DataFrame, clusters: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return checked frames in the canonical layout, without checking them again.

    For rows :func:`~geozone.incidents.io.validate_incidents` validated (ids unique) and
    their assignment by :func:`~geozone.assignment.assign`: the columns in order, a fresh
    index, and the engine's empty values as the checks would give them (a missing list of
    candidates is an empty list, a missing distance None). The values written are those of
    :func:`prepare_incidents` and :func:`prepare_assignments` (tested), at a fraction of
    their time: the import's rows are checked once, by the reader.
    """
    frame = incidents.reset_index(drop=True)[list(INCIDENT_COLUMNS)]
    unit_frame = units.reset_index(drop=True)[["external_id", *UNIT_COLUMNS]]
    missing = unit_frame["candidates"].isna().to_numpy()  # a list cell is never NA
    if missing.any():
        candidates = unit_frame["candidates"].to_numpy(dtype=object).copy()
        for row in np.flatnonzero(missing):
            candidates[row] = []
        unit_frame = unit_frame.assign(candidates=candidates)
    cluster_frame = clusters.reset_index(drop=True)[["external_id", *CLUSTER_COLUMNS]]
    distance = cluster_frame["distance_m"].astype(object)
    cluster_frame = cluster_frame.assign(distance_m=distance.where(distance.notna(), None))
    return frame, unit_frame, cluster_frame


def _units_frame(units: pd.DataFrame) -> pd.DataFrame:
    """Check the unit assignment of each incident; return it in canonical form."""
    what = "units frame"
    _columns(
        units, what, ("external_id", "set_id", "locate_status"), ("external_id", *UNIT_COLUMNS)
    )
    frame = units.reset_index(drop=True)
    problems = _Problems(what, frame["external_id"])
    u: dict[str, pd.Series[Any]] = {}
    u["external_id"] = _text(
        frame,
        "external_id",
        problems,
        default=None,
        nullable=False,
        max_length=_ID_LENGTH,
        collapse=True,
    )
    problems.rows(u["external_id"].duplicated(keep=False), "external_id repeated")
    u["set_id"] = _text(frame, "set_id", problems, default=None, nullable=True)
    status = _text(frame, "locate_status", problems, default=None, nullable=False)
    problems.rows(
        ~status.isin(LOCATE_STATUSES), f"locate_status is not one of {', '.join(LOCATE_STATUSES)}"
    )
    u["locate_status"] = status
    for column in ("unit_code", "ward_code", "district_code", "province_code"):
        u[column] = _text(frame, column, problems, default=None, nullable=True)
    u["on_boundary"] = _flag(frame, "on_boundary", problems, default=False)
    u["candidates"] = _lists_or_empty(frame, "candidates", problems)
    problems.raise_any()
    return pd.DataFrame(u, index=frame.index)[["external_id", *UNIT_COLUMNS]]


def _clusters_frame(clusters: pd.DataFrame, assigned: pd.Series[Any]) -> pd.DataFrame:
    """Check the cluster rows of the incidents ``assigned``; return them in canonical form."""
    what = "clusters frame"
    _columns(
        clusters,
        what,
        ("external_id", "cluster_id", "in_zone"),
        ("external_id", *CLUSTER_COLUMNS),
    )
    cframe = clusters.reset_index(drop=True)
    problems = _Problems(what, cframe["external_id"])
    c: dict[str, pd.Series[Any]] = {}
    c["external_id"] = _text(
        cframe,
        "external_id",
        problems,
        default=None,
        nullable=False,
        max_length=_ID_LENGTH,
        collapse=True,
    )
    c["cluster_id"] = _text(cframe, "cluster_id", problems, default=None, nullable=False)
    pair = pd.DataFrame({"e": c["external_id"], "c": c["cluster_id"]})
    problems.rows(pair.duplicated(keep=False), "(external_id, cluster_id) repeated")
    problems.rows(~c["external_id"].isin(assigned), "incident not in the units frame")
    c["member_code"] = _text(cframe, "member_code", problems, default=None, nullable=True)
    c["in_zone"] = _flag(cframe, "in_zone", problems, default=False)
    c["zone_kind"] = _text(cframe, "zone_kind", problems, default=None, nullable=True)
    for column in ("zone_units", "cooperating"):
        c[column] = _lists_or_empty(cframe, column, problems)
    c["distance_m"] = _distances(cframe, problems)
    c["boundary_with"] = _text(cframe, "boundary_with", problems, default=None, nullable=True)
    c["lead_unit"] = _text(cframe, "lead_unit", problems, default=None, nullable=True)
    c["rule"] = _text(cframe, "rule", problems, default=None, nullable=True)
    c["review"] = _flag(cframe, "review", problems, default=False)
    for column in ("explanation_vi", "explanation_en"):
        c[column] = _text(cframe, column, problems, default="", nullable=False)
    problems.raise_any()
    return pd.DataFrame(c, index=cframe.index)[["external_id", *CLUSTER_COLUMNS]]


def _lists_or_empty(frame: pd.DataFrame, column: str, problems: _Problems) -> pd.Series[Any]:
    """Return a column of code lists (:func:`_code_lists`); empty lists when it is absent."""
    if column in frame.columns:
        return _code_lists(frame[column], column, problems)
    return pd.Series([[] for _ in range(len(frame))], index=frame.index, dtype=object)


def _distances(frame: pd.DataFrame, problems: _Problems) -> pd.Series[Any]:
    """Return ``distance_m`` as floats or None (all None when the column is absent)."""
    if "distance_m" not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    distance = pd.to_numeric(frame["distance_m"], errors="coerce").astype("float64")
    problems.rows(
        frame["distance_m"].notna() & ~np.isfinite(distance), "distance_m is not a number"
    )
    return distance.astype(object).where(distance.notna(), None)
