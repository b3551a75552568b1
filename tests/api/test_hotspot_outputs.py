"""The same data and parameters give the same hotspot cells in every output (real T11 data).

The store holds SYNTHETIC incidents as the demo makes them (``geozone serve``): clustered at
the T11 bridge and along the members' boundaries, dated after the reform. The carried T11
cluster is not confirmed (it lapsed: the original ended in 2024), so it decides nothing, yet
its territory is studied: hotspots count what lies in the cells.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import create_key
from api.settings import ApiSettings
from geozone.analysis.study import cluster_study, study_hotspots
from geozone.context import Context, load_context
from geozone.incidents.synthetic import generate_incidents
from geozone.labels import STUDY_COUNT_BASIS, STUDY_COUNT_BASIS_TEXT
from geozone.report import cluster_report
from geozone.settings import Settings
from geozone.store import open_store
from geozone.vntime import VIETNAM_TZ
from maps.analytics_layers import cluster_analytics

pytestmark = pytest.mark.realdata

T11 = "hoa-do-phuc-vi-vn2025"
BRIDGE = shapely.Point(105.8064, 21.0387)
FIRST, LAST = date(2025, 7, 1), date(2025, 12, 31)


@pytest.fixture(scope="module")
def demo(
    built_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiSettings, Context, str]]:
    folder = tmp_path_factory.mktemp("hotspots")
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    settings = ApiSettings(**{**built_settings.model_dump(), "store_url": store_url})
    context = load_context(settings)
    t11 = context.territory(T11)
    assert not t11.decides
    incidents = generate_incidents(
        3_000,
        7,
        boundaries=t11.bset,
        clusters=[t11.cluster],
        start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
        end=datetime(2025, 12, 31, 23, tzinfo=VIETNAM_TZ),
    )
    with open_store(store_url, settings=settings) as store:
        store.add_incidents(incidents)
    yield settings, context, store_url


def _hot(cells: Any) -> set[str]:
    significant = cells[cells["significant"].astype(bool)]
    return set(significant.loc[significant["kind"] == "hot", "cell_id"])


def test_every_output_shows_the_same_cells_and_the_bridge_is_hot(
    demo: tuple[ApiSettings, Context, str],
) -> None:
    settings, context, store_url = demo
    with open_store(store_url, settings=settings) as store:
        study = cluster_study(store, context, T11, FIRST, LAST)
        core = study_hotspots(study)
        light = cluster_study(store, context, T11, FIRST, LAST, judged=False)  # the layers' read
        report = cluster_report(store, context, T11, FIRST, LAST)
        standalone = cluster_analytics(store, context, T11, FIRST, LAST)
    assert light.incidents is None and light.events is None
    assert study.incidents is not None  # none judged: T11's 2025 form is lapsed
    assert light.located.equals(study.located) and light.located_events == study.located_events
    hot = _hot(core.cells)
    bridge_cell = core.cells[core.cells.geometry.contains(BRIDGE)]["cell_id"].iloc[0]
    assert bridge_cell in hot and core.permutations == 9_999
    assert _hot(report.layers["hotspot_cells"]) == hot
    standalone_hot = {
        f["properties"]["cell_id"]
        for f in standalone.gi["features"]
        if f["properties"]["kind"] == "hot"
    }
    assert standalone_hot == hot
    key = create_key(store_url, "planner-hotspots", "planner")
    app = create_app(settings, context=context, store_url=store_url)
    with TestClient(app) as client:
        headers = {"X-API-Key": key}
        period = {"from": FIRST.isoformat(), "to": LAST.isoformat()}
        served = client.get(
            f"/clusters/{T11}/hotspots",
            params={**period, "significant_only": "true"},
            headers=headers,
        ).json()
        served_hot = {
            f["properties"]["cell_id"]
            for f in served["features"]
            if f["properties"]["kind"] == "hot"
        }
        assert served_hot == hot
        # What the counts count, said where they are given (the one phrase of the catalogue).
        assert served["properties"]["count_basis"] == STUDY_COUNT_BASIS_TEXT
        assert standalone.gi["properties"]["count_basis"] == STUDY_COUNT_BASIS_TEXT
        (note,) = [n for n in report.notes if n.startswith("Điểm nóng Gi*: ")]
        assert f"{STUDY_COUNT_BASIS[0]}. / Gi* hotspots: " in note
        assert note.endswith(f" {STUDY_COUNT_BASIS[1]}.")
        ogc = client.get(
            "/collections/hotspots/items",
            params={"cluster": T11, "datetime": f"{FIRST}T00:00:00Z/{LAST}T23:59:59Z"},
            headers=headers,
        ).json()
        assert {f["properties"]["cell_id"] for f in ogc["features"]} == _significant(core)
        assert {f["properties"]["count_basis"] for f in ogc["features"]} == {STUDY_COUNT_BASIS_TEXT}
        suggested = client.get(
            f"/clusters/{T11}/patrol-suggestions", params=period, headers=headers
        ).json()
        assert suggested["properties"]["n_hot"] == len(hot)
        square = shapely.geometry.mapping(BRIDGE.buffer(0.002))
        covered = client.post(
            f"/clusters/{T11}/coverage", params=period, json=square, headers=headers
        ).json()
        assert covered["hotspot_status"] == "tested" and covered["hot_cells_share"] > 0
        assert covered["count_basis"] == STUDY_COUNT_BASIS_TEXT
        assert suggested["properties"]["count_basis"] == STUDY_COUNT_BASIS_TEXT


def _significant(result: Any) -> set[str]:
    cells = result.cells
    return set(cells.loc[cells["significant"].astype(bool), "cell_id"])
