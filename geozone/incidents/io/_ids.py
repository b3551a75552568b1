"""The ids a streamed read has met, in little memory: 96 bits and a line per id.

A file read in pieces rejects an id met in an earlier piece, as a whole read does. Keeping
every id as a Python string costs about 100 bytes each (1 GB for 10 M rows); the ledger keeps
a 64-bit and a 32-bit SipHash digest of each id (two independent keys) and the line it was
first met on, 16 bytes each, in sorted runs merged as they grow (a log-structured set:
lookups are binary searches, each id is moved O(log n) times). Two different ids collide
only if both digests do (odds about 1 in 10^15 for 10 M ids, 1 in 10^11 for a billion),
which is what makes the set exact in practice.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geozone.errors import IncidentFileError

#: Two keys (16 bytes each) for the two digests of an id.
_KEYS = ("geozone-ids-one!", "geozone-ids-two!")

_Item = TypeVar("_Item", bound=np.generic)

#: A run: first digests (sorted), second digests, first lines.
_Run = tuple[NDArray[np.uint64], NDArray[np.uint32], NDArray[np.uint32]]

#: The last line a ledger can keep.
MAX_LINE = int(np.iinfo(np.uint32).max)


def id_digests(ids: NDArray[np.object_]) -> tuple[NDArray[np.uint64], NDArray[np.uint32]]:
    """Return two independent digests of each id (str): 64 and 32 bits."""
    one = pd.util.hash_array(ids, encoding="utf8", hash_key=_KEYS[0], categorize=False)
    two = pd.util.hash_array(ids, encoding="utf8", hash_key=_KEYS[1], categorize=False)
    return one, (two >> np.uint64(32)).astype(np.uint32)


class IdLedger:
    """The ids met so far and the line each was first met on."""

    def __init__(self) -> None:
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(len(run[0]) for run in self._runs)

    def first_lines(self, ids: NDArray[np.object_]) -> NDArray[np.int64]:
        """Return the first line of each id, -1 for the ids not met yet."""
        if not len(ids) or not self._runs:
            return np.full(len(ids), -1, dtype=np.int64)
        return self._first_lines(*id_digests(ids))

    def _first_lines(self, one: NDArray[np.uint64], two: NDArray[np.uint32]) -> NDArray[np.int64]:
        found = np.full(len(one), -1, dtype=np.int64)
        # Sorted needles: each binary search starts where the last ended (cache-friendly).
        order = np.argsort(one, kind="stable")
        one, two = one[order], two[order]
        for keys, seconds, lines in self._runs:
            low = np.searchsorted(keys, one, side="left")
            at = np.minimum(low, len(keys) - 1)
            rows = np.flatnonzero((keys[at] == one) & (low < len(keys)))
            matched = seconds[at[rows]] == two[rows]
            found[order[rows[matched]]] = lines[at[rows[matched]]]
            for row in rows[~matched]:  # another id shares the first digest (next to never)
                start, stop = at[row], np.searchsorted(keys, one[row], side="right")
                match = np.flatnonzero(seconds[start:stop] == two[row])
                if len(match):
                    found[order[row]] = lines[start + match[0]]
        return found

    def add(self, ids: NDArray[np.object_], lines: NDArray[np.int64]) -> None:
        """Add ids not met yet with their lines (the first of repeated ones counts)."""
        if not len(ids):
            return
        keep = ~pd.Series(ids, dtype=object).duplicated(keep="first").to_numpy(bool)
        ids, lines = ids[keep], np.asarray(lines, dtype=np.int64)[keep]
        if int(lines.max()) > MAX_LINE:
            raise IncidentFileError(
                f"line {int(lines.max()):,}: a file is read up to line {MAX_LINE:,}; "
                "split it into parts"
            )
        one, two = id_digests(ids)
        if self._runs:
            new = self._first_lines(one, two) < 0
            one, two, lines = one[new], two[new], lines[new]
        if not len(one):
            return
        order = np.argsort(one, kind="stable")
        self._runs.append((one[order], two[order], lines[order].astype(np.uint32)))
        while (
            len(self._runs) > 1
            and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0])
            and len(self._runs[-2][0]) + len(self._runs[-1][0]) <= MAX_RUN
        ):
            last, before = self._runs.pop(), self._runs.pop()
            self._runs.append(_merged(before, last))


#: Ids in one sorted run at most: larger ledgers keep several runs (a lookup searches each),
#: so that a merge's copies stay small (16 bytes an id, for a moment).
MAX_RUN = 1 << 21


def _merged(before: _Run, last: _Run) -> _Run:
    """One sorted run of two (earlier ids first among equal digests), a column at a time.

    Both are sorted: each of ``last``'s ids goes after the equal and smaller ones of
    ``before``, so no sort of the whole is needed.
    """
    size = len(before[0]) + len(last[0])
    at = np.searchsorted(before[0], last[0], side="right") + np.arange(len(last[0]))
    earlier = np.ones(size, dtype=bool)
    earlier[at] = False
    return (
        _interleaved(before[0], last[0], at, earlier),
        _interleaved(before[1], last[1], at, earlier),
        _interleaved(before[2], last[2], at, earlier),
    )


def _interleaved(
    old: NDArray[_Item], new: NDArray[_Item], at: NDArray[np.intp], earlier: NDArray[np.bool_]
) -> NDArray[_Item]:
    """One column of a merge: ``new`` at ``at``, ``old`` in the other places, in order."""
    column: NDArray[_Item] = np.empty(len(earlier), dtype=old.dtype)
    column[at] = new
    column[earlier] = old
    return column
