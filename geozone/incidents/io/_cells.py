"""Cells of an incident file as values: text, numbers, yes/no, date-times (vectorised).

Every function takes a whole column (a pandas Series of cells as read: text, or typed values
from Parquet and GeoPackage) and returns arrays; none calls Python per row on the common
paths. Missing and blank cells are told apart from unreadable ones, so that the checks in
:mod:`geozone.incidents.io.validate` can apply a field's default or word its problem.

The spellings read here are those of Vietnamese exports: ``dd/mm/yyyy[ HH:MM[:SS]]`` dates
(day first), decimal commas (``21,0387``), Vietnamese yes/no (``có``/``không``) and status
words (``đã giải quyết``: solved). Bare numbers are never read as Unix timestamps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from geozone.text import NFC_CHANGES, fold, nfc
from geozone.vntime import VIETNAM_TZ

#: Folded spellings of yes and no.
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "on", "1", "co"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "off", "0", "khong"})
#: Folded status words (English and Vietnamese) and the status each means.
STATUS_WORDS = {
    "open": "open",
    "mo": "open",
    "dangxuly": "open",
    "chuagiaiquyet": "open",
    "chualamro": "open",
    "dangdieutra": "open",
    "solved": "solved",
    "closed": "solved",
    "dagiaiquyet": "solved",
    "daxuly": "solved",
    "lamro": "solved",
    "dalamro": "solved",
}
#: A time of day followed by a UTC offset ("21:30+07:00", "14:30:00Z"); a bare date has none.
_OFFSET = re.compile(r"\d:\d{2}(?::\d{2}(?:\.\d+)?)? ?(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
_DAY_FIRST = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
_DIGITS = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def plain(value: Any) -> Any:
    """Return a numpy scalar as the Python value it holds; other values unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def is_missing(value: Any) -> bool:
    """Tell whether a cell is None, NaN or NaT (an empty string is not missing)."""
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def values_of(series: pd.Series) -> NDArray[np.object_]:
    """Return the cells of ``series`` as an object array."""
    return series.to_numpy(dtype=object)


def cell_text(value: Any) -> str:
    """Write a cell as text; a whole number read as a float loses its ``.0``."""
    value = plain(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # ids and codes read as numbers lose their ".0"
    return str(value)


def strings(series: pd.Series) -> pd.Series:
    """Cells as stripped text (pandas ``str`` dtype); missing and blank cells are NA."""
    if isinstance(series.dtype, pd.StringDtype):
        text = series
    else:
        values = values_of(series)
        text = pd.Series(
            [None if is_missing(v) else cell_text(v) for v in values],
            index=series.index,
            dtype="str",
        )
    text = text.str.strip()
    return text.where(text != "")


def matches(text: pd.Series, pattern: str) -> NDArray[np.bool_]:
    """Tell which cells match ``pattern`` (RE2 syntax via pyarrow; NA cells never match).

    pandas sends some patterns (a trailing dollar sign, for one) to Python's ``re`` one cell at a
    time; pyarrow's compute kernel runs them all in C++, ten times faster.
    """
    found = pc.match_substring_regex(pa.array(text.array), pattern).fill_null(False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def texts(series: pd.Series, normalise: bool = True) -> NDArray[np.object_]:
    """Cells as text, None for blanks; NFC with spaces collapsed when ``normalise``."""
    text = strings(series)
    out = np.array(text.astype(object), dtype=object)
    present = np.array(text.notna(), dtype=bool)
    out[~present] = None
    if normalise:
        needs = present & matches(text, NFC_CHANGES)
        out[needs] = [nfc(v) for v in out[needs]]
    return out


def lengths(values: NDArray[np.object_]) -> NDArray[np.float64]:
    """Length in characters of each text (NaN where None)."""
    out = np.full(len(values), np.nan)
    present = np.flatnonzero(pd.notna(values))
    out[present] = np.fromiter(map(len, values[present]), dtype=np.float64, count=len(present))
    return out


def by_unique(text: pd.Series, func: Callable[[str], Any]) -> NDArray[np.object_]:
    """Apply ``func`` once per distinct non-missing value; None where the cell is missing."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    mapped = np.array([func(str(u)) for u in uniques] + [None], dtype=object)
    picked: NDArray[np.object_] = mapped[np.where(codes < 0, len(uniques), codes)]
    return picked


def quote(values: NDArray[np.object_] | pd.Series, rows: NDArray[np.intp]) -> list[str]:
    """Quote the cells at ``rows`` as a reject shows them (``repr`` of the value)."""
    picked = np.asarray(values, dtype=object)[rows]
    return [repr(v) if isinstance(v, str) else repr(plain(v)) for v in picked]


def has_nul(values: NDArray[np.object_]) -> NDArray[np.bool_]:
    """Tell which text cells hold a NUL character (None cells do not)."""
    if "\x00" not in "".join(filter(None, values)):  # the usual case, at once
        return np.zeros(len(values), dtype=bool)
    return np.array([v is not None and "\x00" in v for v in values], dtype=bool)


def numbers(series: pd.Series) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    """Parse numbers: (values, missing, not numeric). Decimal commas are accepted."""
    nothing = np.zeros(len(series), dtype=bool)
    if pd.api.types.is_bool_dtype(series.dtype):
        return np.asarray(series.astype(float), dtype=np.float64), nothing, nothing
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = np.asarray(pd.to_numeric(series, errors="coerce"), dtype=np.float64)
        return values, np.array(series.isna(), dtype=bool), nothing
    text = strings(series)
    missing = np.array(text.isna(), dtype=bool)
    comma = matches(text, r"^[+-]?\d+,\d+$")
    if comma.any():
        text = text.where(~comma, text.str.replace(",", ".", regex=False))
    values = np.array(pd.to_numeric(text, errors="coerce"), dtype=np.float64)
    spelled_nan = np.array(text.str.lower().isin(["nan", "+nan", "-nan"]), dtype=bool)
    bad = ~missing & np.isnan(values) & ~spelled_nan
    return values, missing, bad


def _flag_key(value: Any) -> str | None:
    value = plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return fold(cell_text(value))


def flags(series: pd.Series) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """Parse yes/no cells: (true, missing, unreadable). Blank cells are missing."""
    n = len(series)
    if pd.api.types.is_bool_dtype(series.dtype) and not series.isna().any():
        return series.to_numpy(bool), np.zeros(n, bool), np.zeros(n, bool)
    if pd.api.types.is_bool_dtype(series.dtype) or series.dtype == object:
        values = values_of(series)
        keys = np.array([None if is_missing(v) else _flag_key(v) for v in values], dtype=object)
        missing = np.array([k is None or k == "" for k in keys], dtype=bool)
    else:
        text = strings(series)
        keys = by_unique(text, _flag_key)
        missing = np.array(text.isna(), dtype=bool)
    is_true = np.isin(keys, list(TRUE_WORDS))
    is_false = np.isin(keys, list(FALSE_WORDS))
    return is_true, missing, ~missing & ~is_true & ~is_false


def statuses(series: pd.Series) -> NDArray[np.object_]:
    """Map status words to statuses: None where missing, ``""`` where unknown."""
    return by_unique(strings(series), lambda v: STATUS_WORDS.get(fold(v), ""))


def datetimes(
    series: pd.Series,
) -> tuple[pd.DatetimeIndex, NDArray[np.bool_], NDArray[np.bool_]]:
    """Parse date-times to Vietnam time: (values, missing, unreadable)."""
    n = len(series)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        index = pd.DatetimeIndex(series).tz_convert(VIETNAM_TZ).as_unit("us")
        missing = np.array(series.isna(), dtype=bool)
        return index, missing, np.zeros(n, bool)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        index = pd.DatetimeIndex(series).tz_localize(VIETNAM_TZ).as_unit("us")
        missing = np.array(series.isna(), dtype=bool)
        return index, missing, np.zeros(n, bool)
    text = strings(series)
    missing = np.array(text.isna(), dtype=bool)
    present = ~missing
    utc_us = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)  # NaT

    has_offset = present & matches(text, _OFFSET.pattern)
    day_first = present & matches(text, _DAY_FIRST.pattern)
    digits = present & matches(text, _DIGITS.pattern)
    naive_iso = present & ~has_offset & ~day_first & ~digits
    if has_offset.any():
        parsed = pd.to_datetime(text[has_offset], format="ISO8601", utc=True, errors="coerce")
        utc_us[has_offset] = _us(parsed)
    if naive_iso.any():
        parsed = pd.to_datetime(text[naive_iso], format="ISO8601", errors="coerce")
        utc_us[naive_iso] = _us(_localise(parsed))
    if day_first.any():
        parsed = pd.to_datetime(text[day_first], dayfirst=True, format="mixed", errors="coerce")
        utc_us[day_first] = _us(_localise(parsed))
    index = pd.DatetimeIndex(utc_us.view("datetime64[us]")).tz_localize("UTC")
    index = index.tz_convert(VIETNAM_TZ).as_unit("us")
    unreadable = present & np.asarray(index.isna(), dtype=bool)
    return index, missing, unreadable


def iso_text(utc_us: int) -> str:
    """Write an instant in Vietnam time as ISO text, also in years datetime cannot hold."""
    local = np.datetime64(int(utc_us), "us") + np.timedelta64(7, "h")
    return f"{np.datetime_as_string(local, unit='s')}+07:00"


def _localise(parsed: pd.Series) -> pd.Series:
    values = pd.to_datetime(parsed, errors="coerce")
    if isinstance(values.dtype, pd.DatetimeTZDtype):  # mixed input parsed aware
        return values.dt.tz_convert("UTC")
    return values.dt.tz_localize(VIETNAM_TZ, nonexistent="NaT", ambiguous="NaT").dt.tz_convert(
        "UTC"
    )


def _us(values: pd.Series) -> NDArray[np.int64]:
    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("us").asi8
