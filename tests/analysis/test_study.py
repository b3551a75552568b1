"""A cluster's study counts an incident in the territory of the form in force on its date.

The carried Gia Lâm cluster has two forms: the original in the old districts (until
2025-06-30) and its form carried into the 2025 communes (from 2025-07-01), whose territory
is larger: Xã Mê Linh (2025) is a member, while Huyện Mê Linh (before) was none. An incident
there before the reform is not the cluster's; one after is. The review counts what is judged
under the cluster's forms; the study (hotspots, coverage, maps) must count the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import shapely

from geozone import vntime
from geozone.analysis.study import (
    cluster_study,
    cluster_study_period,
    study_area,
    study_hotspots,
)
from geozone.context import Context, load_context
from geozone.incidents.pipeline import assign_stale, link_stored
from geozone.labels import STUDY_COUNT_BASIS
from geozone.report import cluster_forms, cluster_report
from geozone.settings import Settings
from geozone.store import IncidentStore, open_store
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.incidents import real_sample

pytestmark = pytest.mark.realdata

GIA_LAM = "gia-lam-vn2025"
#: Xã Mê Linh (vn2025), a member of the carried Gia Lâm cluster; before the reform the place
#: lay in Huyện Mê Linh, which was no member (1.7 km from the old territory).
ME_LINH = (105.73432, 21.14601)
#: In Huyện Gia Lâm before the reform and in a member commune after: in both territories.
GIA_LAM_TOWN = (105.99760, 21.04467)
#: 18 months across the reform of 1 July 2025.
FIRST, LAST = date(2024, 7, 1), date(2025, 12, 31)
T11 = "hoa-do-phuc-vi-vn2025"
T11_BRIDGE = (105.8064, 21.0387)


@pytest.fixture(scope="module")
def real(built_settings: Settings) -> Context:
    return load_context(built_settings)


def incident(external_id: str, day: str, at: tuple[float, float]) -> dict[str, Any]:
    """One SYNTHETIC theft, detected by nobody known."""
    return {
        "external_id": external_id,
        "occurred_at": f"{day}T10:00:00+07:00",
        "lon": at[0],
        "lat": at[1],
        "category": "theft",
        "status": "open",
        "subjects": 1,
        "synthetic": True,
    }


def test_the_places_are_what_the_tests_say(real: Context) -> None:
    old, new = cluster_forms(real, GIA_LAM)
    assert (old.set_id, old.applies_to, new.set_id, new.applies_from) == (
        "vn-legacy-districts",
        date(2025, 6, 30),
        "vn2025",
        date(2025, 7, 1),
    )
    me_linh, town = shapely.Point(ME_LINH), shapely.Point(GIA_LAM_TOWN)
    assert not study_area([old]).intersects(me_linh) and study_area([new]).contains(me_linh)
    assert study_area([old]).contains(town) and study_area([new]).contains(town)


def test_an_incident_counts_in_the_territory_of_the_form_in_force_on_its_date(
    real: Context, tmp_path: Path
) -> None:
    frame = pd.DataFrame(
        [
            incident("me-linh-before", "2025-03-01", ME_LINH),  # no member's then: not counted
            incident("me-linh-on-the-eve", "2025-06-30", ME_LINH),  # the old form's last day
            incident("me-linh-on-the-day", "2025-07-01", ME_LINH),  # the carried form's first
            incident("me-linh-after", "2025-09-01", ME_LINH),
            incident("town-before", "2025-03-02", GIA_LAM_TOWN),
            incident("town-after", "2025-09-02", GIA_LAM_TOWN),
        ]
    )
    counted = {"me-linh-on-the-day", "me-linh-after", "town-before", "town-after"}
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.add_incidents(frame)
        assign_stale(store, real)
        study = cluster_study(store, real, GIA_LAM, FIRST, LAST)
        light = cluster_study(store, real, GIA_LAM, FIRST, LAST, judged=False)
        report = cluster_report(store, real, GIA_LAM, FIRST, LAST, hotspots=False)
        # Either side of the reform alone: one form each.
        before = cluster_study(store, real, GIA_LAM, FIRST, date(2025, 6, 30), judged=False)
        after = cluster_study(store, real, GIA_LAM, date(2025, 7, 1), LAST, judged=False)
    assert set(study.located["external_id"]) == counted
    assert light.located.equals(study.located)
    # The same incidents the review counts: those judged under the cluster's forms.
    assert study.incidents is not None
    assert set(study.incidents["external_id"]) == counted
    assert report.figures["cases"] == len(study.located) == 4
    assert set(before.located["external_id"]) == {"town-before"}
    assert set(after.located["external_id"]) == {
        "me-linh-on-the-day",
        "me-linh-after",
        "town-after",
    }
    # The study says which territory counted on which days.
    spans = [(s.form_id, s.first, s.last, s.fallback) for s in study.spans]
    assert spans == [
        ("gia-lam", FIRST, date(2025, 6, 30), False),
        (GIA_LAM, date(2025, 7, 1), LAST, False),
    ]
    # The study area (the grid's) is still the union of the territories of the forms in force.
    old, new = cluster_forms(real, GIA_LAM)
    assert study.area.equals(study_area([old, new]))


def test_a_lapsed_cluster_is_still_studied_in_its_newest_territory(
    real: Context, tmp_path: Path
) -> None:
    # The T11 cluster ran 2023-2024 in legacy wards, which have no polygons; its form carried
    # into the 2025 wards lapsed. On days no form with geometry is in force the newest
    # territory stands in, as before: its incidents at the bridge are still studied.
    frame = pd.DataFrame(
        [
            incident("bridge-2024", "2024-05-01", T11_BRIDGE),
            incident("bridge-2025", "2025-09-01", T11_BRIDGE),
            incident("gia-lam-2024", "2024-05-01", GIA_LAM_TOWN),
        ]
    )
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.add_incidents(frame)
        assign_stale(store, real)
        of_2024 = cluster_study(store, real, T11, date(2024, 1, 1), date(2024, 12, 31))
        both = cluster_study(store, real, T11, date(2024, 1, 1), date(2025, 12, 31))
    assert set(of_2024.located["external_id"]) == {"bridge-2024"}
    assert [(s.form_id, s.fallback) for s in of_2024.spans] == [(T11, True)]
    assert set(both.located["external_id"]) == {"bridge-2024", "bridge-2025"}
    assert [(s.form_id, s.first, s.last, s.fallback) for s in both.spans] == [
        (T11, date(2024, 1, 1), date(2025, 6, 30), True),
        (T11, date(2025, 7, 1), date(2025, 12, 31), False),
    ]


def test_a_cluster_that_ended_is_studied_over_its_own_last_year_by_default(
    real: Context, tmp_path: Path
) -> None:
    # Left open, a period is the 365 days ending today for a cluster in force, and its own
    # last year for one that ended (the legacy Gia Lâm to 2025-06-30, the T11 cluster's
    # regulation to 2024-12-31): not a year in which it did not exist, drawn on its map beside
    # incidents of its own period.
    today = vntime.today()
    year_to_today = (today - timedelta(days=364), today)
    assert cluster_study_period(real, "gia-lam") == (date(2024, 7, 1), date(2025, 6, 30))
    assert cluster_study_period(real, "hoa-do-phuc-vi") == (date(2024, 1, 2), date(2024, 12, 31))
    assert cluster_study_period(real, GIA_LAM) == year_to_today
    assert cluster_study_period(real, T11) == year_to_today
    # A first day given: to that last day, or to today when it is after it; a last day given
    # is kept.
    assert cluster_study_period(real, "gia-lam", date(2024, 3, 1)) == (
        date(2024, 3, 1),
        date(2025, 6, 30),
    )
    assert cluster_study_period(real, "gia-lam", date(2025, 9, 1)) == (date(2025, 9, 1), today)
    assert cluster_study_period(real, "gia-lam", end=date(2026, 1, 1)) == (
        date(2025, 1, 2),
        date(2026, 1, 1),
    )
    recent = (today - timedelta(days=10)).isoformat()
    frame = pd.DataFrame(
        [
            incident("town-2025-05", "2025-05-01", GIA_LAM_TOWN),
            incident("town-recent", recent, GIA_LAM_TOWN),
        ]
    )
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.add_incidents(frame)
        assign_stale(store, real)
        legacy = cluster_study(store, real, "gia-lam")
        carried = cluster_study(store, real, GIA_LAM)
    assert (legacy.start, legacy.end) == (date(2024, 7, 1), date(2025, 6, 30))
    assert set(legacy.located["external_id"]) == {"town-2025-05"}
    assert set(legacy.incidents["external_id"]) == {"town-2025-05"}
    assert (carried.start, carried.end) == year_to_today
    assert set(carried.located["external_id"]) == {"town-recent"}


# -- real SYNTHETIC incidents: the review and the study count the same ------------------------


@pytest.fixture(scope="module")
def sample(
    real: Context, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[IncidentStore, Context]]:
    frame = real_sample(
        real,
        20_000,
        1,
        datetime(2024, 7, 1, tzinfo=VIETNAM_TZ),
        datetime(2025, 12, 31, 23, 59, tzinfo=VIETNAM_TZ),
    )
    path = tmp_path_factory.mktemp("study") / "store.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        store.add_incidents(frame)
        assign_stale(store, real)
        link_stored(store, real, include_unfinished=False)
        yield store, real


def test_the_review_and_the_study_count_the_same_incidents(
    sample: tuple[IncidentStore, Context],
) -> None:
    store, context = sample
    study = cluster_study(store, context, GIA_LAM, FIRST, LAST)
    report = cluster_report(store, context, GIA_LAM, FIRST, LAST)
    assert study.incidents is not None
    located, judged = set(study.located["external_id"]), set(study.incidents["external_id"])
    # Every located incident is judged under the cluster; the review also counts those a
    # member detected outside every member's territory (rule outside_members), which no
    # territory holds. Some on either side of the reform.
    assert located <= judged and len(located) > 1_000
    outside = study.incidents[study.incidents["member_code"].isna()]
    assert set(outside["rule"]) <= {"outside_members", "outside_every_unit"}
    assert judged - located == set(outside["external_id"])
    days = study.located["occurred_at"].dt.date
    assert (days < date(2025, 7, 1)).any() and (days >= date(2025, 7, 1)).any()
    assert report.figures["cases"] == len(study.located) + len(outside)
    members = report.tables["by_member"]
    assert members.loc[members["member_kind"] == "unit", "in_territory"].sum() == len(located)
    # The hotspot note counts them too (those in a grid cell; any left out said so).
    result = study_hotspots(study)
    assert result.n_incidents + result.n_outside == len(study.located)
    (note,) = [n for n in report.notes if n.startswith("Điểm nóng Gi*: ")]
    assert f"; {result.n_incidents:,} incidents" in note
    # ... and says what it counts, in each language: the cluster as it stood on each date.
    vietnamese, english = note.split(" / Gi* hotspots: ")
    assert vietnamese.endswith(f" {STUDY_COUNT_BASIS[0]}.") and "incidents" not in vietnamese
    assert english.endswith(f" {STUDY_COUNT_BASIS[1]}.")


def test_where_every_judged_incident_is_located_the_counts_are_equal(
    sample: tuple[IncidentStore, Context],
) -> None:
    # 17 months across the reform in which no member detected an incident outside the
    # members' territory: the review and the study count the very same incidents.
    store, context = sample
    first = date(2024, 8, 1)
    study = cluster_study(store, context, GIA_LAM, first, LAST)
    report = cluster_report(store, context, GIA_LAM, first, LAST, hotspots=False)
    assert study.incidents is not None
    assert set(study.located["external_id"]) == set(study.incidents["external_id"])
    assert report.figures["cases"] == len(study.located) > 1_000
    assert study.located_events == study.events
