"""Spreading independent pieces of a large batch over threads.

Threads, not processes: the heavy work (GEOS through shapely, scipy's KD-trees, numpy) runs
with the GIL released, and the indexes stay shared instead of being copied into workers.
The rule that keeps GEOS safe: a shared prepared geometry is never the *input* of a tree
query on two threads at once (that corrupted the heap under GEOS 3.14.1 on a cold index).
So the pieces spread are shares of a set's polygons (``LeafIndex``: each thread queries the
shared, read-only tree of points with its own polygons) or pieces of a batch's incidents
(cluster decisions: each thread makes its own points and queries shared trees with them;
prepared lines, warmed on one thread when made, are used by one thread at a time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Batches of at least this many points are located and judged on several threads.
MIN_POINTS_PER_THREAD = 100_000


def thread_map(function: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """Return ``[function(item) for item in items]``, computed on up to ``workers`` threads."""
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        return list(pool.map(function, items))
