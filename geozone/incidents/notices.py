"""What every output that counts incidents or events says about an unfinished import.

An import stores each new report as its own single event and links the reports into events
once every piece is stored (:mod:`geozone.incidents.pipeline`). An import stopped in between
leaves its batch not done and its reports looking like single events: until the same file is
imported again with the same options, or the batch is linked (``geozone incidents link``,
``geozone incidents batches --close``), a count of events may count one event twice. The
CLI, the API, the maps and the reports say so with the same words, from here: one notice per
unfinished batch, Vietnamese then English ("vi / en"), as the other notes of the reports.

Reports stored but not linked at all (before events existed, or by a request whose linking
found another linker holding the store) are said too, until ``geozone incidents link``.
Cheap: one query of the (small) import batches table, a lock check per unfinished batch
and one bounded, indexed count per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geozone.incidents.pipeline import unfinished_imports
from geozone.store import IncidentStore
from geozone.store.events import count_unlinked
from geozone.store.sql import SqlIncidentStore
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
            f"it is done (it links them once every piece is stored) (batch {batch_id})."
        )
    return (
        f"Lần nhập chưa xong (đã dừng): {read_vi}; các báo cáo của lần nhập này có thể bị đếm "
        "thành những sự việc riêng, trừ khi 'geozone incidents link' đã gộp chúng sau khi nó "
        "dừng; nhập lại đúng tệp đó với cùng tùy chọn để nhập xong (mã lần nhập "
        f"{batch_id}), hoặc nếu sẽ không nhập tiếp, hãy đóng nó: 'geozone incidents batches "
        f"--close {batch_id}' / "
        f"Unfinished import (stopped): {read_en}; its reports may be counted as separate "
        "events, unless 'geozone incidents link' has linked them since it stopped; import the "
        f"same file again with the same options to finish it (batch {batch_id}), or close it "
        f"if it will not be finished: 'geozone incidents batches --close {batch_id}'."
    )


#: Unlinked reports counted up to this many for the notice (a bound on its read).
UNLINKED_CAP = 100_000


def unlinked_notice(count: int) -> str:
    """Return the notice of ``count`` stored reports not linked into events yet."""
    many = count >= UNLINKED_CAP
    vi_n = ("hơn " if many else "") + format_number(count)
    en_n = ("over " if many else "") + f"{count:,}"
    reports, are, each = ("report", "is", "it") if count == 1 else ("reports", "are", "each")
    return (
        f"{vi_n} báo cáo đã lưu chưa được gộp thành sự việc (lưu khi một tiến trình khác đang "
        "gộp, hoặc trước khi có sự việc): mỗi báo cáo được đếm là một sự việc riêng cho đến "
        "khi chạy 'geozone incidents link' / "
        f"{en_n} stored {reports} {are} not linked into events yet (stored while another "
        f"process was linking, or before events existed): {each} counts as an event of its "
        "own until 'geozone incidents link' runs."
    )


def unfinished_import_notices(store: IncidentStore) -> list[str]:
    """Return the store's notices: one per unfinished import, oldest first, then unlinked reports.

    See :func:`unfinished_import_notice` and :func:`unlinked_notice`: a small query of the
    import batches table, a check of each unfinished batch's lock, and one indexed count of
    the reports not linked yet (bounded by :data:`UNLINKED_CAP`). Empty: nothing to say.
    """
    notices = [unfinished_import_notice(batch) for batch in unfinished_imports(store)]
    if isinstance(store, SqlIncidentStore) and (count := count_unlinked(store, UNLINKED_CAP)):
        notices.append(unlinked_notice(count))
    return notices


__all__ = [
    "UNLINKED_CAP",
    "unfinished_import_notice",
    "unfinished_import_notices",
    "unlinked_notice",
]
