"""Incident frames: the canonical columns and dtypes, derived from the field table."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from geozone.errors import IncidentFileError
from geozone.incidents.fields import INCIDENT_COLUMNS, INCIDENT_FIELDS, IncidentField
from geozone.incidents.io._cells import is_missing, plain
from geozone.incidents.schema import Incident
from geozone.vntime import VIETNAM_TZ


def incident_frame(columns: Mapping[str, Any], index: pd.Index | None = None) -> pd.DataFrame:
    """Assemble an incident frame with the canonical column order and dtypes.

    Parameters
    ----------
    columns
        One array per Incident field (all required). Times may be naive (Vietnam time) or
        aware; text columns use None for missing values.
    index
        Optional index (the reader uses the line numbers).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`~geozone.incidents.fields.INCIDENT_COLUMNS`; times
        (``occurred_at``/``detected_at``) are ``datetime64[us, ICT]``; coordinates
        (``lon``/``lat``) float64; counts (``subjects``) int64; flags (``jointly_handled``/
        ``synthetic``) bool; nullable text (``detected_by``) object, None when unknown; the
        other text columns str.
    """
    missing = [name for name in INCIDENT_COLUMNS if name not in columns]
    if missing:
        raise IncidentFileError(f"incident frame lacks column(s) {', '.join(missing)}")
    data = {spec.name: _column(spec, columns[spec.name]) for spec in INCIDENT_FIELDS}
    frame = pd.DataFrame(data, index=index)
    for spec in INCIDENT_FIELDS:
        if spec.kind == "text" and spec.nullable:
            values = frame[spec.name]
            frame[spec.name] = values.astype(object).where(values.notna(), None)
    return frame


def _column(spec: IncidentField, values: Any) -> Any:
    """Return one column of an incident frame in the dtype of its field's kind."""
    if spec.kind == "time":
        return as_vietnam_time(values)
    if spec.kind == "coordinate":
        return np.asarray(values, dtype=np.float64)
    if spec.kind == "count":
        return np.asarray(values, dtype=np.int64)
    if spec.kind == "flag":
        return np.asarray(values, dtype=bool)
    if spec.nullable:
        return np.asarray(values, dtype=object)
    return pd.array(np.asarray(values, dtype=object), dtype="str")


def as_vietnam_time(values: Any) -> pd.DatetimeIndex:
    """Return times as a microsecond index in Vietnam time (naive values are Vietnam time)."""
    index = pd.DatetimeIndex(values)
    index = index.tz_localize(VIETNAM_TZ) if index.tz is None else index.tz_convert(VIETNAM_TZ)
    return index.as_unit("us")


def iter_incidents(frame: pd.DataFrame) -> Iterator[Incident]:
    """Yield an :class:`Incident` per row (validating each; for small frames and checks)."""
    for record in frame[list(INCIDENT_COLUMNS)].to_dict("records"):
        yield Incident.model_validate(
            {key: (None if is_missing(value) else _python(value)) for key, value in record.items()}
        )


def _python(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return plain(value)
