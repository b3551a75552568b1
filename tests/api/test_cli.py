"""The web-facing commands of api/cli.py: ``geozone map cluster`` (standalone HTML maps)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from html import escape as html_escape
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api import cli
from api.auth_store import KeyStore
from api.schemas import CLUSTER_EXAMPLE
from geozone import cli as geozone_cli
from geozone.context import load_context
from geozone.errors import DataNotFoundError
from geozone.incidents.pipeline import assign_stale, link_stored
from geozone.incidents.synthetic import generate_incidents
from geozone.labels import SYNTHETIC_BANNER as SYNTHETIC_BADGE
from geozone.settings import Settings, get_settings
from geozone.store import IncidentQuery, open_store
from geozone.store.planner import PlannerStore
from geozone.text import format_number
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.clusters import T11_CONFIRMED
from tests.fixtures.pages import incident_tables, needs_assets, unpack
from tests.fixtures.snapshot import LEGACY_SNAPSHOT_NOTICE

runner = CliRunner()
T11 = "hoa-do-phuc-vi-vn2025"


@pytest.fixture
def store_url(
    built_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The real boundaries and a store holding 300 SYNTHETIC T11 incidents, assigned.

    A planner has confirmed the carried T11 cluster from 2025-07-01 in that store (without
    it the carried form lapses: the original ended in 2024).
    """
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(built_settings.cache_dir))
    monkeypatch.setenv("GEOZONE_STORE_URL", url)
    get_settings.cache_clear()
    with open_store(url) as store:
        store.confirm_cluster(T11_CONFIRMED[T11])
    context = load_context(get_settings(), confirmations=T11_CONFIRMED.values())
    t11 = context.territory(T11)
    demo = generate_incidents(
        300,
        5,
        boundaries=t11.bset,
        clusters=[t11.cluster],
        start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
        end=datetime(2025, 9, 30, tzinfo=VIETNAM_TZ),
    )
    with open_store(url) as store:
        store.add_incidents(demo)
        assign_stale(store, context)
        link_stored(store, context)  # as the service's demo: no report left unlinked
    yield url
    get_settings.cache_clear()


def map_cluster(*args: str) -> str:
    result = runner.invoke(cli.map_app, ["cluster", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.realdata
@needs_assets
def test_map_cluster_writes_a_standalone_page_with_the_stored_incidents(
    store_url: str, tmp_path: Path
) -> None:
    output = tmp_path / "maps" / "t11.html"
    said = map_cluster(
        "hoa-do-phuc-vi", "--date", "2025-08-01", "--with-incidents", "-o", str(output)
    )
    with open_store(store_url) as store:
        total = store.count(IncidentQuery(cluster_id=T11))
        first, _ = store.query(IncidentQuery(cluster_id=T11, limit=1, descending=True))
        newest = store.get(first["external_id"].iloc[0])
    assert total > 0
    standing, wrote = said.strip().splitlines()  # the map's legend's notice, then the summary
    assert standing.endswith("The carried cluster was confirmed to apply from 2025-07-01.")
    assert wrote == (  # the served map's words: every stored incident shown (none linked)
        f"wrote {output}: {T11} on vn2025 (5 members on 2025-08-01); "
        f"Hiển thị cả {format_number(total, 'vi')} vụ việc / all {total:,} incidents shown "
        "(SYNTHETIC data (dữ liệu mô phỏng))"
    )
    html = output.read_text(encoding="utf-8")
    # standalone: nothing is loaded from anywhere, every library is in the page
    assert re.findall(r'<(?:script|link)[^>]+(?:src|href)="(?!data:)[^"]*"', html) == []
    assert "L.markerClusterGroup" in html and "GZ.incidentLayer" in html
    assert "GZ.incidentLoader(" not in html  # a file has no API to ask
    assert "— 2025-08-01" in html  # the day in the title
    assert SYNTHETIC_BADGE in html
    context = load_context(get_settings())
    assert context.boundary_set("vn2025").info.attribution in html
    (table,) = incident_tables(html)
    assert len(table["lat"]) == total
    assert table["id_prefix"] + table["id"][0] == newest["external_id"]  # the newest first
    (decision,) = [c for c in newest["clusters"] if c["cluster_id"] == T11]
    if decision["lead_unit"] is None:
        assert table["lead"][0] == -1
    else:
        assert table["leads"][table["lead"][0]].endswith(f"({decision['lead_unit']})")


@pytest.mark.realdata
@needs_assets
def test_a_lapsed_carried_cluster_draws_its_incidents_without_a_lead(
    store_url: str, tmp_path: Path
) -> None:
    with open_store(store_url) as store:
        assert store.withdraw_confirmation(T11)
    output = tmp_path / "t11.html"
    said = map_cluster(
        "hoa-do-phuc-vi", "--date", "2025-08-01", "--with-incidents", "-o", str(output)
    )
    # Every stored incident the lapsed cluster concerns (decisions made when it was
    # confirmed are out of date: judged again first), each with a no_decision row.
    total = int(re.findall(r"all ([\d,]+) incidents shown", said)[0].replace(",", ""))
    assert total > 100
    with open_store(store_url) as store:
        rows = store.cluster_rows(IncidentQuery(cluster_id=T11, limit=total))
    assert len(rows) == total and set(rows["rule"]) == {"no_decision"}
    assert rows["lead_unit"].isna().all() and rows["review"].all()
    html = output.read_text(encoding="utf-8")
    (table,) = incident_tables(html)
    assert len(table["lat"]) == total and set(table["lead"]) == {-1}
    assert "Cụm chưa áp dụng – không có quyết định" in " ".join(table["rules"])
    said_vi = {unpack(table["vi_templates"], item) for item in table["vis"]}
    assert said_vi == set(rows["explanation_vi"])  # the map says what the store holds
    for sentence in said_vi:
        assert sentence.startswith("Vụ việc thuộc Phường ")
        assert "kết thúc ngày 31/12/2024 (suy đoán)" in sentence
        assert "geozone clusters confirm hoa-do-phuc-vi-vn2025 --from NGÀY" in sentence


@pytest.mark.realdata
@needs_assets
def test_map_cluster_picks_the_version_of_the_day(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    said = map_cluster("gia-lam-vn2025", "--date", "2020-01-01")
    html = (tmp_path / "gia-lam.html").read_text(encoding="utf-8")
    assert incident_tables(html) == [] and "Huyện Gia Lâm" in html
    # Drawn for 2020 on the legacy set, a snapshot of about 02/2023: the map says so, and
    # so does the command (standard error, --json).
    assert html_escape(LEGACY_SNAPSHOT_NOTICE) in html
    *notices, wrote = said.splitlines()
    assert wrote == "wrote gia-lam.html: gia-lam on vn-legacy-districts (8 members on 2020-01-01)"
    assert notices[0] == LEGACY_SNAPSHOT_NOTICE  # then the district police's standing
    assert len(notices) == 2 and all(html_escape(notice) in html for notice in notices)
    for day, said in (("2020-01-01", notices), ("2023-02-15", notices[1:])):  # the snapshot's month
        result = runner.invoke(cli.map_app, ["cluster", "gia-lam", "--date", day, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["notices"] == said
        assert result.stderr.splitlines() == said
    with pytest.raises(
        DataNotFoundError, match="hoa-do-phuc-vi-vn2025 \\(vn2025, from 2025-07-01\\)"
    ):
        map_cluster("hoa-do-phuc-vi", "--date", "2024-05-01", "-o", str(tmp_path / "x.html"))
    assert not (tmp_path / "x.html").exists()
    # a cluster a planner defined through the API is found in the store
    with open_store(store_url) as store:
        PlannerStore(store.engine).save_cluster(CLUSTER_EXAMPLE["id"], CLUSTER_EXAMPLE, "planner")
    said = map_cluster("nghia-do-ngoc-ha", "-o", str(tmp_path / "nd.html"))
    assert said.startswith(f"wrote {tmp_path / 'nd.html'}: nghia-do-ngoc-ha on vn2025 (2 members")
    assert "Phường Ngọc Hà (00008)" in (tmp_path / "nd.html").read_text(encoding="utf-8")


def test_the_geozone_command_has_map_serve_and_users(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for argv, expected in (
        (["geozone", "map", "cluster", "--help"], "--with-incidents"),
        (["geozone", "serve", "--help"], "SYNTHETIC"),
        (["geozone", "users", "add", "--help"], "--role"),
    ):
        monkeypatch.setattr("sys.argv", argv)
        with pytest.raises(SystemExit) as exit_info:
            geozone_cli.main()  # the console entry point: the core's app, these commands in it
        assert exit_info.value.code == 0
        assert expected in capsys.readouterr().out


@pytest.mark.realdata
@needs_assets
def test_serve_prints_the_t11_map_and_a_working_one_time_admin_key(
    built_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import uvicorn
    from fastapi.testclient import TestClient

    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(built_settings.cache_dir))
    monkeypatch.setenv("GEOZONE_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    get_settings.cache_clear()
    started: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(app=app, **kwargs))
    try:
        cli.serve(port=8123, demo_incidents=800)
    finally:
        get_settings.cache_clear()
    printed = capsys.readouterr()
    out = printed.out
    assert "stored 800 SYNTHETIC demo incidents (labelled synthetic)" in out
    assert f"T11 cluster map: http://127.0.0.1:8123/maps/clusters/{T11}" in out
    # the key goes to the terminal (stderr), never to stdout and its logs
    (key,) = re.findall(r"first admin key, 'admin' \(shown only now, keep it\): (\S+)", printed.err)
    assert key not in out
    assert (started["host"], started["port"]) == ("127.0.0.1", 8123)
    with TestClient(started["app"]) as client:  # type: ignore[arg-type]
        page = client.get(f"/maps/clusters/{T11}")
        assert page.status_code == 200 and "GZ.incidentLoader(" in page.text
        table = client.get(f"/maps/clusters/{T11}/incidents", headers={"X-API-Key": key})
        assert table.status_code == 200 and table.json()["synthetic"] is True
        assert table.json()["returned"] > 0
        assert client.get("/keys", headers={"X-API-Key": key}).status_code == 200  # admin
    # a second start mints no key: the first one still works
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)
    try:
        cli.serve(port=8123, demo_incidents=800)
    finally:
        get_settings.cache_clear()
    again = capsys.readouterr()
    assert "first admin key" not in again.err + again.out
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        keys = KeyStore(store.engine).list_keys()
        demo, _ = store.query(IncidentQuery(limit=1_000))
    assert [(k["name"], k["role"]) for k in keys] == [("admin", "admin")]
    # The demo's reports are linked into events as an import links them: each has an event.
    assert len(demo) == 800 and demo["event_id"].notna().all()


def test_users_commands_print_json(tmp_path: Path) -> None:
    import json

    url = f"sqlite:///{tmp_path / 'keys.sqlite'}"
    added = runner.invoke(
        cli.users_app,
        ["add", "an", "--role", "analyst", "--scope", "cluster:gia-lam", "--store", url, "--json"],
    )
    assert added.exit_code == 0, added.output
    key = json.loads(added.stdout)
    assert (key["name"], key["role"], key["scopes"]) == ("an", "analyst", ["cluster:gia-lam"])
    assert len(key["key"]) > 20 and "shown only now" in added.stderr
    listed = json.loads(runner.invoke(cli.users_app, ["list", "--store", url, "--json"]).stdout)
    assert [(k["name"], k["role"], k["revoked_at"]) for k in listed] == [("an", "analyst", None)]
    revoked = runner.invoke(cli.users_app, ["revoke", "an", "--store", url, "--json"])
    assert json.loads(revoked.stdout) == {"revoked": "an"}
    listed = json.loads(runner.invoke(cli.users_app, ["list", "--store", url, "--json"]).stdout)
    assert listed[0]["revoked_at"] is not None


def test_map_cluster_checks_its_output_before_the_work(tmp_path: Path) -> None:
    refused = runner.invoke(cli.map_app, ["cluster", "gia-lam", "-o", str(tmp_path / "m.png")])
    assert refused.exit_code == 2 and "use .htm, .html" in refused.output
