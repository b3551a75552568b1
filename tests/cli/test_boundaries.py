"""``geozone locate`` gives the API's answer: the same JSON as ``GET /locate`` and as the
point's answer in ``POST /locate``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.settings import ApiSettings
from geozone import cli
from geozone.context import load_context
from geozone.settings import Settings, get_settings
from tests.fixtures.clusters import HAND_OVERS
from tests.fixtures.snapshot import LEGACY_SNAPSHOT_NOTICE, TU_SON

runner = CliRunner()

#: (lon, lat, date, detected_by): the T11 bridge before and after the reform (the carried
#: cluster lapsed, unconfirmed), a Gia Lâm commune, a point at sea, and Từ Sơn in 2015 (on
#: the legacy set's snapshot of about 02/2023: a notice says so).
POINTS = [
    (105.8064, 21.0387, "2025-08-01", "00160"),
    (105.8064, 21.0387, "2024-05-01", "00169"),
    (105.8064, 21.0387, "2025-08-01", None),
    (105.9400, 21.0600, "2024-05-01", None),
    (107.5, 20.0, "2025-08-01", "00160"),
    (*TU_SON, "2015-06-01", None),
]


@pytest.fixture
def real_cache(
    built_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(built_settings.cache_dir))
    monkeypatch.setenv("GEOZONE_STORE_URL", f"sqlite:///{tmp_path / 'none.sqlite'}")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_locate_answers_as_the_api_does(built_settings: Settings, tmp_path: Path) -> None:
    app = create_app(
        ApiSettings(**built_settings.model_dump()),
        context=load_context(built_settings),
        store_url=f"sqlite:///{tmp_path / 'api.sqlite'}",
    )
    with TestClient(app) as client:
        batch = [{"lon": p[0], "lat": p[1], "date": p[2], "detected_by": p[3]} for p in POINTS]
        posted = client.post("/locate", json=batch).json()
        for (lon, lat, day, detector), in_batch in zip(POINTS, posted, strict=True):
            args = ["locate", str(lon), str(lat), "--date", day, "--json"]
            params: dict[str, object] = {"lon": lon, "lat": lat, "date": day}
            if detector is not None:
                args += ["--detected-by", detector]
                params["detected_by"] = detector
            result = runner.invoke(cli.app, args)
            assert result.exit_code == 0, result.output
            assert json.loads(result.output) == client.get("/locate", params=params).json()
            assert json.loads(result.output) == in_batch  # and each point of POST /locate
        # The lapsed T11 cluster is named with its reason, in text too.
        result = runner.invoke(cli.app, ["locate", "105.8064", "21.0387", "--date", "2025-08-01"])
        lines = result.output.splitlines()
        assert lines[0].startswith("In Phường Nghĩa Đô, Thành phố Hà Nội (vn2025)")
        assert lines[1].startswith("hoa-do-phuc-vi-vn2025: Cụm chưa áp dụng – không có quyết định")
        assert "cầu T11 (hoa-do-phuc-vi) kết thúc ngày 31/12/2024" in result.output


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_locate_names_the_lead_unit_in_text() -> None:
    """The summary line names the lead unit, its code in brackets (was the code alone)."""
    result = runner.invoke(cli.app, ["locate", "105.93", "21.03", "--date", "2020-01-01"])
    assert result.exit_code == 0, result.output
    line = result.output.splitlines()[1]
    assert line.startswith("gia-lam: ")
    assert line.endswith("chủ trì / lead: Quận Long Biên (004)")


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_locate_hands_over_to_the_province_as_the_api_does(
    built_settings: Settings, tmp_path: Path
) -> None:
    """Kiên Giang, outside both provinces of the Cần Thơ – An Giang cluster: the police of
    Tỉnh Kiên Giang receives it (was Huyện Giồng Riềng), in the JSON as GET /locate gives it
    and in the text line."""
    case = HAND_OVERS[0]
    args = ["locate", str(case.lon), str(case.lat), "--date", case.day]
    args += ["--detected-by", case.detected_by]
    app = create_app(
        ApiSettings(**built_settings.model_dump()),
        context=load_context(built_settings),
        store_url=f"sqlite:///{tmp_path / 'api.sqlite'}",
    )
    params = {"lon": case.lon, "lat": case.lat, "date": case.day, "detected_by": "92"}
    with TestClient(app) as client:
        expected = client.get("/locate", params=params).json()
    result = runner.invoke(cli.app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == expected
    (row,) = [c for c in expected["clusters"] if c["cluster_id"] == case.cluster]
    assert row["lead_unit"] == "91"
    result = runner.invoke(cli.app, args)
    line = next(x for x in result.output.splitlines() if x.startswith(f"{case.cluster}: "))
    assert line.endswith("chủ trì / lead: Tỉnh Kiên Giang (91)")


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_locate_in_a_named_set_says_clusters_were_not_judged() -> None:
    args = ["locate", "105.8064", "21.0387", "--date", "2025-08-01"]
    result = runner.invoke(cli.app, [*args, "--set", "vn-legacy-districts", "--json"])
    located = json.loads(result.output)
    assert located["set_id"] == "vn-legacy-districts" and located["clusters"] is None
    assert located["note"].startswith("clusters not judged: vn-legacy-districts is not the set")


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_locate_in_2015_says_the_legacy_set_is_a_2023_snapshot() -> None:
    """Từ Sơn on 2015-06-01 is named "Thành phố Từ Sơn" (a city only since 2021) by the
    legacy set, a snapshot of about 02/2023: the JSON and the text say so; on 2025-08-01
    (vn2025) neither does; a date of the snapshot's month needs nothing."""
    lon, lat = (str(v) for v in TU_SON)
    result = runner.invoke(cli.app, ["locate", lon, lat, "--date", "2015-06-01", "--json"])
    assert result.exit_code == 0, result.output
    located = json.loads(result.output)
    assert located["unit"]["full_name"] == "Thành phố Từ Sơn"
    assert located["notices"] == [LEGACY_SNAPSHOT_NOTICE]
    text = runner.invoke(cli.app, ["locate", lon, lat, "--date", "2015-06-01"]).output
    assert text.startswith("In Thành phố Từ Sơn, Tỉnh Bắc Ninh (vn-legacy-districts)")
    assert LEGACY_SNAPSHOT_NOTICE in text.replace("\n", " ")
    for day in ("2025-08-01", "2023-02-15"):
        result = runner.invoke(cli.app, ["locate", lon, lat, "--date", day, "--json"])
        assert json.loads(result.output)["notices"] == [], day
        text = runner.invoke(cli.app, ["locate", lon, lat, "--date", day]).output
        assert "snapshot" not in text, day
    # The legacy set asked for by name on a day of the 2025 units: its units are the snapshot's.
    args = ["locate", lon, lat, "--date", "2025-08-01", "--set", "vn-legacy-districts"]
    named = json.loads(runner.invoke(cli.app, [*args, "--json"]).output)
    assert named["clusters"] is None and named["notices"] == [LEGACY_SNAPSHOT_NOTICE]


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_units_named_for_a_date_say_the_legacy_set_is_a_2023_snapshot() -> None:
    """``units show|search --date 2015-06-01`` name Từ Sơn as the 2023 snapshot has it."""
    shown = json.loads(
        runner.invoke(cli.app, ["units", "show", "261", "--date", "2015-06-01", "--json"]).output
    )
    assert shown["unit"]["full_name"] == "Thành phố Từ Sơn"
    assert shown["notices"] == [LEGACY_SNAPSHOT_NOTICE]
    found = runner.invoke(cli.app, ["units", "search", "tu son", "--date", "2015-06-01"])
    assert "Thành phố Từ Sơn" in found.output
    assert LEGACY_SNAPSHOT_NOTICE in found.output.replace("\n", " ")
    for args in (["--date", "2023-02-15"], ["--set", "vn-legacy-districts"]):
        shown = json.loads(runner.invoke(cli.app, ["units", "show", "261", *args, "--json"]).output)
        assert shown["notices"] == [], args
