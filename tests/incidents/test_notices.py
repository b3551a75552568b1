"""The notice of an unfinished import, and closing an import that will not be finished."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from geozone.context import Context
from geozone.errors import ImportBatchError
from geozone.incidents.notices import unfinished_import_notice, unfinished_import_notices
from geozone.incidents.pipeline import (
    close_import,
    import_batches,
    import_file,
    link_stored,
    unfinished_imports,
)
from geozone.store import IncidentQuery, IncidentStore, open_store
from tests.fixtures.clusters import grid_context
from tests.fixtures.imports import stopped_import

COLUMNS = ["external_id", "event_id", "event_role"]


@pytest.fixture
def context() -> Context:
    return grid_context()  # type: ignore[no-any-return]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IncidentStore]:
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as opened:
        yield opened


def events(store: IncidentStore) -> dict[str, tuple[str, str]]:
    frame = store.query(IncidentQuery())[0]
    return {r.external_id: (r.event_id, r.event_role) for r in frame[COLUMNS].itertuples()}


def test_the_notice_names_the_file_the_rows_and_what_to_do() -> None:
    batch = {"batch_id": "file:ab", "source": "/data/in.csv", "rows_done": 1200, "rows_total": 3000}
    notice = unfinished_import_notice(batch)
    vi, en = notice.split(" / Unfinished import")
    assert vi.startswith("Lần nhập chưa xong (đã dừng): tệp /data/in.csv, đã đọc 1.200/3.000 dòng")
    assert "sự việc riêng" in vi and "'geozone incidents link'" in vi
    assert en.startswith(" (stopped): file /data/in.csv, 1,200 of 3,000 rows read; its reports ")
    assert "separate events, unless 'geozone incidents link' has linked them since it" in en
    assert "import the same file again with the same options to finish it (batch file:ab)" in en
    assert en.endswith("will not be finished: 'geozone incidents batches --close file:ab'.")
    assert "'geozone incidents batches --close file:ab'" in vi
    running = unfinished_import_notice(batch | {"running": True})
    vi, en = running.split(" / Import running")
    assert vi.startswith("Lần nhập đang chạy: tệp /data/in.csv, đã đọc 1.200/3.000 dòng")
    assert en.startswith(": file /data/in.csv, 1,200 of 3,000 rows read; its reports may be ")
    assert "until it is done (it links them once every piece is stored)" in en
    assert "--close" not in running  # a run in progress is not closed


def test_a_stopped_import_is_said_until_it_is_closed(
    store: IncidentStore, context: Context, tmp_path: Path
) -> None:
    """Linking leaves the batch unfinished (said still); closing links it once and ends it."""
    source = stopped_import(store, tmp_path, context)
    [batch] = unfinished_imports(store)
    assert unfinished_import_notices(store) == [unfinished_import_notice(batch)]
    assert f"tệp {source}, đã đọc 301/301 dòng" in unfinished_import_notices(store)[0]
    assert events(store)["twin"][1] == "single"
    assert link_stored(store, context) == 2
    assert len(unfinished_import_notices(store)) == 1  # linked, still not done
    assert close_import(store, context, batch["batch_id"]) == 2  # linked once more
    assert unfinished_import_notices(store) == [] and unfinished_imports(store) == []
    [closed] = import_batches(store)
    assert (closed["batch_id"], closed["status"], closed["rows_done"]) == (
        batch["batch_id"],
        "closed",
        301,
    )
    linked = events(store)
    assert linked["twin"][0] == linked["g7"][0] and {linked["twin"][1], linked["g7"][1]} == {
        "lead",
        "cooperating",
    }
    assert link_stored(store, context) == 0  # a closed batch is not linked again


def test_closing_refuses_an_unknown_or_done_batch_by_name(
    store: IncidentStore, context: Context, tmp_path: Path
) -> None:
    source = stopped_import(store, tmp_path, context)
    [batch] = unfinished_imports(store)
    with pytest.raises(ImportBatchError, match="no import batch 'file:nope'"):
        close_import(store, context, "file:nope")
    assert import_file(store, source, context).batch_id == batch["batch_id"]  # finished
    with pytest.raises(ImportBatchError, match=f"import batch '{batch['batch_id']}' is done"):
        close_import(store, context, batch["batch_id"])


def test_the_same_import_again_reopens_a_closed_batch_and_finishes_it(
    store: IncidentStore, context: Context, tmp_path: Path
) -> None:
    source = stopped_import(store, tmp_path, context)
    [batch] = unfinished_imports(store)
    close_import(store, context, batch["batch_id"])
    with pytest.raises(ImportBatchError, match="is closed"):
        close_import(store, context, batch["batch_id"])
    closed = events(store)
    report = import_file(store, source, context)
    assert (report.batch_id, report.stored, report.resumed_from) == (batch["batch_id"], 0, 301)
    assert [b["status"] for b in import_batches(store)] == ["done"]
    assert events(store) == closed


def test_a_run_in_progress_is_said_running_refused_twice_and_not_closed(
    store: IncidentStore, context: Context, tmp_path: Path
) -> None:
    from tests.fixtures.linking import held_elsewhere

    source = stopped_import(store, tmp_path, context)
    [batch] = unfinished_imports(store)
    assert batch["running"] is False
    url = str(store.engine.url)  # type: ignore[attr-defined]
    with held_elsewhere(url, batch["batch_id"]):  # the same import, resumed in another process
        [running] = unfinished_imports(store)
        assert running["running"] is True
        assert unfinished_import_notices(store)[0].startswith("Lần nhập đang chạy: tệp ")
        assert [b["status"] for b in import_batches(store)] == ["running"]
        with pytest.raises(ImportBatchError, match="is running in another process or job"):
            import_file(store, source, context)
        with pytest.raises(ImportBatchError, match="is running in another process or job"):
            close_import(store, context, batch["batch_id"])
    assert [b["status"] for b in import_batches(store)] == ["stopped"]
    assert import_file(store, source, context).resumed_from == 301  # now it may go on


def test_the_unlinked_notice_counts_and_agrees_in_number() -> None:
    from geozone.incidents.notices import UNLINKED_CAP, unlinked_notice

    one = unlinked_notice(1)
    assert one.startswith("1 báo cáo đã lưu chưa được gộp thành sự việc")
    assert "/ 1 stored report is not linked into events yet" in one
    assert "it counts as an event of its own until 'geozone incidents link' runs." in one
    many = unlinked_notice(1234)
    assert many.startswith("1.234 báo cáo") and "/ 1,234 stored reports are not linked" in many
    capped = unlinked_notice(UNLINKED_CAP)
    assert capped.startswith("hơn 100.000 báo cáo") and "/ over 100,000 stored reports" in capped
