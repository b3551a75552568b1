"""Planted duplicates: second reports of one event by another member, and repeats at a spot.

:func:`plant_duplicates` adds to synthetic incidents what two members logging one event
looks like, so that linking (:mod:`geozone.incidents.linking`) is measured against a known
truth: a share of the reports of cluster members gets a *second report* by another member of
the same cluster (its position off by a normal error per axis, the event's time, the same
category; its detection the first report's plus a delay of minutes), and a share gets a
*repeat*: an unrelated event of the same kind at the very
spot, by another member, hours to days later, which must stay apart. Every added row is
labelled synthetic (``synthetic`` True, a ``description`` opening with "SYNTHETIC").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geozone.errors import InvalidParameterError

_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0


@dataclass(frozen=True)
class Planted:
    """Incidents with planted duplicates.

    Attributes
    ----------
    incidents
        The incidents given and the rows added (``<id>-dup`` second reports, ``<id>-again``
        repeats), sorted by ``occurred_at``.
    pairs
        The true duplicate pairs (external ids of the first and the second report).
    """

    incidents: pd.DataFrame
    pairs: set[frozenset[str]]


def plant_duplicates(
    incidents: pd.DataFrame,
    seed: int,
    *,
    members: Sequence[str],
    share: float = 0.3,
    error_m: float = 40.0,
    delay_minutes: tuple[float, float] = (0.0, 90.0),
    told_error_minutes: float = 15.0,
    repeats: float = 0.1,
    repeat_minutes: tuple[float, float] = (4 * 60.0, 3 * 24 * 60.0),
) -> Planted:
    """Add second reports by other members and repeats at the same spot (synthetic).

    Parameters
    ----------
    incidents
        Synthetic incidents (``external_id``, ``occurred_at``, ``lon``, ``lat``,
        ``category``, ``detected_by``; the other columns are copied).
    seed
        Seed of the random generator: the same seed and arguments give the same frame.
    members
        The members (``detected_by`` values) of one cluster: reports detected by one of
        them get a second report or a repeat by another one of them.
    share
        Probability that such a report gets a second report.
    error_m
        Standard deviation of the second report's position error per axis, in metres.
    delay_minutes
        Range of the second report's delay (uniform), in minutes.
    told_error_minutes
        Standard deviation of the error of the occurrence time the second report states
        (the time the called member was told), in minutes, rounded to the minute. Two
        accounts of one event rarely agree to the second: a planted copy of the first
        report's time would make that field a perfect, and unrealistic, clue.
    repeats
        Probability that such a report is followed by an unrelated event at the spot.
    repeat_minutes
        Range of the repeat's delay (uniform), in minutes.

    Raises
    ------
    InvalidParameterError
        Fewer than two members, or a probability outside [0, 1].
    """
    if len(set(members)) < 2:
        raise InvalidParameterError("planting duplicates needs two members or more")
    if not (0 <= share <= 1 and 0 <= repeats <= 1):
        raise InvalidParameterError(f"share {share} and repeats {repeats} must be in [0, 1]")
    rng = np.random.default_rng(seed)
    pool = np.array(sorted(set(members)), dtype=object)
    frame = incidents.reset_index(drop=True)
    eligible = np.flatnonzero(frame["detected_by"].isin(pool).to_numpy())
    n = len(eligible)
    second = eligible[rng.random(n) < share]
    again = eligible[rng.random(n) < repeats]
    added = [
        _copies(frame, second, rng, pool, "dup", error_m, delay_minutes, "second report of"),
        _copies(frame, again, rng, pool, "again", 0.0, repeat_minutes, "another event at"),
    ]
    # Drawn after the copies, so that the frame drawn before this error existed is unchanged.
    told = np.round(rng.normal(0.0, told_error_minutes, len(second)))
    added[0] = _told(added[0], pd.to_timedelta(told, unit="min"))
    ids = frame["external_id"].astype(str).to_numpy()
    pairs = {frozenset((str(ids[i]), f"{ids[i]}-dup")) for i in second}
    out = pd.concat([frame, *added], ignore_index=True)
    out = out.sort_values("occurred_at", kind="stable").reset_index(drop=True)
    return Planted(out, pairs)


def _told(copies: pd.DataFrame, error: pd.TimedeltaIndex) -> pd.DataFrame:
    """Move second reports' stated occurrence by ``error``, never after their detection."""
    if not len(copies):
        return copies
    occurred = pd.to_datetime(copies["occurred_at"]) + error
    detected = pd.to_datetime(copies["detected_at"])
    copies["occurred_at"] = occurred.where(occurred <= detected, detected)
    return copies


def _copies(
    frame: pd.DataFrame,
    rows: np.ndarray,
    rng: np.random.Generator,
    pool: np.ndarray,
    suffix: str,
    error_m: float,
    minutes: tuple[float, float],
    what: str,
) -> pd.DataFrame:
    """Return copies of ``rows`` moved in space and time, by another member each."""
    copies = frame.iloc[rows].copy()
    k = len(copies)
    lat = copies["lat"].to_numpy(dtype=float)
    east, north = rng.normal(0.0, error_m, (2, k)) if error_m else np.zeros((2, k))
    copies["lon"] = copies["lon"].to_numpy(dtype=float) + east / (
        _M_PER_DEG_LON * np.cos(np.radians(lat))
    )
    copies["lat"] = lat + north / _M_PER_DEG_LAT
    delay = pd.to_timedelta(rng.uniform(*minutes, k), unit="min")
    occurred = pd.to_datetime(copies["occurred_at"])
    if suffix == "dup":  # the same event: its time, detected by the called member later
        detected = occurred
        if "detected_at" in copies.columns:
            given = pd.to_datetime(copies["detected_at"])
            detected = given.where(given.notna(), occurred)
        copies["detected_at"] = detected + delay
    else:  # another event at the spot, later, detected when it occurred
        copies["occurred_at"] = occurred + delay
        copies["detected_at"] = pd.NaT
    own = copies["detected_by"].to_numpy(dtype=object)
    shift = rng.integers(1, len(pool), k)
    index = {m: i for i, m in enumerate(pool)}
    copies["detected_by"] = pool[
        (np.array([index[m] for m in own], dtype=np.int64) + shift) % len(pool)
    ]
    first = copies["external_id"].astype(str)
    copies["external_id"] = first + f"-{suffix}"
    copies["description"] = "SYNTHETIC " + what + " " + first + " (planted duplicates)"
    copies["synthetic"] = True
    return copies


__all__ = ["Planted", "plant_duplicates"]
