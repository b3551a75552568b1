from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from geozone import cli
from geozone.errors import GeozoneError
from geozone.settings import Settings, get_settings

runner = CliRunner()


@pytest.fixture
def real_cache(built_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(built_settings.cache_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli.app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_every_command_has_help() -> None:
    for command in (
        ["--help"],
        ["data", "--help"],
        ["data", "build", "--help"],
        ["data", "qa", "--help"],
        ["units", "search", "--help"],
        ["units", "show", "--help"],
        ["locate", "--help"],
    ):
        code, output = run(*command)
        assert code == 0 and "Usage" in output


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_search_show_and_locate_as_json() -> None:
    code, output = run("units", "search", "nghia do", "--json", "--date", "2025-08-01")
    hits = json.loads(output)["hits"]
    assert code == 0 and {hit["province"] for hit in hits} >= {"Thành phố Hà Nội", "Tỉnh Lào Cai"}
    code, output = run("units", "show", "00160", "--set", "vn2025", "--json")
    assert json.loads(output)["chain"][1]["full_name"] == "Thành phố Hà Nội"
    code, output = run(
        "locate", "105.8064", "21.0387", "--tolerance", "150", "--date", "2024-05-01", "--json"
    )
    located = json.loads(output)
    assert located["set_id"] == "vn-legacy-districts" and located["on_boundary"]
    assert located["unit"]["full_name"] in {"Quận Cầu Giấy", "Quận Ba Đình"}


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_errors_are_one_line_with_exit_code_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["geozone", "units", "show", "99999", "--set", "vn2025"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    assert "no unit with code '99999'" in capsys.readouterr().err
    code, output = run("locate", "105.8", "21.0", "--date", "not-a-date")
    assert code == 2 and "YYYY-MM-DD" in output


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_cluster_zones_export_and_adjacency(tmp_path: Path) -> None:
    import geopandas as gpd

    code, output = run(
        "clusters", "zones", "hoa-do-phuc-vi-vn2025", "-o", str(tmp_path / "t11.gpkg"), "--json"
    )
    summary = json.loads(output)
    # The carried T11 zone runs along the old Cầu Giấy – Ba Đình line near the bridge: one
    # pair of sides, derived (the old wards have no polygons), said in both languages.
    assert code == 0 and summary["width_m"] == 200 and summary["pairs"] == 1
    assert summary["basis"] == "derived" and "Cầu T11" in summary["basis_vi"]
    assert summary["areas"]["union_km2"] < 1.5
    zones = gpd.read_file(tmp_path / "t11.gpkg", layer="border_zones")
    assert set(zones["zone_id"]) == {"001-005"} and zones["attribution"].str.len().gt(0).all()
    with pytest.raises(GeozoneError, match="use its carried version: hoa-do-phuc-vi-vn2025"):
        run("clusters", "zones", "hoa-do-phuc-vi")
    code, output = run("adjacency", "vn-legacy-districts", "--json")
    pairs = json.loads(output)["pairs"]
    gia_lam = [
        p for p in pairs if {p["name_a"], p["name_b"]} == {"Huyện Gia Lâm", "Quận Long Biên"}
    ]
    assert gia_lam and gia_lam[0]["shared_length_m"] == pytest.approx(17_100, rel=0.05)


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_generate_then_assign_file_to_file(tmp_path: Path) -> None:
    import geopandas as gpd

    assert (
        run("incidents", "generate", "-n", "500", "--seed", "3", "-o", str(tmp_path / "s.csv"))[0]
        == 0
    )
    code, output = run(
        "incidents", "assign", str(tmp_path / "s.csv"), "-o", str(tmp_path / "a.parquet"), "--json"
    )
    summary = json.loads(output)
    assert code == 0 and summary["assigned"] == 500 and summary["rejected"] == 0
    table = gpd.read_parquet(tmp_path / "a.parquet")
    assert table["synthetic"].all() and set(table["external_id"]) == {
        f"SYN-3-{i}" for i in range(1, 501)
    }
    assert table["explanation_en"].notna().sum() == summary["cluster_rows"] > 100
    code, output = run(
        *["incidents", "assign", str(tmp_path / "s.csv"), "-o", str(tmp_path / "b.parquet")],
        *["--chunk-rows", "97", "--json"],
    )
    assert json.loads(output)["pieces"] == 6
    assert gpd.read_parquet(tmp_path / "b.parquet").equals(table)  # streamed = one piece


def test_assign_options_name_their_engine(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("external_id,occurred_at,lon,lat,category\n", encoding="utf-8")
    out = str(tmp_path / "o.parquet")
    for extra, message in (
        (["--engine", "spark"], "use local or dask"),
        (["--workers", "2"], "go with --engine dask"),
    ):
        code, output = run("incidents", "assign", str(source), "-o", out, *extra)
        assert code == 2 and message in " ".join(output.split())


def test_export_streams_pages_to_parquet_and_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    import geopandas as gpd
    import pandas as pd
    import pyogrio

    from geozone.incidents.io import write_incidents
    from geozone.incidents.pipeline import import_file
    from geozone.store import open_store
    from tests.fixtures.clusters import grid_context
    from tests.fixtures.incidents import grid_incidents

    context = grid_context()
    monkeypatch.setattr("geozone.context.judging_context", lambda *_: context)
    frame = grid_incidents(10_050, 4, date(2024, 1, 1), date(2024, 12, 31))
    frame.insert(2, "detected_at", frame["occurred_at"])
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with open_store(url) as store:
        import_file(store, write_incidents(frame, tmp_path / "in.csv"), context)
    for name in ("all.parquet", "all.csv"):
        code, output = run("incidents", "export", "-o", str(tmp_path / name), "--store", url)
        assert code == 0 and "exported 10,050 incidents" in output
    table = gpd.read_parquet(tmp_path / "all.parquet")
    text = pd.read_csv(tmp_path / "all.csv", dtype={"lead_unit": str})
    assert len(table) == len(text) == 10_050 and table["external_id"].is_unique
    assert table["unit_code"].notna().all() and table.crs.to_epsg() == 4326
    assert text["external_id"].tolist() == table["external_id"].tolist()
    assert text["lead_unit"].fillna("").tolist() == table["lead_unit"].fillna("").tolist()
    decided = table[table["cluster_count"] == 1]
    assert len(decided) > 1_000 and decided["lead_unit_name"].str.startswith("Phường Ô").all()
    assert set(table["attribution"]) == {context.sets[0].info.attribution}
    # --cluster: only that cluster's incidents; a GeoPackage with its decision table
    out = tmp_path / "centre.gpkg"
    code, output = run(
        "incidents", "export", "-o", str(out), "--cluster", "grid-centre", "--store", url, "--json"
    )
    summary = json.loads(output)
    assert code == 0 and summary["layers"] == ["incidents", "cluster_decisions"]
    layer = pyogrio.read_dataframe(out, layer="incidents")
    assert len(layer) == summary["incidents"] == len(decided)
    assert set(layer["cluster_id"]) == {"grid-centre"} and set(layer["cluster_count"]) == {1}
    rows = pyogrio.read_dataframe(out, layer="cluster_decisions")
    assert len(rows) == summary["decisions"] == len(layer)
    # a wrong suffix is refused before any work
    code, output = run("incidents", "export", "-o", str(tmp_path / "x.shp"), "--store", url)
    assert code == 2 and "cannot write 'x.shp': use .csv, .geojson" in unboxed(output)


def unboxed(output: str) -> str:
    """The text of an error as Typer boxes it, with the box and its line breaks removed."""
    return re.sub(r"[│╭╮╰╯─\s]+", " ", output)


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_confirm_a_carried_cluster_then_withdraw_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOZONE_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    get_settings.cache_clear()
    t11 = "hoa-do-phuc-vi-vn2025"
    code, output = run("clusters", "confirm", t11, "--from", "2025-06-30")
    assert code == 2 and "2025-07-01 at the earliest" in unboxed(output)
    code, output = run("clusters", "confirm", "hoa-do-phuc-vi", "--from", "2025-07-01")
    assert code == 2 and "not a carried cluster" in unboxed(output) and t11 in unboxed(output)
    code, output = run(
        "clusters", "confirm", t11, "--from", "2025-07-01", "--by", "PC Hà Nội", "--json"
    )
    assert code == 0 and json.loads(output)["result"] == "confirmed from 2025-07-01"
    code, output = run("clusters", "show", t11, "--json")
    shown = json.loads(output)
    assert code == 0 and shown["standing"]["carry_status"] == "confirmed", shown["standing"]
    assert shown["standing"]["text_en"] == "carried and confirmed from 2025-07-01 by PC Hà Nội"
    code, output = run("clusters", "confirm", t11, "--withdraw", "--json")
    assert code == 0 and json.loads(output)["result"] == "withdrawn"
    code, output = run("clusters", "show", t11, "--json")
    assert json.loads(output)["standing"]["carry_status"] == "lapsed"


# -- the commands api/ contributes (geozone.commands entry point) ------------------------------

#: What a core-only install (``pip install geozone``, no extras) lacks.
EXTRA_LIBRARIES = ("fastapi", "starlette", "uvicorn", "python_multipart", "folium", "branca")
WITHOUT_EXTRAS = f"""
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {EXTRA_LIBRARIES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
sys.argv = ["geozone", *sys.argv[1:]]
from geozone.cli import main
main()
"""


def without_extras(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``geozone ARGS`` in a process where the libraries of the extras cannot be imported."""
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, *args], capture_output=True, text=True, env=env
    )


def test_the_web_commands_are_in_the_one_app_in_their_place() -> None:
    group = typer.main.get_command(cli.app)
    assert isinstance(group, TyperGroup)
    listed = group.list_commands(typer.Context(group))
    assert listed[listed.index("demo") :] == [
        *["demo", "serve", "report", "data", "units", "clusters", "incidents", "patrol", "db"],
        *["users", "map"],
    ]
    code, output = run("--help")
    assert code == 0 and "Run the service: on a workstation" in output
    assert run("serve", "--help")[0] == 0 and "--demo-incidents" in run("serve", "--help")[1]
    assert "add" in run("users", "--help")[1] and "cluster" in run("map", "--help")[1]
    code, output = run("serv")
    assert code == 2 and "Did you mean 'serve'" in output


def test_a_core_command_imports_neither_the_web_commands_nor_their_libraries() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from geozone import cli;"
        "CliRunner().invoke(cli.app, ['locate', '--help']);"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] in"
        " {'api', 'maps', 'fastapi', 'uvicorn', 'folium', 'sqlalchemy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_without_the_extras_the_core_runs_and_web_commands_name_the_extra() -> None:
    listed = without_extras("--help")
    assert listed.returncode == 0 and "serve" in listed.stdout and "users" in listed.stdout
    assert without_extras("locate", "--help").returncode == 0
    served = without_extras("serve")
    assert served.returncode == 2, served.stderr
    assert served.stderr.strip() == (
        "error: uvicorn is not installed; this command needs geozone's 'api' extra: "
        "pip install 'geozone[api]'"
    )
    mapped = without_extras("map", "cluster", "hoa-do-phuc-vi")
    assert mapped.returncode == 2 and "pip install 'geozone[maps]'" in mapped.stderr


def test_contributed_commands_come_from_installed_metadata_outside_a_checkout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib.metadata import EntryPoint

    from geozone.cli import _contributed

    monkeypatch.setattr(_contributed, "_checkout_project", lambda: None)
    declared = [EntryPoint("api", "api.commands:COMMANDS", _contributed.GROUP)]
    monkeypatch.setattr(_contributed, "entry_points", lambda group: declared)
    assert list(_contributed.load_commands()) == ["serve", "report", "users", "map"]
    lines = ["typer>=0.15", 'folium>=0.19; extra == "maps"', "uvicorn>=0.32 ; extra == 'api'"]
    monkeypatch.setattr(_contributed, "requires", lambda distribution: lines)
    assert _contributed.missing_extra(ModuleNotFoundError(name="uvicorn.config")) == "api"
    assert _contributed.missing_extra(ModuleNotFoundError(name="folium")) == "maps"
    assert _contributed.missing_extra(ModuleNotFoundError(name="typer")) is None
