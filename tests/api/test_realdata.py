from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
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
from tests.fixtures.clusters import HAND_OVERS, T11_CONFIRMED


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
            "Không có quyết định chủ trì: Cụm liên kết Hoa - Đô - Phúc - Vị đảm bảo an ninh trật "
            "tự khu vực giáp ranh cầu T11 (hoa-do-phuc-vi) kết thúc" in lapsed["explanation_vi"]
        )
        assert (
            "No lead decision: Hoa–Đô–Phúc–Vị cluster for security and order in the T11 bridge "
            "border area (hoa-do-phuc-vi) ended on" in lapsed["explanation_en"]
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
def test_the_t11_cluster_in_its_own_units_says_why_it_has_no_map_and_names_detectors(
    built_settings: Settings, built_api_settings: ApiSettings, tmp_path: Path
) -> None:
    """An outside audit's cases: the index linked a map that answered "UnitLevelError", and a
    member given by its name ("Phường Nghĩa Đô", the API's own example "nghia-do") was judged
    a non-member that the sentence then listed as cooperating."""
    confirmed = load_context(
        built_settings,
        confirmations=[Confirmation("hoa-do-phuc-vi-vn2025", date(2025, 7, 1), "test")],
    )
    app = create_app(
        built_api_settings, context=confirmed, store_url=f"sqlite:///{tmp_path / 't.sqlite'}"
    )
    why = confirmed.why_undrawn(confirmed.territory("hoa-do-phuc-vi"))
    assert why is not None and "use its carried version: hoa-do-phuc-vi-vn2025" in why
    with TestClient(app) as client:
        index = client.get("/", headers={"Accept": "text/html"}).text
        assert 'href="http://testserver/maps/clusters/hoa-do-phuc-vi-vn2025"' in index
        assert 'href="http://testserver/maps/clusters/hoa-do-phuc-vi"' not in index
        assert why.replace("'", "&#39;") in index
        for page in ("/maps/clusters/hoa-do-phuc-vi", "/maps/planner/hoa-do-phuc-vi"):
            answer = client.get(page)
            assert answer.status_code == 400, (page, answer.text)
            assert answer.json()["detail"] == why
        decided = {}
        for given in ("00160", "Phường Nghĩa Đô", "nghia-do", "CA phường Nghĩa Đô"):
            located = client.get(
                "/locate",
                params={
                    "lon": 105.8079,
                    "lat": 21.0387,
                    "date": "2025-08-01",
                    "detected_by": given,
                },
            ).json()
            (t11,) = [c for c in located["clusters"] if c["cluster_id"] == "hoa-do-phuc-vi-vn2025"]
            decided[given] = (t11["rule"], t11["lead_unit"], t11["explanation_vi"])
        assert decided["00160"][:2] == ("border_detector", "00160")
        assert set(decided.values()) == {decided["00160"]}
        # At the bridge, on the new Nghĩa Đô – Ngọc Hà line (4 m), detected by a non-member:
        # on the boundary between those two, not Giảng Võ (196 m away, in the 200 m zone),
        # and in the zone of a pair of sides (the old districts), not at a junction.
        located = client.get(
            "/locate",
            params={"lon": 105.8064, "lat": 21.0387, "date": "2025-08-01", "detected_by": "xyz"},
        ).json()
        (t11,) = [c for c in located["clusters"] if c["cluster_id"] == "hoa-do-phuc-vi-vn2025"]
        assert t11["rule"] == "on_boundary" and t11["zone_kind"] == "pair"
        assert "00025" in t11["zone_units"]
        between = t11["explanation_en"].split("(within")[0]
        assert "Nghĩa Đô" in between and "Ngọc Hà" in between and "Giảng Võ" not in between
        # West Lake, in Tây Hồ, a partial member (4.5 % of it came from old Nghĩa Đô): led by
        # territory, but reviewed and said to maybe lie outside the part that signed.
        for lon, lat, code, partial in (
            (105.83, 21.06, "00103", True),
            (105.82, 21.035, "00008", False),
        ):
            located = client.get(
                "/locate",
                params={"lon": lon, "lat": lat, "date": "2025-08-03", "detected_by": code},
            ).json()
            (t11,) = [c for c in located["clusters"] if c["cluster_id"] == "hoa-do-phuc-vi-vn2025"]
            assert (t11["member_code"], t11["lead_unit"]) == (code, code)
            assert t11["review"] is partial
            assert ("partial member" in t11["explanation_en"]) is partial
            assert ("thành viên một phần" in t11["explanation_vi"]) is partial


@pytest.mark.realdata
def test_an_incident_before_its_cluster_s_regulation_is_said_so_not_silent(
    built_settings: Settings, built_api_settings: ApiSettings, tmp_path: Path
) -> None:
    """An outside audit's case: at the T11 bridge on 01/03/2023, before the regulation of
    26/05/2023, ``clusters`` was empty and nothing said why; /locate, the CLI's answer and the
    stored incident now say the cluster does not apply that day, with its period."""
    store_url = f"sqlite:///{tmp_path / 's.sqlite'}"
    key = create_key(store_url, "admin", "admin")
    app = create_app(built_api_settings, context=load_context(built_settings), store_url=store_url)
    with TestClient(app) as client:

        def notices(
            day: str, lon: float = 105.8064, lat: float = 21.0387, by: str = "nghia-do"
        ) -> list[str]:
            params = {"lon": lon, "lat": lat, "date": day, "detected_by": by}
            located = client.get("/locate", params=params).json()
            return [n for n in located["notices"] if "(hoa-do-phuc-vi)" in n]

        (before,) = notices("2023-03-01")
        assert before.startswith(
            "Cụm liên kết Hoa - Đô - Phúc - Vị đảm bảo an ninh trật tự khu vực giáp ranh cầu "
            "T11 (hoa-do-phuc-vi) không áp dụng ngày 01/03/2023"
        )
        # Named by its name in each language, its id in brackets (was its id alone).
        assert (
            "/ Hoa–Đô–Phúc–Vị cluster for security and order in the T11 bridge border area "
            "(hoa-do-phuc-vi) does not apply on 2023-03-01" in before
        )
        assert "it runs from 2023-05-26 to 2024-12-31 (inferred)" in before
        assert notices("2024-03-01") == []  # in its period: decided (no member geometry)
        (gap,) = notices("2025-03-01")  # after it ended, before the reorganisation
        assert "does not apply on 2025-03-01" in gap
        assert len(notices("2023-03-01", 108.2, 16.05)) == 1  # Đà Nẵng, detected by a member
        assert notices("2023-03-01", 108.2, 16.05, "00490") == []  # by a unit there: not ours
        assert len(notices("2023-03-01", by="")) == 1  # at the bridge, detector unknown
        posted = client.post(
            "/incidents",
            headers={"X-API-Key": key},
            json=[
                {
                    "external_id": "before-1",
                    "occurred_at": "2023-03-01T21:00:00+07:00",
                    "lon": 105.8064,
                    "lat": 21.0387,
                    "category": "theft",
                    "detected_by": "nghia-do",
                    "synthetic": True,
                }
            ],
        )
        assert posted.status_code in (200, 201), posted.text
        stored = client.get("/incidents/before-1", headers={"X-API-Key": key}).json()
        assert [c["cluster_id"] for c in stored["clusters"]] == []
        assert before in stored["notices"]


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


@pytest.mark.realdata
def test_exports_carry_the_decisions_the_api_gives_on_the_real_clusters(
    built_settings: Settings, built_api_settings: ApiSettings, tmp_path: Path
) -> None:
    """Synthetic incidents over the real clusters (T11 confirmed, Gia Lâm): every exported
    row's decision columns are the stored decisions (GET /incidents/{id}), those /locate
    gives for the same point, date and detector, and the OGC items' properties."""
    from datetime import datetime

    from geozone.incidents.io import write_incidents
    from geozone.incidents.pipeline import import_file
    from geozone.incidents.synthetic import generate_incidents
    from geozone.store import IncidentQuery, open_store
    from geozone.store.decisions import DECISION_COLUMNS, unit_namer
    from geozone.store.export import export_incidents
    from geozone.vntime import VIETNAM_TZ
    from tests.fixtures.exports import check_row, flag, read_back

    t11, gia_lam = "hoa-do-phuc-vi-vn2025", "gia-lam-vn2025"
    context = load_context(
        built_settings, confirmations=[Confirmation(t11, date(2025, 7, 1), "test")]
    )
    current = context.boundary_set("vn2025")
    frame = generate_incidents(
        3_000,
        16,
        boundaries=current,
        clusters=[t.cluster for t in context.territories if t.bset.id == current.id],
        start=datetime(2024, 1, 1, tzinfo=VIETNAM_TZ),
        end=datetime(2026, 6, 30, tzinfo=VIETNAM_TZ),
        legacy=context.boundary_set("vn-legacy-districts"),
    )
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    names = unit_namer(context)
    attribution = " | ".join(b.info.attribution for b in context.sets)
    with open_store(url) as store:
        import_file(store, write_incidents(frame, tmp_path / "in.parquet"), context)
        export_incidents(
            store, IncidentQuery(), tmp_path / "all.gpkg", names=names, attribution=attribution
        )
        export_incidents(
            store,
            IncidentQuery(cluster_id=gia_lam),
            tmp_path / "gia-lam.parquet",
            names=names,
            attribution=attribution,
        )
    table = read_back(tmp_path / "all.gpkg")
    decided = table[table["cluster_count"].astype(int) > 0]
    assert len(table) == 3_000 and len(decided) > 300
    assert {flag(v) for v in table["synthetic"]} == {True}
    assert set(table["attribution"]) == {attribution}
    keys = {"X-API-Key": create_key(url, "analyst", "analyst")}
    app = create_app(built_api_settings, context=context, store_url=url)
    by_cluster: dict[str, int] = {}
    with TestClient(app) as client:
        for row in decided.to_dict("records"):
            stored = client.get(f"/incidents/{row['external_id']}", headers=keys).json()
            check_row(row, stored["clusters"])
            for decision in stored["clusters"]:
                by_cluster[decision["cluster_id"]] = by_cluster.get(decision["cluster_id"], 0) + 1
            if int(row["cluster_count"]) == 1 and row["lead_unit"] is not None:
                assert row["lead_unit_name"] in row["explanation_vi"], row["external_id"]
        for row in decided.sample(60, random_state=3).to_dict("records"):
            when = datetime.fromisoformat(str(row["occurred_at"])).astimezone(VIETNAM_TZ)
            located = client.get(
                "/locate",
                params={
                    "lon": row["lon"],
                    "lat": row["lat"],
                    "date": when.date().isoformat(),
                    "detected_by": row["detected_by"] or "",
                },
            ).json()["clusters"]
            check_row(row, located)
        gia = read_back(tmp_path / "gia-lam.parquet")
        items = client.get(
            "/collections/incidents/items",
            params={"cluster_id": gia_lam, "limit": 10_000},
            headers=keys,
        ).json()["features"]
        assert len(items) == len(gia) == by_cluster[gia_lam] > 0
        served = {f["id"]: f["properties"] for f in items}
        for row in gia.to_dict("records"):
            assert {c: served[row["external_id"]][c] for c in DECISION_COLUMNS} == {
                c: (bool(row[c]) if c == "review" else row[c]) for c in DECISION_COLUMNS
            }
    assert by_cluster.get(t11, 0) > 0 and by_cluster.get("hoa-do-phuc-vi", 0) > 0


#: Real points around the T11 bridge, (lon, lat, date, detected_by): inside Nghĩa Đô far
#: from its lines, the bridge on the Nghĩa Đô – Ngọc Hà line (4 m), in the border zone on
#: either side (about 100 m from the old district line), the junction of Nghĩa Đô, Ngọc Hà
#: and Giảng Võ, the bridge and the Cầu Giấy – Ba Đình – Tây Hồ junction in the old
#: districts (2024), a Gia Lâm commune, a point at sea, and before the regulation (2023).
T11_POINTS = [
    (105.80, 21.045, "2025-08-01", None),
    (105.8064, 21.0387, "2025-08-01", "nghia-do"),
    (105.8075, 21.0387, "2025-08-01", "ngoc-ha"),
    (105.8055, 21.0387, "2025-08-01", "Phường Ngọc Hà"),
    (105.80627, 21.036937, "2025-08-01", None),
    (105.8064, 21.0387, "2024-05-01", "quan-hoa"),
    (105.80796, 21.046596, "2024-05-01", "xyz"),
    (105.94, 21.06, "2024-05-01", None),
    (107.5, 20.0, "2025-08-01", "00160"),
    (105.8064, 21.0387, "2023-03-01", "00157"),
]


@pytest.mark.realdata
def test_post_locate_answers_each_real_point_as_get_does(
    built_settings: Settings, built_api_settings: ApiSettings, tmp_path: Path
) -> None:
    """An outside audit's case: POST /locate gave ``candidates: []`` where GET /locate listed
    the holding ward. Each posted point now gets GET's answer, field by field, whether the
    carried T11 cluster lapsed (as committed) or was confirmed."""
    points = [
        {"lon": lon, "lat": lat, "date": day, "detected_by": detector}
        for lon, lat, day, detector in T11_POINTS
    ]
    contexts = {
        "lapsed": load_context(built_settings),
        "confirmed": load_context(built_settings, confirmations=list(T11_CONFIRMED.values())),
    }
    for name, context in contexts.items():
        app = create_app(
            built_api_settings, context=context, store_url=f"sqlite:///{tmp_path / name}.sqlite"
        )
        with TestClient(app) as client:
            posted = client.post("/locate", json=points).json()
            assert len(posted) == len(points)
            for point, answer in zip(points, posted, strict=True):
                params = {key: value for key, value in point.items() if value is not None}
                expected = client.get("/locate", params=params).json()
                for field in expected:
                    assert answer.get(field) == expected[field], (name, field, point)
                assert sorted(answer) == sorted(expected), (name, point)
    inside, bridge = posted[:2]
    assert [c["code"] for c in inside["candidates"]] == ["00160"]
    assert [c["code"] for c in bridge["candidates"]] == ["00160", "00008"]
    assert [c["code"] for c in posted[4]["candidates"]] == ["00008", "00025", "00160"]


@pytest.mark.realdata
def test_a_2015_incident_in_tu_son_says_the_legacy_set_is_a_2023_snapshot(
    built_settings: Settings, built_api_settings: ApiSettings, tmp_path: Path
) -> None:
    """GET and POST /locate, and the stored incident, say that a 2015 answer in Từ Sơn
    ("Thành phố Từ Sơn", a city only since 2021) rests on a snapshot of about 02/2023; an
    answer on the 2025 units (2025-08-01) says nothing of the kind."""
    from tests.fixtures.snapshot import LEGACY_SNAPSHOT_NOTICE, TU_SON

    store_url = f"sqlite:///{tmp_path / 's.sqlite'}"
    key = create_key(store_url, "admin", "admin")
    app = create_app(built_api_settings, context=load_context(built_settings), store_url=store_url)
    lon, lat = TU_SON
    with TestClient(app) as client:
        got = client.get("/locate", params={"lon": lon, "lat": lat, "date": "2015-06-01"}).json()
        assert got["unit"]["full_name"] == "Thành phố Từ Sơn"
        assert got["notices"] == [LEGACY_SNAPSHOT_NOTICE]
        now = client.get("/locate", params={"lon": lon, "lat": lat, "date": "2025-08-01"}).json()
        assert now["set_id"] == "vn2025" and now["notices"] == []
        posted = client.post(
            "/locate",
            json=[
                {"lon": lon, "lat": lat, "date": "2015-06-01"},
                {"lon": lon, "lat": lat, "date": "2025-08-01"},
            ],
        ).json()
        assert posted == [got, now]
        stored = client.post(
            "/incidents",
            headers={"X-API-Key": key},
            json=[
                {
                    "external_id": f"tu-son-{day[:4]}",
                    "occurred_at": f"{day}T21:00:00+07:00",
                    "lon": lon,
                    "lat": lat,
                    "category": "theft",
                    "synthetic": True,
                }
                for day in ("2015-06-01", "2025-08-01")
            ],
        )
        assert stored.status_code in (200, 201), stored.text
        old = client.get("/incidents/tu-son-2015", headers={"X-API-Key": key}).json()
        assert old["assignment"]["set_id"] == "vn-legacy-districts"
        assert old["notices"] == [LEGACY_SNAPSHOT_NOTICE]
        new = client.get("/incidents/tu-son-2025", headers={"X-API-Key": key}).json()
        assert new["notices"] == []
        # The OGC item of the incident says what GET /incidents/{id} says.
        for external_id, said in (("tu-son-2015", old), ("tu-son-2025", new)):
            item = client.get(
                f"/collections/incidents/items/{external_id}", headers={"X-API-Key": key}
            ).json()
            assert item["notices"] == said["notices"], external_id
        # A list or page says it once, for its rows judged on the snapshot for another day:
        # GET /incidents, the OGC items page and `geozone incidents list` alike.
        auth = {"X-API-Key": key}
        periods = {
            "2015": ("2015-01-01T00:00:00+07:00", "2016-01-01T00:00:00+07:00"),
            "2025": ("2025-07-01T00:00:00+07:00", "2026-01-01T00:00:00+07:00"),
            "both": ("2015-01-01T00:00:00+07:00", "2026-01-01T00:00:00+07:00"),
        }
        expected = {"2015": [LEGACY_SNAPSHOT_NOTICE], "2025": [], "both": [LEGACY_SNAPSHOT_NOTICE]}
        for name, (first, end) in periods.items():
            page = client.get("/incidents", params={"start": first, "end": end}, headers=auth)
            assert page.status_code == 200, page.text
            assert page.json()["numberReturned"] == (2 if name == "both" else 1), name
            assert page.json()["notices"] == expected[name], name
            items = client.get(
                "/collections/incidents/items",
                params={"datetime": f"{first}/{end}"},
                headers=auth,
            )
            assert items.status_code == 200, items.text
            assert items.json()["notices"] == expected[name], name
            listed = listed_notices(built_settings, store_url, "list", first, end)
            assert listed == expected[name], name
            exported = tmp_path / f"{name}.parquet"
            said = listed_notices(
                built_settings, store_url, "export", first[:10], end[:10], "-o", str(exported)
            )
            assert said == expected[name], name
            kept = pq.read_schema(exported).metadata.get(b"geozone:notices", b"[]")
            assert json.loads(kept) == expected[name], name
        # The analyses of a legacy cluster over 2015 rest on the snapshot too; over a period
        # of the 2025 units (the carried form) they do not.
        for path in ("hotspots", "border-effect"):
            year = {"from": "2015-01-01", "to": "2015-12-31"}
            answer = client.get(f"/clusters/gia-lam/{path}", params=year, headers=auth)
            assert answer.status_code == 200, answer.text
            assert answer.json()["notices"] == [LEGACY_SNAPSHOT_NOTICE], path
            later = {"from": "2025-07-01", "to": "2025-12-31"}
            answer = client.get(f"/clusters/gia-lam-vn2025/{path}", params=later, headers=auth)
            assert answer.status_code == 200, answer.text
            assert answer.json()["notices"] == [], path
        sets = {s["id"]: s for s in client.get("/sets").json()}
        assert sets["vn-legacy-districts"]["as_of"] == "2023-02"
        assert sets["vn2025"]["as_of"] is None


@pytest.mark.realdata
def test_a_cluster_that_ended_answers_its_own_last_year_by_default(
    built_settings: Settings, built_api_settings: ApiSettings, tmp_path: Path
) -> None:
    """The hotspots of the legacy Gia Lâm cluster (to 2025-06-30), its map's review link and
    the OGC collection's extent default to its own last year, not to a year after it ended;
    its carried form (in force) to the 365 days ending today."""
    from datetime import timedelta

    from geozone import vntime

    store_url = f"sqlite:///{tmp_path / 's.sqlite'}"
    key = create_key(store_url, "admin", "admin")
    app = create_app(built_api_settings, context=load_context(built_settings), store_url=store_url)
    today = vntime.today()
    with TestClient(app) as client:
        auth = {"X-API-Key": key}
        legacy = client.get("/clusters/gia-lam/hotspots", headers=auth)
        assert legacy.status_code == 200, legacy.text
        said = legacy.json()["properties"]
        assert (said["from"], said["to"]) == ("2024-07-01", "2025-06-30")
        carried = client.get("/clusters/gia-lam-vn2025/hotspots", headers=auth).json()
        assert carried["properties"]["to"] == today.isoformat()
        asked = client.get(
            "/clusters/gia-lam/hotspots", params={"from": "2025-09-01"}, headers=auth
        )
        assert (asked.json()["properties"]["from"], asked.json()["properties"]["to"]) == (
            "2025-09-01",
            today.isoformat(),
        )
        page = client.get("/maps/reports/gia-lam")
        assert "/clusters/gia-lam/report?from=2024-07-01&to=2025-06-30" in page.text
        extent = client.get("/collections/hotspots").json()["extent"]["temporal"]["interval"]
        # The T11 cluster's regulation ended on 2024-12-31: its last year is the first.
        assert extent == [["2024-01-02", today.isoformat()]]
        assert today - timedelta(days=364) > date(2025, 6, 30)  # the two periods do differ


def listed_notices(
    settings: Settings, store_url: str, command: str, start: str, end: str, *more: str
) -> list[str]:
    """The notices of ``geozone incidents list|export --json`` over a period, on the built sets."""
    from typer.testing import CliRunner

    from geozone import cli
    from geozone.settings import get_settings

    get_settings.cache_clear()
    try:
        listed = CliRunner().invoke(
            cli.app,
            [
                *("incidents", command, "--store", store_url),
                *("--start", start, "--end", end, "--json", *more),
            ],
            env={"GEOZONE_CACHE_DIR": str(settings.cache_dir)},
        )
    finally:
        get_settings.cache_clear()
    assert listed.exit_code == 0, listed.output
    notices: list[str] = json.loads(listed.stdout)["notices"]
    return notices


@pytest.mark.realdata
def test_locate_hands_over_to_the_unit_at_the_members_level(
    built_settings: Settings, built_api_settings: ApiSettings, tmp_path: Path
) -> None:
    """An outside audit's case: a point in Kiên Giang outside both members of the Cần Thơ –
    An Giang cluster was handed over to Huyện Giồng Riềng; a province's police hands over
    to the province's. GET /locate, each point of POST /locate and the stored decision
    (GET /incidents/{id}) give the known lead unit of every case."""
    store_url = f"sqlite:///{tmp_path / 's.sqlite'}"
    key = {"X-API-Key": create_key(store_url, "admin", "admin")}
    context = load_context(built_settings, confirmations=list(T11_CONFIRMED.values()))
    app = create_app(built_api_settings, context=context, store_url=store_url)
    points = [
        {"lon": c.lon, "lat": c.lat, "date": c.day, "detected_by": c.detected_by}
        for c in HAND_OVERS
    ]
    with TestClient(app) as client:
        posted = client.post("/locate", json=points).json()
        stored = client.post(
            "/incidents",
            headers=key,
            json=[
                {
                    "external_id": f"hand-{i}",
                    "occurred_at": f"{c.day}T21:00:00+07:00",
                    "lon": c.lon,
                    "lat": c.lat,
                    "category": "theft",
                    "detected_by": c.detected_by,
                    "synthetic": True,
                }
                for i, c in enumerate(HAND_OVERS)
            ],
        )
        assert stored.status_code in (200, 201), stored.text
        for i, (case, point, in_batch) in enumerate(zip(HAND_OVERS, points, posted, strict=True)):
            located = client.get("/locate", params=point).json()
            assert in_batch == located, case
            assert located["unit"]["code"] == case.unit
            (row,) = [c for c in located["clusters"] if c["cluster_id"] == case.cluster]
            assert (row["rule"], row["lead_unit"]) == (case.rule, case.lead_unit), case
            incident = client.get(f"/incidents/hand-{i}", headers=key).json()
            (kept,) = [c for c in incident["clusters"] if c["cluster_id"] == case.cluster]
            assert {k: kept[k] for k in ("rule", "lead_unit", "explanation_vi")} == {
                k: row[k] for k in ("rule", "lead_unit", "explanation_vi")
            }
    kien_giang = posted[0]["clusters"]
    (row,) = [c for c in kien_giang if c["cluster_id"] == "can-tho-an-giang"]
    assert row["explanation_vi"].startswith(
        "Vụ việc ngoài địa bàn các thành viên, thuộc Huyện Giồng Riềng (906), Tỉnh Kiên Giang "
        "(91); thành viên Thành phố Cần Thơ phát hiện và bàn giao cho Công an tỉnh Kiên Giang "
        "(91), công an cấp tỉnh nơi xảy ra."
    )
