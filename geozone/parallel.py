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

import collections
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from geozone.settings import get_settings

T = TypeVar("T")
R = TypeVar("R")

#: Batches of at least this many points are located and judged on several threads. The
#: one-shot command asks for threads on its smaller pieces itself (:func:`threads_for`); an
#: import does not (its pieces share the cores with the thread that stores them: measured
#: slower on two threads).
MIN_POINTS_PER_THREAD = 100_000


def threads_for(
    points: int, threads: int | None = None, min_points: int = MIN_POINTS_PER_THREAD
) -> int:
    """Return the threads a batch of ``points`` is located and judged on.

    ``threads`` when the caller chose, else the settings' workers for a batch of at least
    ``min_points`` points, else one.
    """
    if threads is not None:
        return max(1, threads)
    return get_settings().workers if points >= min_points else 1


def thread_map(function: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """Return ``[function(item) for item in items]``, computed on up to ``workers`` threads."""
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        return list(pool.map(function, items))


_DONE = object()


def prefetched(items: Iterable[T], depth: int = 1, head_start: int = 0) -> Iterator[T]:
    """Yield the items of ``items``, each made on a thread of its own while the last is used.

    A pipeline's stages overlap: the next piece of a file is read and validated while this
    one is judged (parsing and GEOS release the GIL for much of their time). At most
    ``depth`` items wait made; while the consumer works on its first item, up to
    ``head_start`` (the one-shot command loads its boundary sets once it holds the first
    piece: the other core makes several pieces meanwhile). An exception of the producer is
    raised where the item it failed to make would have been yielded; leaving the loop early
    stops the producer.
    """
    waiting: collections.deque[Any] = collections.deque()
    limit = max(1, depth, head_start)
    changed = threading.Condition()
    stop = False

    def put(item: Any) -> bool:
        with changed:
            changed.wait_for(lambda: stop or len(waiting) < limit)
            if stop:
                return False
            waiting.append(item)
            changed.notify_all()
            return True

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            put(error)

    thread = threading.Thread(target=produce, name="geozone-prefetch", daemon=True)
    thread.start()
    try:
        for taken in itertools.count():
            with changed:
                changed.wait_for(lambda: bool(waiting))
                item = waiting.popleft()
                if taken:  # the consumer is back for its second item: the head start is over
                    limit = max(1, depth)
                changed.notify_all()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        with changed:
            stop = True
            waiting.clear()
            changed.notify_all()
        thread.join()


class Behind:
    """Run calls one at a time on a thread of their own, in order, one at most waiting.

    A writer appends piece ``n`` while piece ``n + 1`` is judged. :meth:`wait` raises the
    first failure and returns once every call is done.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="geozone-behind")
        self._pending: Future[Any] | None = None

    def submit(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` after the calls before it (waits for the one before)."""
        self.wait()
        self._pending = self._pool.submit(function, *args)

    def wait(self) -> None:
        """Wait for the call under way; raise its error, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the last call and stop the thread."""
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
