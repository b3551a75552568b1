"""Linking on import: the import with linking against the same import without it, same run.

A CSV of ``--n`` SYNTHETIC incidents (drawn over the built vn2025 set, labelled synthetic),
30 % of the T11 members' reports given a planted second report by another member
(:func:`geozone.incidents.synthetic.duplicates.plant_duplicates`), is imported into a fresh
SQLite store twice, in this process, one after the other:

- without: :func:`~geozone.incidents.pipeline.import_file` with linking switched off (the
  import as it was before events);
- with: the same import, each piece's new reports linked against the stored reports near
  them (bounded reads per 0.1° tile) and the changed ones judged again.

It prints both times, the ratio, the reports linked and the rows read by the bounded reads.

Run (needs the built cache: ``GEOZONE_CACHE_DIR``)::

    .venv/bin/python benchmarks/bench_events.py [--n 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()

    from geozone.context import judging_context
    from geozone.incidents import events, pipeline
    from geozone.incidents.io import write_incidents
    from geozone.incidents.synthetic import generate_incidents
    from geozone.incidents.synthetic.duplicates import plant_duplicates
    from geozone.store import open_store
    from geozone.vntime import VIETNAM_TZ

    context = judging_context()
    current = context.boundary_set("vn2025")
    carried = [t.cluster for t in context.territories if t.bset.id == current.id]
    frame = generate_incidents(
        args.n,
        1,
        boundaries=current,
        clusters=carried,
        start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
        end=datetime(2026, 6, 30, tzinfo=VIETNAM_TZ),
    )
    t11 = next(c for c in carried if c.id.startswith("hoa-do-phuc-vi"))
    members = [m.id for m in t11.members] + [str(m.unit_code) for m in t11.members if m.unit_code]
    planted = plant_duplicates(frame, 1, members=members)
    print(f"{len(planted.incidents):,} SYNTHETIC reports, {len(planted.pairs):,} planted pairs")
    read: list[int] = []
    original = events.link_new

    def counting(store: object, ids: object, settings: object = None) -> events.LinkOutcome:
        outcome = original(store, ids, settings)  # type: ignore[arg-type]
        read.append(outcome.read)
        return outcome

    with tempfile.TemporaryDirectory() as folder:
        source = write_incidents(planted.incidents, Path(folder) / "in.csv")
        times = {}
        for mode in ("without", "with"):
            if mode == "without":
                pipeline.link_new = lambda *a, **k: events.LinkOutcome()  # type: ignore[assignment]
            else:
                pipeline.link_new = counting  # type: ignore[assignment]
            started = time.perf_counter()
            with open_store(f"sqlite:///{Path(folder) / f'{mode}.sqlite'}") as store:
                report = pipeline.import_file(store, source, context)
                times[mode] = time.perf_counter() - started
                if mode == "with":
                    found = _pairs(store)
            print(f"{mode:>8}: {times[mode]:7.1f} s  ({report.linked:,} reports linked)")
        pipeline.link_new = original
    print(f"ratio with/without: {times['with'] / times['without']:.2f}")
    hits = len(found & planted.pairs)
    print(
        f"linked pairs {len(found):,}; planted found {hits:,}: precision "
        f"{hits / max(len(found), 1):.3f}, recall {hits / max(len(planted.pairs), 1):.3f} "
        "(unplanted links are coincidences of the generator's own events, e.g. at the T11 "
        "hotspot)"
    )
    print(f"rows read by the bounded reads: {sum(read):,} for {len(planted.incidents):,} new")


def _pairs(store: object) -> set[frozenset[str]]:
    """Return the pairs of reports the store holds in one event."""
    import pandas as pd

    from geozone.store import IncidentQuery

    pages, offset = [], 0
    while True:
        page, total = store.query(  # type: ignore[attr-defined]
            IncidentQuery(limit=10_000, offset=offset, order="external_id")
        )
        pages.append(pd.DataFrame(page[["external_id", "event_id"]]))
        offset += len(page)
        if offset >= total or page.empty:
            break
    frame = pd.concat(pages)
    groups = frame.groupby("event_id")["external_id"].apply(sorted)
    return {
        frozenset((a, b))
        for ids in groups
        if len(ids) > 1
        for i, a in enumerate(ids)
        for b in ids[i + 1 :]
    }


if __name__ == "__main__":
    main()
