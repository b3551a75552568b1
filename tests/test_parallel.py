from __future__ import annotations

import threading

from geozone.parallel import thread_map


def test_thread_map_keeps_the_order_and_uses_several_threads() -> None:
    seen: set[int] = set()
    barrier = threading.Barrier(3, timeout=10)

    def square(value: int) -> int:
        seen.add(threading.get_ident())
        barrier.wait()  # only passes when three threads run at once
        return value * value

    assert thread_map(square, [3, 1, 2], workers=3) == [9, 1, 4]
    assert len(seen) == 3


def test_thread_map_with_one_worker_stays_on_the_calling_thread() -> None:
    caller = threading.get_ident()
    assert thread_map(lambda v: (v, threading.get_ident()), [1, 2], workers=1) == [
        (1, caller),
        (2, caller),
    ]
