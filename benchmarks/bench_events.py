"""Linking on import: the import with linking against the same import without it, same run.

A CSV of ``--n`` SYNTHETIC incidents (drawn over the built vn2025 set, labelled synthetic),
30 % of the T11 members' reports given a planted second report by another member
(:func:`geozone.incidents.synthetic.duplicates.plant_duplicates`), is imported into a fresh
SQLite store twice, in this process, one after the other:

- without: :func:`~geozone.incidents.pipeline.import_file` with linking switched off (the
  import as it was before events);
- with: the same import, each piece's new reports linked against the stored reports near
  them (bounded reads per 0.1° tile) and the changed ones judged again.

It prints both times, the ratio, the reports linked, the rows read by the bounded reads, and
the precision and recall of the links against the planted pairs, overall and at the T11
bridge hotspot (pairs with a report within twice the hotspot's radius of its point: the
generator puts 15 % of all incidents there, about 20 a day). ``--core`` links the same
reports in memory (:func:`geozone.incidents.linking.link_reports`, one pass, no store)
instead of importing them, in seconds.

Run (needs the built cache: ``GEOZONE_CACHE_DIR``)::

    .venv/bin/python benchmarks/bench_events.py [--n 100000] [--core] [--chunk 50000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--core", action="store_true", help="link in memory, no store")
    parser.add_argument("--chunk", type=int, default=50_000, help="rows per import piece")
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
    hotspot = _near(planted.incidents, t11)
    if args.core:
        from geozone.incidents.linking import link_reports

        started = time.perf_counter()
        linked = link_reports(planted.incidents)
        print(f"    core: {time.perf_counter() - started:7.1f} s (in memory, one group)")
        _score(_pairs_of(linked.reports), planted.pairs, hotspot)
        return
    read: list[int] = []
    original = events.link_new

    def counting(
        store: object, ids: object, settings: object = None, **more: Any
    ) -> events.LinkOutcome:
        outcome = original(store, ids, settings, **more)  # type: ignore[arg-type]
        read.append(outcome.read)
        return outcome

    original_plan = events.plan_links

    def planning(
        store: object, ids: object, settings: object = None, **more: Any
    ) -> events.LinkPlan:  # a piece linked as the next is stored (a file in time order)
        plan = original_plan(store, ids, settings, **more)  # type: ignore[arg-type]
        read.append(plan.outcome.read)
        return plan

    with tempfile.TemporaryDirectory() as folder:
        source = write_incidents(planted.incidents, Path(folder) / "in.csv")
        times = {}
        for mode in ("without", "with"):
            if mode == "without":
                pipeline.link_new = lambda *a, **k: events.LinkOutcome()  # type: ignore[assignment]
                pipeline.plan_links = lambda *a, **k: events.LinkPlan()  # type: ignore[assignment]
            else:
                pipeline.link_new = counting  # type: ignore[assignment]
                pipeline.plan_links = planning  # type: ignore[assignment]
            started = time.perf_counter()
            with open_store(f"sqlite:///{Path(folder) / f'{mode}.sqlite'}") as store:
                report = pipeline.import_file(store, source, context, chunk_rows=args.chunk)
                times[mode] = time.perf_counter() - started
                if mode == "with":
                    found = _pairs(store)
            print(f"{mode:>8}: {times[mode]:7.1f} s  ({report.linked:,} reports linked)")
        pipeline.link_new, pipeline.plan_links = original, original_plan
    print(f"ratio with/without: {times['with'] / times['without']:.2f}")
    _score(found, planted.pairs, hotspot)
    print(f"rows read by the bounded reads: {sum(read):,} for {len(planted.incidents):,} new")


def _near(incidents: object, cluster: object) -> set[str]:
    """Return the ids of the reports within twice the radius of the cluster's point hotspots."""
    import numpy as np

    frame: Any = incidents
    near: set[str] = set()
    for spot in getattr(cluster, "hotspots", ()):
        if spot.point is None:
            continue
        lon, lat = spot.point
        east = (frame["lon"] - lon) * 111_320.0 * np.cos(np.radians(lat))
        north = (frame["lat"] - lat) * 110_574.0
        inside = np.hypot(east, north) <= 2 * float(spot.radius_m or 150.0)
        near |= set(frame.loc[inside, "external_id"].astype(str))
    return near


def _score(found: set[frozenset[str]], truth: set[frozenset[str]], hotspot: set[str]) -> None:
    """Print precision and recall of ``found`` against ``truth``, overall and at the hotspot."""
    for where, keep in (("overall", None), ("T11 hotspot", hotspot)):
        links = found if keep is None else {p for p in found if p & keep}
        true = truth if keep is None else {p for p in truth if p & keep}
        hits = len(links & true)
        print(
            f"{where:>11}: linked pairs {len(links):,}, planted {len(true):,}, found "
            f"{hits:,}: precision {hits / max(len(links), 1):.3f}, recall "
            f"{hits / max(len(true), 1):.3f}"
        )


def _pairs_of(reports: Any) -> set[frozenset[str]]:
    """Return the pairs of reports in one event, from ``external_id`` and ``event_id``."""
    groups = reports.groupby("event_id")["external_id"].apply(sorted)
    return {
        frozenset((a, b))
        for ids in groups
        if len(ids) > 1
        for i, a in enumerate(ids)
        for b in ids[i + 1 :]
    }


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
    return _pairs_of(pd.concat(pages))


if __name__ == "__main__":
    main()
