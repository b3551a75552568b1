"""What every output that counts incidents or events says about an unfinished import.

An import stores each new report as its own single event and links the reports into events
once every piece is stored (:mod:`geozone.incidents.pipeline`). An import stopped in between
leaves its batch not done and its reports looking like single events: until the same file is
imported again with the same options, or the batch is linked (``geozone incidents link``,
``geozone incidents batches --close``), a count of events may count one event twice. The
CLI, the API, the maps and the reports say so with the same words, from here: one notice per
unfinished batch, Vietnamese then English ("vi / en"), as the other notes of the reports.

Cheap: one query of the (small) import batches table per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geozone.incidents.pipeline import unfinished_imports
from geozone.store import IncidentStore
from geozone.text import format_number


def unfinished_import_notice(batch: Mapping[str, Any]) -> str:
    """Return the notice of one unfinished import batch, Vietnamese then English.

    Parameters
    ----------
    batch
        A row of :func:`~geozone.incidents.pipeline.unfinished_imports`: ``batch_id``,
        ``source``, ``rows_done``, ``rows_total`` and ``running`` (a run of it in
        progress; else it stopped).

    Returns
    -------
    str
        Plain text (no markup): the file, the rows read of the total, what it means for the
        counts and how to end it.
    """
    source, batch_id = str(batch["source"]), str(batch["batch_id"])
    done, total = int(batch["rows_done"]), int(batch["rows_total"])
    read_vi = f"tệp {source}, đã đọc {format_number(done)}/{format_number(total)} dòng"
    read_en = f"file {source}, {done:,} of {total:,} rows read"
    if batch.get("running", False):
        return (
            f"Lần nhập đang chạy: {read_vi}; các báo cáo của lần nhập này có thể bị đếm thành "
            "những sự việc riêng cho đến khi nó xong (nó tự gộp báo cáo thành sự việc khi đã "
            f"lưu hết) (mã lần nhập {batch_id}) / "
            f"Import running: {read_en}; its reports may be counted as separate events until "
            f"it ends (it links them once every piece is stored) (batch {batch_id})."
        )
    return (
        f"Lần nhập chưa xong (đã dừng): {read_vi}; các báo cáo của lần nhập này có thể bị đếm "
        "thành những sự việc riêng cho đến khi nhập xong (nhập lại đúng tệp đó với cùng tùy "
        f"chọn) hoặc chạy 'geozone incidents link' (mã lần nhập {batch_id}); nếu sẽ không "
        f"nhập tiếp, hãy đóng nó: 'geozone incidents batches --close {batch_id}' / "
        f"Unfinished import (stopped): {read_en}; its reports may be counted as separate "
        "events until it is finished (import the same file again with the same options) or "
        f"'geozone incidents link' runs (batch {batch_id}); if it will not be finished, close "
        f"it: 'geozone incidents batches --close {batch_id}'."
    )


def unfinished_import_notices(store: IncidentStore) -> list[str]:
    """Return one notice per unfinished import of ``store`` (empty: none), oldest first.

    See :func:`unfinished_import_notice`; one small query (the import batches table).
    """
    return [unfinished_import_notice(batch) for batch in unfinished_imports(store)]


__all__ = ["unfinished_import_notice", "unfinished_import_notices"]
