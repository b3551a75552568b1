"""Threads of a batch and of a pipeline: thread_map, prefetched, Behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from geozone.parallel import Behind, prefetched, thread_map


def test_thread_map_keeps_the_order_of_the_items() -> None:
    assert thread_map(lambda v: v * v, list(range(20)), 4) == [v * v for v in range(20)]


def test_prefetched_yields_every_item_in_order_made_on_another_thread() -> None:
    made_on: list[str] = []

    def items() -> Iterator[int]:
        for value in range(50):
            made_on.append(threading.current_thread().name)
            yield value

    assert list(prefetched(items())) == list(range(50))
    assert set(made_on) == {"geozone-prefetch"}


def test_a_producers_error_is_raised_where_its_item_would_have_come() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("piece 3 is broken")

    got: list[int] = []
    with pytest.raises(ValueError, match="piece 3 is broken"):
        for value in prefetched(items()):
            got.append(value)
    assert got == [1, 2]


def test_leaving_early_stops_the_producer_at_most_depth_items_ahead() -> None:
    made: list[int] = []

    def items() -> Iterator[int]:
        for value in range(1_000):
            made.append(value)
            yield value

    for value in prefetched(items(), depth=2):
        if value == 3:
            break
    time.sleep(0.3)  # a producer that did not stop would go on making items
    # Items 0..3 were used; at most the queue's 2 and one in the producer's hands more.
    assert len(made) <= 4 + 2 + 1


def test_a_head_start_makes_items_ahead_until_the_first_is_taken_then_depth() -> None:
    made: list[int] = []

    def items() -> Iterator[int]:
        for value in range(1_000):
            made.append(value)
            yield value

    stream = prefetched(items(), depth=1, head_start=5)
    assert next(stream) == 0  # while the first item is used, 5 wait and 1 is in hand
    deadline = time.monotonic() + 5
    while len(made) < 7 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert len(made) == 7
    assert [next(stream) for _ in range(6)] == list(range(1, 7))
    time.sleep(0.3)  # back to depth 1: one waiting, one in hand
    assert len(made) <= 7 + 1 + 1
    stream.close()


def test_behind_runs_calls_in_order_and_raises_the_first_failure() -> None:
    done: list[int] = []

    def slow(value: int) -> None:
        time.sleep(0.01)
        done.append(value)

    behind = Behind()
    for value in range(5):
        behind.submit(slow, value)
    behind.close()
    assert done == [0, 1, 2, 3, 4]

    failing = Behind()

    def fail() -> None:
        raise OSError("disk full")

    failing.submit(fail)
    with pytest.raises(OSError, match="disk full"):
        failing.submit(slow, 9)  # the next call waits for the last one, and learns it failed
    failing.close()
    assert 9 not in done
