from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.errors import StoreError
from geozone.incidents import pipeline
from geozone.incidents.pipeline import assign_stale, context_stamp, import_file
from geozone.settings import get_settings
from geozone.store import IncidentQuery, open_store
from tests.fixtures.clusters import grid_cluster
from tests.fixtures.grid import grid_point

HEADER = "external_id,occurred_at,lon,lat,category,detected_by\n"


@pytest.fixture
def context(grid: BoundarySet) -> Context:
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    return Context([grid], {"grid-centre": territory.cluster}, [territory], {"grid": "test"})


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def row(external_id: str, x: float, y: float, detector: str = "o2", category: str = "drugs") -> str:
    lon, lat = grid_point(x, y)
    return f"{external_id},2022-03-01T21:00:00+07:00,{lon},{lat},{category},{detector}\n"


def test_import_stores_assigns_and_reports_rejects(tmp_path: Path, context: Context) -> None:
    source = write_csv(
        tmp_path / "in.csv",
        [
            row("a", 950, 300),
            row("b", 300, 300),
            row("c", 950, 300, category="unicorns"),
            "d,2022-03-01,abc,21.0,theft,\n",
        ],
    )
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        report = import_file(store, source, context)
        assert (report.rows, report.stored, report.rejected, report.assigned) == (4, 2, 2, 2)
        assert {r["line"] for r in report.rejects} == {4, 5}
        near = store.get("a")
        assert near is not None and near["assignment"]["unit_code"] == "00001"
        assert near["clusters"][0]["rule"] == "border_detector"
        assert near["clusters"][0]["lead_unit"] == "00002"
        frame, total = store.query(IncidentQuery(cluster_id="grid-centre", in_border_zone=True))
        assert total == 1 and frame["external_id"].tolist() == ["a"]
        # The same file again adds nothing.
        again = import_file(store, source, context)
        assert again.stored == 0 and again.assigned == 0
        assert store.count(IncidentQuery()) == 2
        batch = store.batch(report.batch_id)
        assert batch is not None and batch["status"] == "done" and batch["rows_rejected"] == 2


def test_changed_clusters_make_assignments_stale(
    tmp_path: Path, context: Context, grid: BoundarySet
) -> None:
    source = write_csv(tmp_path / "in.csv", [row("a", 950, 300), row("b", 300, 300)])
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        import_file(store, source, context)
        wider = ClusterTerritory(grid_cluster(zone_width_m=800), grid)
        changed = Context([grid], {"grid-centre": wider.cluster}, [wider], {"grid": "test"})
        assert context_stamp(changed) != context_stamp(context)
        assert len(store.stale_ids(context_stamp(changed))) == 2
        assert assign_stale(store, changed) == 2
        far = store.get("b")
        assert far is not None and far["clusters"][0]["rule"] == "border_detector"  # 700 m < 800 m
        assert store.stale_ids(context_stamp(changed)) == []


def test_a_change_of_wording_makes_stored_explanations_stale(
    tmp_path: Path, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geozone.incidents.pipeline
    from geozone.assignment import rules

    source = write_csv(tmp_path / "in.csv", [row("a", 950, 300)])
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        import_file(store, source, context)
        assert store.stale_ids(context_stamp(context)) == []
        reworded = rules.RULES[5].__class__(**{**rules.RULES[5].__dict__, "en": "Reworded."})
        monkeypatch.setattr(rules, "RULES", (*rules.RULES[:5], reworded, *rules.RULES[6:]))
        version = "rules-" + hashlib.sha256(rules._content().encode()).hexdigest()[:12]
        assert version != rules.RULES_VERSION
        monkeypatch.setattr(geozone.incidents.pipeline, "RULES_VERSION", version)
        assert store.stale_ids(context_stamp(context)) == ["a"]


def test_import_resumes_after_a_partial_run(tmp_path: Path, context: Context) -> None:
    rows = [row(f"i{k}", 100 + k, 500) for k in range(50)]
    source = write_csv(tmp_path / "in.csv", rows)
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        seen: list[int] = []

        def stop_after_two(done: int, total: int) -> None:
            seen.append(done)
            if len(seen) == 3:  # (0, 50) first, then a call per piece stored
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            import_file(store, source, context, chunk_rows=10, on_stored=stop_after_two)
        assert store.count(IncidentQuery()) == 20
        report = import_file(store, source, context, chunk_rows=10)
        assert report.resumed_from == 20 and report.stored == 30
        assert store.count(IncidentQuery()) == 50
        # The first run stopped before linking: the second links what it stored too.
        stored, _ = store.query(IncidentQuery())
        assert stored["event_id"].notna().all()
        batch = store.batch(report.batch_id)
        assert batch is not None and batch["rows_stored"] == 50  # the whole batch, both runs


def test_a_resumed_import_links_what_the_stopped_run_stored(
    tmp_path: Path, context: Context
) -> None:
    """Rows are stored as their own events: the run that resumes links the earlier run's.

    Two members report one event in the second piece, and the first run stops once it is
    stored, before linking it (a piece is linked as the next one is stored): the events
    after the second run are those of importing the file at once.
    """
    rows = [row(f"i{k}", 100 + 15 * k, 500 + 15 * k) for k in range(30)]
    rows[11] = row("p1", 600, 200, detector="o1")
    rows[12] = row("p2", 605, 200, detector="o2")
    source = write_csv(tmp_path / "in.csv", rows)
    columns = ["external_id", "event_id", "event_role", "event_confidence"]
    with open_store(f"sqlite:///{tmp_path / 'once.sqlite'}") as store:
        import_file(store, source, context)
        once = store.query(IncidentQuery())[0][columns].sort_values("external_id")
    assert once.set_index("external_id").loc["p2", "event_id"] == "ev-p1"
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:

        def stop_after_two(done: int, total: int, seen: list[int] = []) -> None:  # noqa: B006
            seen.append(done)
            if len(seen) == 3:  # (0, 30) first, then a call per piece stored
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            import_file(store, source, context, chunk_rows=10, on_stored=stop_after_two)
        stopped = store.query(IncidentQuery())[0].set_index("external_id")
        assert stopped.loc["p2", "event_role"] == "single"  # stored, not linked yet
        report = import_file(store, source, context, chunk_rows=10)
        assert report.resumed_from == 20 and report.linked == 2
        resumed = store.query(IncidentQuery())[0][columns].sort_values("external_id")
    assert resumed.reset_index(drop=True).equals(once.reset_index(drop=True))


def test_link_stored_links_what_a_stopped_import_stored(tmp_path: Path, context: Context) -> None:
    """An import stopped between storing and linking: ``link_stored`` links its reports.

    Its last piece's reports look like single events until then (the pieces before are
    linked as the next is stored); ``geozone incidents link`` (link_stored)
    names the stopped batch and gives the events of importing the file at once, and leaves
    the batch to be resumed (still not done).
    """
    from geozone.incidents.pipeline import link_stored, unfinished_imports

    rows = [row(f"i{k}", 100 + 15 * k, 500 + 15 * k) for k in range(30)]
    rows[1] = row("p1", 600, 200, detector="o1")
    rows[2] = row("p2", 605, 200, detector="o2")
    rows[25] = row("p3", 610, 200, detector="o3")  # a later piece, same event
    source = write_csv(tmp_path / "in.csv", rows)
    columns = ["external_id", "event_id", "event_role", "event_confidence"]
    with open_store(f"sqlite:///{tmp_path / 'once.sqlite'}") as store:
        import_file(store, source, context)
        once = store.query(IncidentQuery())[0][columns].sort_values("external_id")
    assert once.set_index("external_id").loc[["p2", "p3"], "event_id"].tolist() == ["ev-p1"] * 2
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:

        def stop_when_stored(done: int, total: int) -> None:
            if done == total:  # every piece stored, the last not linked yet
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            import_file(store, source, context, chunk_rows=10, on_stored=stop_when_stored)
        stopped = store.query(IncidentQuery())[0].set_index("external_id")
        assert len(stopped) == 30
        # A piece is linked as the next one is stored (the file is in time order): the
        # first two are, the last is not.
        assert stopped.loc["p2", "event_id"] == "ev-p1"
        assert (
            stopped.loc[[f"i{k}" for k in range(20, 30) if k != 25], "event_role"] == "single"
        ).all()
        assert stopped.loc["p3", "event_role"] == "single"
        [batch] = unfinished_imports(store)
        assert batch["source"] == str(source) and batch["rows_done"] == 30
        assert link_stored(store, context, chunk=10) == 3  # p3 joins in a later chunk
        linked = store.query(IncidentQuery())[0][columns].sort_values("external_id")
        assert [b["batch_id"] for b in unfinished_imports(store)] == [batch["batch_id"]]
        assert link_stored(store, context) == 3  # linked again, the same three
        again = store.query(IncidentQuery())[0][columns].sort_values("external_id")
        assert import_file(store, source, context).stored == 0  # resumed: done now
        assert unfinished_imports(store) == []
        assert link_stored(store, context) == 0
    assert linked.reset_index(drop=True).equals(once.reset_index(drop=True))
    assert again.reset_index(drop=True).equals(once.reset_index(drop=True))


def test_an_import_links_once_another_linker_is_done(tmp_path: Path, context: Context) -> None:
    """Another process links the store: the import stores, says it waits, then links."""
    from tests.fixtures.linking import held_elsewhere, release

    rows = [row(f"i{k}", 100 + 15 * k, 500 + 15 * k) for k in range(30)]
    rows[1] = row("p1", 600, 200, detector="o1")
    rows[2] = row("p2", 605, 200, detector="o2")
    source = write_csv(tmp_path / "in.csv", rows)
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with open_store(url) as store, held_elsewhere(url) as child:
        waited: list[int] = []

        def stored_then_release() -> None:  # the import waits to link: let the other finish
            waited.append(len(store.query(IncidentQuery())[0]))
            release(child)

        report = import_file(store, source, context, chunk_rows=10, on_wait=stored_then_release)
        events = store.query(IncidentQuery())[0].set_index("external_id")
    assert waited == [30]  # every row stored before it waited, once
    assert report.linked == 2 and events.loc["p2", "event_id"] == "ev-p1"


def test_a_corrected_crs_is_another_batch(tmp_path: Path, context: Context) -> None:
    """A VN-2000 file imported without its CRS is all rejected; with it, every row is stored."""
    source = Path(__file__).parents[1] / "data" / "incidents_vn2000.csv"
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        wrong = import_file(store, source, context)
        assert (wrong.stored, wrong.rejected) == (0, wrong.rows)
        right = import_file(store, source, context, crs="EPSG:3405")
        assert right.batch_id != wrong.batch_id
        assert (right.stored, right.rejected, right.resumed_from) == (right.rows, 0, 0)
        again = import_file(store, source, context, crs=3405)  # the same CRS spelled otherwise
        assert (again.batch_id, again.stored) == (right.batch_id, 0)


def test_a_resumed_import_reads_in_pieces_and_keeps_every_reject(
    tmp_path: Path, context: Context
) -> None:
    rows = [row(f"i{k}", 100 + k, 500) for k in range(50)]
    rows[3] = row("bad", 100, 500, category="unicorns")
    rows[40] = row("i1", 100, 500)  # the id of row 1 again, 39 rows later: another piece
    source = write_csv(tmp_path / "in.csv", rows)
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:

        def stop_after_two(done: int, total: int, seen: list[int] = []) -> None:  # noqa: B006
            seen.append(done)
            if len(seen) == 3:  # (0, 50) first, then a call per piece stored
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            import_file(store, source, context, chunk_rows=10, on_stored=stop_after_two)
        report = import_file(store, source, context, chunk_rows=15)  # other pieces
        assert report.resumed_from == 20
        assert {(r["line"], r["field"]) for r in report.rejects} == {
            (5, "category"),
            (42, "external_id"),
        }
        assert store.count(IncidentQuery()) == 48
        batch = store.batch(report.batch_id)
        assert batch is not None and (batch["rows_stored"], batch["rows_rejected"]) == (48, 2)


def test_an_import_judges_its_own_rows_and_leaves_stale_ones_to_the_job(
    tmp_path: Path, context: Context, grid: BoundarySet
) -> None:
    first = write_csv(tmp_path / "one.csv", [row("a", 950, 300), row("b", 300, 300)])
    second = write_csv(
        tmp_path / "two.csv", [row("c", 950, 300), row("a", 100, 100), row("d", 2500, 2500)]
    )
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        import_file(store, first, context, chunk_rows=1)
        wider = ClusterTerritory(grid_cluster(zone_width_m=800), grid)
        changed = Context([grid], {"grid-centre": wider.cluster}, [wider], {"grid": "test"})
        report = import_file(store, second, changed, chunk_rows=2)
        # c and d are judged; a is another batch's row (its stored values stand) and, like
        # b, waits for the reassignment job.
        assert (report.stored, report.duplicates, report.assigned) == (2, 1, 2)
        assert store.stale_ids(context_stamp(changed)) == ["a", "b"]
        done: list[tuple[int, int]] = []
        assert assign_stale(store, changed, on_progress=lambda d, t: done.append((d, t))) == 2
        assert done[-1][0] == 2 and store.stale_ids(context_stamp(changed)) == []
        stored_a = store.get("a")
        assert stored_a is not None and stored_a["lon"] == pytest.approx(grid_point(950, 300)[0])


def test_a_post_after_a_context_change_judges_only_its_rows(
    tmp_path: Path, context: Context, grid: BoundarySet
) -> None:
    from api.services.incidents import post_incidents
    from tests.fixtures.incidents import record

    source = write_csv(tmp_path / "in.csv", [row(f"s{k}", 100 + k, 500) for k in range(30)])
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        import_file(store, source, context)
        wider = ClusterTerritory(grid_cluster(zone_width_m=800), grid)
        changed = Context([grid], {"grid-centre": wider.cluster}, [wider], {"grid": "test"})
        answer = post_incidents(store, changed, [record("p1", 950, 300), record("s3", 0, 0)])
        assert (answer["stored"], answer["duplicates"], answer["assigned"]) == (1, 1, 2)
        stale = store.stale_ids(context_stamp(changed))
        assert len(stale) == 29 and "p1" not in stale and "s3" not in stale
        assert store.get("p1") is not None


def test_an_import_counts_its_stored_rows_and_its_judged_rows_apart(
    tmp_path: Path, context: Context
) -> None:
    # Two counts (the CLI shows them as two bars): each piece is counted stored once it is
    # stored with its decisions (judged from the piece, written in one transaction), and its
    # reports linked into events as the next piece is stored (the file is in time order),
    # counted done as they are.
    source = write_csv(tmp_path / "in.csv", [row(f"i{k}", 100 + k, 500) for k in range(25)])
    events: list[tuple[str, int, int, int]] = []
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:

        def phase(name: str) -> Callable[[int, int], None]:
            def seen(done: int, total: int) -> None:
                assigned = store.count(IncidentQuery(unit_code="00001"))
                events.append((name, done, total, assigned))

            return seen

        import_file(
            store,
            source,
            context,
            chunk_rows=10,
            on_stored=phase("stored"),
            on_progress=phase("judged"),
        )
    assert [event[:3] for event in events] == [
        ("stored", 0, 25),  # the total before the work
        ("stored", 10, 25),
        ("stored", 20, 25),  # the first piece's events are written as the third is laid out
        ("judged", 10, 25),
        ("judged", 20, 25),  # written as the last piece is stored
        ("stored", 25, 25),
        ("judged", 25, 25),
    ]
    # a piece's rows are never stored without their assignments (linking a piece, the
    # next may be stored already)
    for name, done, _, assigned in events:
        assert assigned == done if name == "stored" else assigned >= done


def test_pieces_are_stored_within_the_caller_s_write_wait(
    tmp_path: Path, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer thread stores each piece in the caller's context (its write wait)."""
    from geozone.store._engine import WRITE_WAIT
    from geozone.store.sql import SqlIncidentStore, write_wait

    seen: list[float | None] = []
    add_judged = SqlIncidentStore.add_judged

    def recorded(self: SqlIncidentStore, *args: Any, **kwargs: Any) -> Any:
        seen.append(WRITE_WAIT.get())
        return add_judged(self, *args, **kwargs)

    monkeypatch.setattr(SqlIncidentStore, "add_judged", recorded)
    source = write_csv(tmp_path / "in.csv", [row(f"i{k}", 100 + 20 * k, 500) for k in range(25)])
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store, write_wait(7.5):
        assert import_file(store, source, context, chunk_rows=10).stored == 25
    assert seen == [7.5, 7.5, 7.5]


def timed_row(external_id: str, x: float, y: float, minute: int, detector: str = "o2") -> str:
    """A row detected ``minute`` minutes after 2022-03-01 21:00 (Vietnam time)."""
    lon, lat = grid_point(x, y)
    hours, minutes = divmod(21 * 60 + minute, 60)
    days, hours = divmod(hours, 24)
    when = f"2022-03-{1 + days:02d}T{hours:02d}:{minutes:02d}:00+07:00"
    return f"{external_id},{when},{lon},{lat},drugs,{detector}\n"


def stored_tables(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every stored column of a SQLite store's incidents and decisions, by external id.

    Less the row ids and the times of writing, which differ between two imports.
    """
    with sqlite3.connect(path) as connection:
        incidents = pd.read_sql("SELECT * FROM incidents", connection)
        decisions = pd.read_sql(
            "SELECT i.external_id, c.* FROM incident_clusters c "
            "JOIN incidents i ON i.id = c.incident_id",
            connection,
        )
    incidents = incidents.drop(columns=["id", "assigned_at"]).sort_values("external_id")
    decisions = decisions.drop(columns=["id", "incident_id"], errors="ignore")
    decisions = decisions.sort_values(["external_id", "cluster_id"])
    return incidents.reset_index(drop=True), decisions.reset_index(drop=True)


def events_by_phase(store: Any, source: Path, context: Context) -> list[str]:
    """Import ``source`` in pieces of 10 rows; return the phases' callbacks in turn."""
    calls: list[str] = []
    import_file(
        store,
        source,
        context,
        chunk_rows=10,
        on_stored=lambda done, total: calls.append(f"stored {done}"),
        on_progress=lambda done, total: calls.append(f"linked {done}"),
    )
    return calls


def test_a_file_in_time_order_is_linked_as_it_is_stored_and_gives_the_same_events(
    tmp_path: Path, context: Context
) -> None:
    """Pieces in time order are linked as the next is stored; pieces among each other's times
    once all are.

    Either way the store holds the events of linking every report at once: the same file
    in time order and mixed gives the same rows, decisions and events. Two members report
    each of five events, three of them across two pieces.
    """
    rows = [timed_row(f"i{k:02d}", 100 + 15 * k, 900, 10 * k) for k in range(40)]
    for j, first in enumerate((3, 9, 19, 24, 29)):  # 30 m and 10 minutes apart
        rows[first] = timed_row(f"i{first:02d}", 600, 100 + 60 * j, 10 * first, "o1")
        rows[first + 1] = timed_row(f"i{first + 1:02d}", 630, 100 + 60 * j, 10 * first + 10)
    ordered = write_csv(tmp_path / "ordered.csv", rows)
    # Pieces of the later reports' even rows, their odd rows, then the earlier reports' even
    # and odd rows: the second piece's reports fall in the hours of the first's.
    later, earlier = rows[20:], rows[:20]
    mixed = write_csv(
        tmp_path / "mixed.csv", later[::2] + later[1::2] + earlier[::2] + earlier[1::2]
    )
    with open_store(f"sqlite:///{tmp_path / 'a.sqlite'}") as store:
        calls = events_by_phase(store, ordered, context)
        linked = store.query(IncidentQuery())[0].set_index("external_id")
    # A piece's events are written as the piece after next is laid out for storing; the
    # last two pieces' once every piece is handed over.
    assert calls == [
        *("stored 0", "stored 10", "stored 20", "linked 10", "stored 30", "linked 20"),
        *("linked 30", "stored 40", "linked 40"),
    ]
    assert linked.loc[["i10", "i20", "i30"], "event_id"].tolist() == ["ev-i09", "ev-i19", "ev-i29"]
    assert (linked["event_role"] != "single").sum() == 10
    with counting_plans() as planned, open_store(f"sqlite:///{tmp_path / 'b.sqlite'}") as store:
        calls = events_by_phase(store, mixed, context)
    assert planned == [10]  # the first piece only: the rest once all are stored
    stored_first = ["stored 0", "stored 10", "stored 20", "linked 10", "stored 30", "stored 40"]
    assert calls == [*stored_first, "linked 20", "linked 30", "linked 40"]
    a_rows, a_decisions = stored_tables(tmp_path / "a.sqlite")
    b_rows, b_decisions = stored_tables(tmp_path / "b.sqlite")
    pd.testing.assert_frame_equal(a_rows.drop(columns="batch_id"), b_rows.drop(columns="batch_id"))
    pd.testing.assert_frame_equal(a_decisions, b_decisions)


@contextmanager
def counting_plans() -> Iterator[list[int]]:
    """Count the reports of each piece linked as it is stored (its linking worked out)."""
    planned: list[int] = []
    plan_links = pipeline.plan_links

    def counting(store: Any, ids: Any, *args: Any, **kwargs: Any) -> Any:
        planned.append(len(ids))
        return plan_links(store, ids, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "plan_links", counting)
        yield planned


def test_a_file_nearly_in_time_order_is_linked_as_it_is_stored(
    tmp_path: Path, context: Context
) -> None:
    """A file in time order but for a late report in its first piece (a record corrected
    later), and pieces of overlapping periods (as the synthetic generator writes them): the
    pieces after it come before the latest report stored, but few of the pieces before them
    were detected in their hours, so each is linked as the next is stored; the events are
    those of the file in time order. Two members report two events."""
    rows = [timed_row(f"a{k:02d}", 100 + 15 * k, 900, 90 * k) for k in range(40)]
    rows[14] = timed_row("a14", 300, 900, 90 * 13 + 10, "o1")  # a13's event, 10 minutes on
    rows[19] = timed_row("a19", 380, 900, 90 * 18 + 10, "o1")  # a18's, across two pieces
    late = rows.pop(39)
    in_time = write_csv(tmp_path / "in_time.csv", [*rows, late])
    nearly = write_csv(tmp_path / "nearly.csv", [*rows[:9], late, *rows[9:]])
    with counting_plans() as planned, open_store(f"sqlite:///{tmp_path / 'n.sqlite'}") as store:
        assert store_and_link(store, nearly, context) == (40, 4)
    assert planned == [10, 10, 10, 10]
    with open_store(f"sqlite:///{tmp_path / 't.sqlite'}") as store:
        assert store_and_link(store, in_time, context) == (40, 4)
    nearly_rows, nearly_decisions = stored_tables(tmp_path / "n.sqlite")
    in_time_rows, in_time_decisions = stored_tables(tmp_path / "t.sqlite")
    pd.testing.assert_frame_equal(
        nearly_rows.drop(columns="batch_id"), in_time_rows.drop(columns="batch_id")
    )
    pd.testing.assert_frame_equal(nearly_decisions, in_time_decisions)
    assert nearly_rows.set_index("external_id").loc[["a14", "a19"], "event_id"].tolist() == [
        "ev-a13",
        "ev-a18",
    ]


def test_a_piece_s_events_are_written_with_their_decisions_or_not_at_all(
    tmp_path: Path, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linking makes a14 a cooperating report of a13's event; judging it again fails: the
    events are not written either, so no reader sees a14 cooperating with a single report's
    decision (they were two transactions, the events written first)."""
    rows = [timed_row(f"a{k:02d}", 100 + 15 * k, 900, 90 * k) for k in range(30)]
    rows[14] = timed_row("a14", 300, 900, 90 * 13 + 10, "o1")  # a13's event, 10 minutes on
    source = write_csv(tmp_path / "in_time.csv", rows)
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with open_store(url) as store:
        assert store_and_link(store, source, context) == (30, 2)
        good = store.get("a14")
        assert good is not None and good["event_role"] == "cooperating"

    def failing(*_: Any, **__: Any) -> Any:
        raise RuntimeError("judging again failed")

    monkeypatch.setattr(pipeline, "judging_frame", failing)
    url = f"sqlite:///{tmp_path / 'f.sqlite'}"
    with open_store(url) as store, pytest.raises(RuntimeError, match="judging again failed"):
        import_file(store, source, context, chunk_rows=10)
    with sqlite3.connect(tmp_path / "f.sqlite") as connection:
        roles = dict(connection.execute("SELECT external_id, event_role FROM incidents"))
    assert roles["a13"] == roles["a14"] == "single"  # stored, not linked
    assert set(roles.values()) == {"single"}


def store_and_link(store: Any, source: Path, context: Context) -> tuple[int, int]:
    """Import ``source`` in pieces of 10 rows; return the rows stored and the reports linked."""
    report = import_file(store, source, context, chunk_rows=10)
    return report.stored, report.linked


@pytest.fixture
def writer_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Imports of any size store their pieces from a writer process."""
    monkeypatch.setenv("GEOZONE_IMPORT_PROCESS_ROWS", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_writer_process_stores_what_the_writer_thread_stores(
    tmp_path: Path, context: Context, writer_process: None
) -> None:
    """A large import stores its pieces from a process of its own: the same rows, decisions
    and events as from the importing process's thread."""
    rows = [timed_row(f"i{k:02d}", 100 + 15 * k, 900, 10 * k) for k in range(40)]
    rows[9] = timed_row("i09", 600, 100, 90, "o1")
    rows[10] = timed_row("i10", 630, 100, 100)  # with i09: one event, across two pieces
    source = write_csv(tmp_path / "in.csv", rows)
    writers: list[int] = []
    with open_store(f"sqlite:///{tmp_path / 'process.sqlite'}") as store:
        report = import_file(
            store,
            source,
            context,
            chunk_rows=10,
            on_stored=lambda done, total: writers.append(len(multiprocessing.active_children())),
        )
    assert (report.stored, report.assigned, report.linked) == (40, 40, 2)
    assert writers[1:] == [1, 1, 1, 1]  # each piece stored while the process ran
    get_settings.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEOZONE_IMPORT_PROCESS_ROWS", "1000")
        get_settings.cache_clear()
        with open_store(f"sqlite:///{tmp_path / 'thread.sqlite'}") as store:
            assert import_file(store, source, context, chunk_rows=10).stored == 40
    process_rows, process_decisions = stored_tables(tmp_path / "process.sqlite")
    thread_rows, thread_decisions = stored_tables(tmp_path / "thread.sqlite")
    pd.testing.assert_frame_equal(process_rows, thread_rows)
    pd.testing.assert_frame_equal(process_decisions, thread_decisions)
    assert process_rows.set_index("external_id").loc["i10", "event_id"] == "ev-i09"


def test_an_error_in_the_writer_process_stops_the_import_with_its_piece_unstored(
    tmp_path: Path, context: Context, writer_process: None
) -> None:
    """The database refuses a row of the third piece: the import stops with the reason, the
    pieces before are stored whole with their decisions, nothing of the third; once the
    cause is gone the same import resumes and ends as an import in one go."""
    rows = [timed_row(f"i{k:02d}", 100 + 15 * k, 900, 10 * k) for k in range(40)]
    source = write_csv(tmp_path / "in.csv", rows)
    path = tmp_path / "s.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        with sqlite3.connect(path) as connection:
            connection.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON incidents WHEN new.external_id = 'i25' "
                "BEGIN SELECT RAISE(ABORT, 'i25 refused by the database'); END"
            )
        with pytest.raises(StoreError, match="i25 refused by the database"):
            import_file(store, source, context, chunk_rows=10)
        stored, total = store.query(IncidentQuery())
        assert total == 20 and sorted(stored["external_id"]) == [f"i{k:02d}" for k in range(20)]
        assert stored["unit_code"].notna().all()  # stored with its decisions
        with sqlite3.connect(path) as connection:
            connection.execute("DROP TRIGGER refuse")
        report = import_file(store, source, context, chunk_rows=10)
        assert (report.resumed_from, report.stored) == (20, 20)
    with open_store(f"sqlite:///{tmp_path / 'once.sqlite'}") as store:
        import_file(store, source, context, chunk_rows=10)
    resumed_rows, resumed_decisions = stored_tables(path)
    once_rows, once_decisions = stored_tables(tmp_path / "once.sqlite")
    pd.testing.assert_frame_equal(resumed_rows, once_rows)
    pd.testing.assert_frame_equal(resumed_decisions, once_decisions)
