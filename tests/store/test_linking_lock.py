"""The store's linking lock: one linker of events at a time, across processes (both backends)."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from geozone.errors import StoreBusyError
from geozone.store import IncidentStore
from geozone.store.sql import SqlIncidentStore, write_wait
from tests.fixtures.linking import held_elsewhere, release


def _sql(store: IncidentStore) -> SqlIncidentStore:
    assert isinstance(store, SqlIncidentStore)
    return store


def test_a_linker_in_another_process_makes_this_one_wait_or_give_up(
    store: IncidentStore, store_url: str
) -> None:
    sql = _sql(store)
    waits: list[float] = []
    with held_elsewhere(store_url) as child:
        began = time.monotonic()
        taking = sql.linking(on_wait=lambda: waits.append(time.monotonic()))
        with write_wait(0.3), pytest.raises(StoreBusyError, match="linking reports"), taking:
            pytest.fail("the lock was taken while another process held it")
        assert len(waits) == 1 and time.monotonic() - began >= 0.25

        got: list[float] = []

        def link() -> None:
            with sql.linking(on_wait=lambda: waits.append(time.monotonic())):
                got.append(time.monotonic())

        waiter = threading.Thread(target=link)
        waiter.start()
        time.sleep(0.5)
        assert not got  # still waiting: the other process holds the lock
        released = time.monotonic()
        release(child)
        waiter.join(timeout=30)
    assert len(got) == 1 and got[0] >= released and len(waits) == 2


def test_the_lock_goes_with_a_process_that_dies_holding_it(
    store: IncidentStore, store_url: str
) -> None:
    with held_elsewhere(store_url) as child:
        with write_wait(0.1), pytest.raises(StoreBusyError), _sql(store).linking():
            pass
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        with write_wait(10.0), _sql(store).linking():  # freed by the kernel / the server
            pass


def test_the_lock_is_reentrant_in_a_thread_and_exclusive_between_threads(
    store: IncidentStore,
) -> None:
    sql = _sql(store)
    outcome: list[str] = []

    def other_thread() -> None:
        try:
            with write_wait(0.2), sql.linking():
                outcome.append("taken")
        except StoreBusyError:
            outcome.append("busy")

    with sql.linking(), sql.linking():  # nested: an import's phase, then each chunk
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(timeout=30)
    assert outcome == ["busy"]
    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(timeout=30)
    assert outcome == ["busy", "taken"]  # released once the outer hold ended


def test_one_run_of_an_import_batch_at_a_time(store: IncidentStore, store_url: str) -> None:
    """A run holds its batch's lock: another run is refused by name; a stop frees it."""
    from geozone.errors import ImportBatchError

    sql = _sql(store)
    assert not sql.import_running("file:a")
    with held_elsewhere(store_url, "file:a") as child:
        assert sql.import_running("file:a") and not sql.import_running("file:b")
        refused = pytest.raises(ImportBatchError, match=r"'file:a' of in\.csv is running")
        with refused, sql.import_lock("file:a", "in.csv"):
            pytest.fail("a second run of the batch was let in")
        with sql.import_lock("file:b", "other.csv"):  # another batch runs beside it
            assert sql.import_running("file:b")
        child.send_signal(signal.SIGKILL)  # a run that dies frees its batch
        child.wait(timeout=30)
    assert not sql.import_running("file:a")
    with sql.import_lock("file:a", "in.csv"):
        assert sql.import_running("file:a")  # seen from another connection
