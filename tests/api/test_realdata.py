from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import create_key
from api.schemas import CLUSTER_EXAMPLE
from api.settings import ApiSettings
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.model import Confirmation
from geozone.context import load_context
from geozone.settings import Settings


@pytest.mark.realdata
def test_t11_bridge_and_neighbours_on_vn2025(
    built_settings: Settings, built_api_settings: ApiSettings, tmp_path: Path
) -> None:
    context = load_context(built_settings)
    app = create_app(
        built_api_settings, context=context, store_url=f"sqlite:///{tmp_path / 's.sqlite'}"
    )
    with TestClient(app) as client:
        located = client.get(
            "/locate", params={"lon": 105.8064, "lat": 21.0387, "detected_by": "nghia-do"}
        ).json()
        assert located["set_id"] == "vn2025" and located["on_boundary"] is True
        assert {c["code"] for c in located["candidates"]} == {"00160", "00008"}
        # The T11 cluster ended in 2024 (inferred), before the reform: its carried form makes
        # no decision until a planner confirms it, and /locate says so.
        (lapsed,) = [c for c in located["clusters"] if c["cluster_id"] == "hoa-do-phuc-vi-vn2025"]
        assert lapsed["rule"] == "no_decision" and lapsed["lead_unit"] is None
        assert lapsed["explanation_vi"].startswith("Vụ việc thuộc Phường Nghĩa Đô")
        assert (
            "Không có quyết định chủ trì: cụm hoa-do-phuc-vi kết thúc" in lapsed["explanation_vi"]
        )
        near = client.get("/units/00160/neighbours").json()
        assert {"00008", "00166", "00103"} <= {u["code"] for u in near}
        found = client.get("/units", params={"q": "Nghĩa Đô", "level": "ward"}).json()
        assert found["units"][0]["code"] == "00160"
    confirmed = load_context(
        built_settings,
        confirmations=[Confirmation("hoa-do-phuc-vi-vn2025", date(2025, 7, 1), "test")],
    )
    app = create_app(
        built_api_settings, context=confirmed, store_url=f"sqlite:///{tmp_path / 't.sqlite'}"
    )
    with TestClient(app) as client:
        located = client.get(
            "/locate", params={"lon": 105.8064, "lat": 21.0387, "detected_by": "00160"}
        ).json()
        (t11,) = [c for c in located["clusters"] if c["cluster_id"] == "hoa-do-phuc-vi-vn2025"]
        assert t11["rule"] == "border_detector" and t11["lead_unit"] == "00160"
        assert "đã được xác nhận áp dụng từ 01/07/2025" in t11["explanation_vi"]


@pytest.mark.realdata
def test_planners_define_clusters_on_the_real_units(
    built_settings: Settings, built_api_settings: ApiSettings, legacy: BoundarySet, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path / 's.sqlite'}"
    key = create_key(store_url, "planner", "planner")
    context = load_context(built_settings)
    app = create_app(built_api_settings, context=context, store_url=store_url)
    with TestClient(app) as client:
        headers = {"X-API-Key": key}
        created = client.post("/clusters", json=CLUSTER_EXAMPLE, headers=headers)
        assert created.status_code == 201, created.text
        assert [p["id"] for p in created.json()["placed"]] == ["nghia-do-ngoc-ha"]
        zones = client.get("/clusters/nghia-do-ngoc-ha/zones").json()["features"]
        assert {f["properties"]["zone_id"] for f in zones} == {"00008-00160"}
        # a cluster named in the pre-2025 districts is also carried into the 2025 wards
        codes = {
            name: legacy.search(name, "district", limit=1)[0].unit.code
            for name in ("Quận Ba Đình", "Quận Cầu Giấy")
        }
        body = {
            "id": "ba-dinh-cau-giay",
            "name": "Cụm Ba Đình – Cầu Giấy",
            "name_en": "Ba Đình–Cầu Giấy cluster",
            "boundary_set": "vn-legacy-districts",
            "level": "district",
            "members": [
                {
                    "id": "ba-dinh",
                    "kind": "unit",
                    "unit_code": codes["Quận Ba Đình"],
                    "name": "Ba Đình",
                },
                {
                    "id": "cau-giay",
                    "kind": "unit",
                    "unit_code": codes["Quận Cầu Giấy"],
                    "name": "Cầu Giấy",
                },
            ],
        }
        carried = client.post("/clusters", json=body, headers=headers)
        assert carried.status_code == 201, carried.text
        placed = {p["id"]: p for p in carried.json()["placed"]}
        assert set(placed) == {"ba-dinh-cau-giay", "ba-dinh-cau-giay-vn2025"}
        assert placed["ba-dinh-cau-giay-vn2025"]["editable"] is False
        new_wards = {m["code"] for m in placed["ba-dinh-cau-giay-vn2025"]["members"]}
        assert {"00160", "00008"} <= new_wards  # Nghĩa Đô and Ngọc Hà took parts of both
        refused = client.put("/clusters/ba-dinh-cau-giay-vn2025", json=body, headers=headers)
        assert refused.status_code == 409 and "PUT /clusters/ba-dinh-cau-giay" in refused.text
        # the committed T11 cluster and its carried version are read-only
        t11 = {**CLUSTER_EXAMPLE, "id": "hoa-do-phuc-vi-vn2025"}
        assert client.post("/clusters", json=t11, headers=headers).status_code == 409


@pytest.mark.realdata
def test_planners_confirm_a_carried_cluster_and_withdraw_it(
    built_settings: Settings, built_api_settings: ApiSettings, tmp_path: Path
) -> None:
    t11 = "hoa-do-phuc-vi-vn2025"
    store_url = f"sqlite:///{tmp_path / 's.sqlite'}"
    keys = {role: create_key(store_url, role, role) for role in ("analyst", "planner")}
    planner, analyst = {"X-API-Key": keys["planner"]}, {"X-API-Key": keys["analyst"]}
    app = create_app(built_api_settings, context=load_context(built_settings), store_url=store_url)
    bridge = {
        "external_id": "t11-bridge",
        "occurred_at": "2025-08-01T21:00:00+07:00",
        "lon": 105.8064,
        "lat": 21.0387,
        "category": "theft",
        "detected_by": "00160",
    }

    def t11_decision() -> dict[str, object] | None:
        got = client.get("/incidents/t11-bridge", headers=analyst).json()
        found = [c for c in got["clusters"] if c["cluster_id"] == t11]
        return found[0] if found else None

    def finished(job: dict[str, object]) -> dict[str, object]:
        done = client.get(f"/jobs/{job['id']}", headers=planner).json()
        assert done["status"] == "done", done
        return done

    with TestClient(app) as client:
        assert client.post("/incidents", json=[bridge], headers=planner).status_code == 200
        lapsed = t11_decision()  # the original ended in 2024: no lead, and it says why
        assert lapsed is not None and lapsed["rule"] == "no_decision"
        assert lapsed["lead_unit"] is None and lapsed["review"] is True
        assert "hoa-do-phuc-vi-vn2025 --from DATE" in str(lapsed["explanation_en"])
        early = client.post(
            f"/clusters/{t11}/confirm", json={"from": "2025-06-30"}, headers=planner
        )
        assert early.status_code == 400 and "2025-07-01 at the earliest" in early.text
        unknown = client.post(
            "/clusters/hoa-do-phuc-vi/confirm", json={"from": "2025-07-01"}, headers=planner
        )
        assert unknown.status_code == 404 and t11 in unknown.text  # names the carried ones
        denied = client.post(
            f"/clusters/{t11}/confirm", json={"from": "2025-07-01"}, headers=analyst
        )
        assert denied.status_code == 403

        confirmed = client.post(
            f"/clusters/{t11}/confirm",
            json={"from": "2025-07-01", "note": "họp 7/2025"},
            headers=planner,
        )
        assert confirmed.status_code == 200, confirmed.text
        body = confirmed.json()
        assert body["cluster"]["carry_status"] == "confirmed"
        assert body["cluster"]["confirmed_from"] == "2025-07-01"
        assert body["confirmation"]["by"] == "planner"
        assert finished(body["reassign_job"])["report"]["assigned"] == 1
        decision = t11_decision()
        assert decision is not None and decision["lead_unit"] == "00160"
        assert "đã được xác nhận áp dụng từ 01/07/2025" in str(decision["explanation_vi"])
        listed = {c["id"]: c for c in client.get("/clusters").json()}
        assert listed[t11]["carry_status"] == "confirmed"

        withdrawn = client.delete(f"/clusters/{t11}/confirm", headers=planner)
        assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn"] is True
        assert withdrawn.json()["cluster"]["carry_status"] == "lapsed"
        finished(withdrawn.json()["reassign_job"])
        assert t11_decision() == lapsed
        again = client.delete(f"/clusters/{t11}/confirm", headers=planner)
        assert again.status_code == 200 and again.json()["withdrawn"] is False
