"""The ids a streamed read has met, in little memory: 96 bits and a line per id.

A file read in pieces rejects an id met in an earlier piece, as a whole read does. Keeping
every id as a Python string costs about 100 bytes each (1 GB for 10 M rows); the ledger keeps
a 64-bit and a 32-bit SipHash digest of each id (two independent keys) and the line it was
first met on, 16 bytes each, in sorted runs merged as they grow (a log-structured set:
lookups are binary searches, each id is moved O(log n) times). Two different ids collide
only if both digests do (odds about 1 in 10^15 for 10 M ids, 1 in 10^11 for a billion),
which is what makes the set exact in practice.

Once the runs in memory hold :data:`SPILL_RUN` ids or more, they are merged into one run
written to a temporary file (``TMPDIR``), which leaves in memory a Bloom filter of its
digests (12 bits an id): a lookup reads the file only for the ids the filter may hold
(about 1 in 300 of new ids per spilled run, and the repeats), so the memory of a long read
grows by 1.5 bytes an id instead of 16 (10 M ids: some 15 MB of filters and at most a
million ids in memory, ~16 MB; was 160 MB). The files (16 bytes an id: on a tmpfs
``TMPDIR`` they are memory too) go when the ledger does.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
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
        self._runs: list[_Run | _SpilledRun] = []
        self._folder: Path | None = None  # made at the first spill

    def __len__(self) -> int:
        return sum(len(run) if isinstance(run, _SpilledRun) else len(run[0]) for run in self._runs)

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
        for run in self._runs:
            if isinstance(run, _SpilledRun):
                maybe = np.flatnonzero(run.may_hold(one))  # still sorted
                if len(maybe):
                    _match(run.columns(), one[maybe], two[maybe], order[maybe], found)
            else:
                _match(run, one, two, order, found)
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
            and not isinstance(before := self._runs[-2], _SpilledRun)
            and not isinstance(last := self._runs[-1], _SpilledRun)
            and len(before[0]) <= 2 * len(last[0])
            and len(before[0]) + len(last[0]) <= MAX_RUN
        ):
            del self._runs[-2:]
            self._runs.append(_merged(before, last))
        held = [run for run in self._runs if not isinstance(run, _SpilledRun)]
        if sum(len(run[0]) for run in held) >= SPILL_RUN:
            # Every run still in memory, as one: a run left behind a spilled one would
            # never merge again.
            spilled = [run for run in self._runs if isinstance(run, _SpilledRun)]
            whole = functools.reduce(_merged, held)
            name = f"run-{len(spilled)}"
            self._runs = [*spilled, _SpilledRun(whole, self._spill_folder() / name)]

    def _spill_folder(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="geozone-ids-"))
            weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
        return self._folder


def _match(
    run: _Run,
    one: NDArray[np.uint64],
    two: NDArray[np.uint32],
    order: NDArray[np.intp],
    found: NDArray[np.int64],
) -> None:
    """Set ``found[order[i]]`` to the line of needle i (sorted ``one``) where ``run`` holds it."""
    keys, seconds, lines = run
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


#: Bits of a spilled run's Bloom filter per id, and its hash functions: a new id passes it
#: with odds (1 - e^(-8/12))^8, about 1 in 300.
_BLOOM_BITS, _BLOOM_HASHES = 12, 8


class _SpilledRun:
    """A sorted run kept in a file, with a Bloom filter of its first digests in memory."""

    def __init__(self, run: _Run, path: Path) -> None:
        keys, seconds, lines = run
        self._size = len(keys)
        self._path = path
        with path.open("wb") as file:
            for column in (keys, seconds, lines):
                column.tofile(file)
        self._bits: NDArray[np.uint8] = np.zeros((self._size * _BLOOM_BITS + 7) // 8, np.uint8)
        for place in self._places(keys):
            np.bitwise_or.at(self._bits, place >> 3, _BIT[place & 7])

    def __len__(self) -> int:
        return self._size

    def _places(self, keys: NDArray[np.uint64]) -> Iterator[NDArray[np.uint64]]:
        """Yield each key's bit in the filter, per hash (double hashing of the 64-bit digest)."""
        m = np.uint64(len(self._bits) * 8)
        low, high = keys & np.uint64(0xFFFFFFFF), (keys >> np.uint64(32)) | np.uint64(1)
        for i in range(_BLOOM_HASHES):
            yield (low + np.uint64(i) * high) % m

    def may_hold(self, keys: NDArray[np.uint64]) -> NDArray[np.bool_]:
        """Return False for the keys the run surely does not hold."""
        maybe = np.ones(len(keys), dtype=bool)
        for place in self._places(keys):
            maybe &= (self._bits[place >> 3] & _BIT[place & 7]) != 0
        return maybe

    def columns(self) -> _Run:
        """Return the run's columns, mapped from its file (read only where a lookup looks)."""
        n, path = self._size, self._path
        return (
            np.memmap(path, dtype=np.uint64, mode="r", shape=(n,)),
            np.memmap(path, dtype=np.uint32, mode="r", offset=8 * n, shape=(n,)),
            np.memmap(path, dtype=np.uint32, mode="r", offset=12 * n, shape=(n,)),
        )


#: The bit of each place in its byte.
_BIT = np.left_shift(np.uint8(1), np.arange(8, dtype=np.uint8))


#: Ids in one sorted run at most: larger ledgers keep several runs (a lookup searches each),
#: so that a merge's copies stay small (16 bytes an id, for a moment).
MAX_RUN = 1 << 21

#: Runs in memory holding this many ids or more are spilled to a file (see the module's
#: docstring).
SPILL_RUN = 1 << 20


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
