"""The ids a streamed read has met, in little memory: 128 bits and a line per id.

A file read in pieces rejects an id met in an earlier piece, as a whole read does. Keeping
every id as a Python string costs about 100 bytes each (1 GB for 10 M rows); the ledger keeps
two independent 64-bit SipHash digests of each id and the line it was first met on, 24 bytes
each, in sorted runs merged as they grow (a log-structured set: lookups are binary searches,
each id is moved O(log n) times). Two different ids collide only if both 64-bit digests do
(odds about 1 in 10^29 for 10 M ids), which is what makes the set exact in practice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

#: Two keys (16 bytes each) for the two digests of an id.
_KEYS = ("geozone-ids-one!", "geozone-ids-two!")


def id_digests(ids: NDArray[np.object_]) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    """Return two independent 64-bit digests of each id (str)."""
    return tuple(  # type: ignore[return-value]
        pd.util.hash_array(ids, encoding="utf8", hash_key=key, categorize=False) for key in _KEYS
    )


class IdLedger:
    """The ids met so far and the line each was first met on."""

    def __init__(self) -> None:
        self._runs: list[tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.int64]]] = []

    def __len__(self) -> int:
        return sum(len(run[0]) for run in self._runs)

    def first_lines(self, ids: NDArray[np.object_]) -> NDArray[np.int64]:
        """Return the first line of each id, -1 for the ids not met yet."""
        found = np.full(len(ids), -1, dtype=np.int64)
        if not len(ids) or not self._runs:
            return found
        one, two = id_digests(ids)
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
        new = self.first_lines(ids) < 0
        ids, lines = ids[new], lines[new]
        if not len(ids):
            return
        one, two = id_digests(ids)
        order = np.argsort(one, kind="stable")
        self._runs.append((one[order], two[order], lines[order]))
        while (
            len(self._runs) > 1
            and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0])
            and len(self._runs[-2][0]) + len(self._runs[-1][0]) <= MAX_RUN
        ):
            last, before = self._runs.pop(), self._runs.pop()
            self._runs.append(_merged(before, last))


#: Ids in one sorted run at most: merging two runs makes copies of them (32 bytes an id
#: for a moment), so that larger ledgers keep several runs (a lookup searches each).
MAX_RUN = 1 << 22


def _merged(
    before: tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.int64]],
    last: tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.int64]],
) -> tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.int64]]:
    """One sorted run of two (earlier ids first among equal digests), a column at a time."""
    keys = np.concatenate((before[0], last[0]))
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    seconds = np.concatenate((before[1], last[1]))[order]
    lines = np.concatenate((before[2], last[2]))[order]
    return keys, seconds, lines
