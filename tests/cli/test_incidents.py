"""The assigned table of ``geozone incidents assign``: rows placed as two left merges place them."""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from geozone.incidents.stream import assigned_table


def merged(incidents: pd.DataFrame, units: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """The reference: the two left merges the table stands for."""
    table = incidents.merge(units, on="external_id", how="left").merge(
        clusters, on="external_id", how="left"
    )
    return gpd.GeoDataFrame(
        table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326
    )


def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ids = ["a", "b", "c", "d"]
    incidents = pd.DataFrame(
        {
            "external_id": pd.Series(ids, dtype="str"),
            "lon": [105.0, 105.1, 105.2, 105.3],
            "lat": [21.0, 21.1, 21.2, 21.3],
            "category": pd.Series(["theft"] * 4, dtype="str"),
        }
    )
    units = pd.DataFrame(
        {
            "external_id": np.array(ids, dtype=object),
            "unit_code": np.array(["1", "2", None, "4"], dtype=object),
            "on_boundary": [False, True, False, False],
        }
    )
    # b has two cluster rows, a and d none, c one; "z" names no incident.
    clusters = pd.DataFrame(
        {
            "external_id": ["b", "c", "z", "b"],
            "cluster_id": ["k1", "k1", "k1", "k2"],
            "in_zone": [True, False, True, True],
            "distance_m": [1.5, np.nan, 2.0, 3.0],
            "zone_units": [["1", "2"], [], ["9"], ["2"]],
        }
    )
    return incidents, units, clusters


@pytest.mark.parametrize("id_type", ["str", object])
def test_rows_and_columns_as_the_merges_give_them(id_type: Any) -> None:
    incidents, units, clusters = frames()
    clusters["external_id"] = clusters["external_id"].astype(id_type)  # the engine's: objects
    table = assigned_table(incidents, units, clusters)
    pd.testing.assert_frame_equal(table, merged(incidents, units, clusters))
    assert list(table["external_id"]) == ["a", "b", "b", "c", "d"]
    assert list(table["cluster_id"].fillna("-")) == ["-", "k1", "k2", "k1", "-"]


def test_every_incident_in_one_cluster_keeps_the_column_types() -> None:
    incidents, units, clusters = frames()
    one = clusters.iloc[[0]].assign(external_id="a")
    many = pd.concat([one.assign(external_id=i) for i in "abcd"], ignore_index=True)
    pd.testing.assert_frame_equal(
        assigned_table(incidents, units, many), merged(incidents, units, many)
    )


def test_units_in_another_order_are_merged() -> None:
    incidents, units, clusters = frames()
    shuffled = units.iloc[[2, 0, 3, 1]].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        assigned_table(incidents, shuffled, clusters), merged(incidents, shuffled, clusters)
    )


def test_no_cluster_rows() -> None:
    incidents, units, clusters = frames()
    none = clusters.iloc[:0]
    pd.testing.assert_frame_equal(
        assigned_table(incidents, units, none), merged(incidents, units, none)
    )


# -- the commands: `-` for standard input and output, JSON, summaries on stderr ----------------

from collections.abc import Iterator  # noqa: E402
from datetime import date  # noqa: E402
from io import BytesIO  # noqa: E402
from pathlib import Path  # noqa: E402

from typer.testing import CliRunner  # noqa: E402

from geozone import cli  # noqa: E402
from geozone.settings import Settings, get_settings  # noqa: E402

runner = CliRunner()


@pytest.fixture
def real_cache(built_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(built_settings.cache_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def invoke(*args: str, stdin: bytes | None = None) -> Any:
    result = runner.invoke(cli.app, list(args), input=stdin, env={"COLUMNS": "300"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_assign_and_import_read_standard_input_and_write_standard_output(tmp_path: Path) -> None:
    source = tmp_path / "s.csv"
    made = invoke("incidents", "generate", "-n", "200", "--seed", "4", "-o", str(source), "--json")
    assert json.loads(made.stdout) == {
        "written": 200,
        "seed": 4,
        "synthetic": True,
        "output": str(source),
    }
    invoke("incidents", "assign", str(source), "-o", str(tmp_path / "a.parquet"))
    from_file = gpd.read_parquet(tmp_path / "a.parquet")
    piped = invoke(
        "incidents", "assign", "-", "-o", "-", "--format", "parquet", stdin=source.read_bytes()
    )
    assert piped.exit_code == 0, piped.output
    assert gpd.read_parquet(BytesIO(piped.stdout_bytes)).equals(from_file)  # the same rows
    assert "200 incidents assigned" in piped.stderr and "standard output" in piped.stderr
    as_csv = invoke(
        "incidents", "assign", "-", "-o", "-", "--format", "csv", stdin=source.read_bytes()
    )
    assert len(pd.read_csv(BytesIO(as_csv.stdout_bytes))) == 200
    # import from standard input (sniffed as CSV); the same bytes again are the same batch
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    stored = invoke("incidents", "import", "-", "--store", url, "--json", stdin=source.read_bytes())
    report = json.loads(stored.stdout)
    assert (report["source"], report["stored"], report["assigned"]) == ("-", 200, 200)
    again = invoke(
        "incidents",
        "import",
        "-",
        "--store",
        url,
        "--format",
        "csv",
        "--json",
        stdin=source.read_bytes(),
    )
    second = json.loads(again.stdout)  # the same batch as a file's: nothing stored twice
    assert second["batch_id"] == report["batch_id"] and second["stored"] == 0


def test_export_writes_standard_output_in_the_format_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geozone.incidents.io import write_incidents
    from geozone.incidents.pipeline import import_file
    from geozone.store import IncidentQuery, open_store
    from tests.fixtures.clusters import grid_context
    from tests.fixtures.incidents import grid_incidents

    # the export names units and attributes the data from the context it judges with
    monkeypatch.setattr("geozone.context.judging_context", lambda *_: grid_context())

    frame = grid_incidents(300, 2, date(2024, 1, 1), date(2024, 12, 31))
    frame.insert(2, "detected_at", frame["occurred_at"])
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with open_store(url) as store:
        import_file(store, write_incidents(frame, tmp_path / "in.csv"), grid_context())
        concerned = store.count(IncidentQuery(cluster_id="grid-centre"))  # one decision each
    assert 0 < concerned < 300
    written = invoke(
        "incidents", "export", "-o", str(tmp_path / "all.csv"), "--store", url, "--json"
    )
    assert json.loads(written.stdout) == {
        "output": str(tmp_path / "all.csv"),
        "format": "csv",
        "incidents": 300,
        "decisions": concerned,
        "layers": ["incidents"],
        "notices": [],  # every import finished
    }
    piped = invoke("incidents", "export", "-o", "-", "--format", "csv", "--store", url)
    assert piped.exit_code == 0 and piped.stdout_bytes == (tmp_path / "all.csv").read_bytes()
    said = f"exported 300 incidents ({concerned} cluster decisions) to standard output"
    assert said in piped.stderr
    parquet = invoke("incidents", "export", "-o", "-", "--format", "parquet", "--store", url)
    assert len(gpd.read_parquet(BytesIO(parquet.stdout_bytes))) == 300
    for extra, message in (
        ([], "say its format with --format"),
        (["--format", "csv", "--json"], "drop --json"),
        (["--format", "xlsx"], "'xlsx' is not one of"),
    ):
        refused = invoke("incidents", "export", "-o", "-", "--store", url, *extra)
        assert (
            refused.exit_code == 2
            and message in refused.output
            and not refused.stdout_bytes.startswith(b"external_id")
        )


def test_export_csv_has_a_bom_that_readers_and_import_take(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CSV starts with a UTF-8 BOM (for Excel, as the report's CSVs); pandas, GDAL and
    geozone's own import read it back with the header's first name unchanged."""
    import pyogrio

    from geozone.incidents.io import write_incidents
    from geozone.incidents.pipeline import import_file
    from geozone.store import IncidentQuery, open_store
    from tests.fixtures.clusters import grid_context
    from tests.fixtures.incidents import grid_incidents

    monkeypatch.setattr("geozone.context.judging_context", lambda *_, **__: grid_context())
    frame = grid_incidents(120, 3, date(2024, 1, 1), date(2024, 12, 31))
    frame.insert(2, "detected_at", frame["occurred_at"])
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with open_store(url) as store:
        import_file(store, write_incidents(frame, tmp_path / "in.csv"), grid_context())
    out = tmp_path / "all.csv"
    assert invoke("incidents", "export", "-o", str(out), "--store", url).exit_code == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfexternal_id,") and raw.count(b"\xef\xbb\xbf") == 1
    header = raw[3:].split(b"\n", 1)[0].decode().split(",")
    by_pandas = pd.read_csv(out, dtype=str, keep_default_na=False)
    by_gdal = pyogrio.read_dataframe(out)
    assert by_pandas.columns.tolist() == header == by_gdal.columns.tolist()
    assert len(by_pandas) == len(by_gdal) == 120
    names = by_pandas["lead_unit_name"]
    assert names.str.contains("Ô").any()  # diacritics kept
    assert names.tolist() == by_gdal["lead_unit_name"].fillna("").tolist()
    # geozone's own CSV import takes the BOM: every row stored again, none rejected.
    with open_store(f"sqlite:///{tmp_path / 'again.sqlite'}") as store:
        result = import_file(store, out, grid_context())
        assert (result.stored, result.rejected) == (120, 0)
        stored, total = store.query(IncidentQuery(limit=500))
        assert total == 120 and set(stored["external_id"]) == set(frame["external_id"])


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_import_judges_with_the_confirmations_of_the_store_it_writes_to(tmp_path: Path) -> None:
    # The carried T11 cluster decides only where a planner confirmed it: in store "b", not
    # in "a" nor in the configured store (a confirmation elsewhere must not leak in).
    source = tmp_path / "s.csv"
    invoke("incidents", "generate", "-n", "400", "--seed", "5", "-o", str(source))
    urls = {name: f"sqlite:///{tmp_path / name}.sqlite" for name in ("a", "b")}
    carried = "hoa-do-phuc-vi-vn2025"
    confirmed = invoke("clusters", "confirm", carried, "--from", "2025-07-01", "--store", urls["b"])
    assert confirmed.exit_code == 0, confirmed.output
    rules = {}
    for name, url in urls.items():
        assert invoke("incidents", "import", str(source), "--store", url).exit_code == 0
        out = tmp_path / f"{name}.csv"
        invoke("incidents", "export", "-o", str(out), "--cluster", carried, "--store", url)
        rules[name] = set(pd.read_csv(out)["rule"])
    assert rules["a"] == {"no_decision"}
    assert rules["b"] and "no_decision" not in rules["b"]


def test_link_names_an_import_that_stopped_before_linking_and_links_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geozone.store import IncidentQuery, open_store
    from tests.fixtures.clusters import grid_context
    from tests.fixtures.imports import stopped_import

    monkeypatch.setattr("geozone.context.store_context", lambda *_, **__: grid_context())
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with open_store(url) as store:
        source = stopped_import(store, tmp_path, grid_context())
        assert set(store.query(IncidentQuery())[0]["event_role"]) == {"single"}
    said = invoke("incidents", "link", "--store", url)
    assert said.exit_code == 0, said.output
    assert f"of {source} stopped before it was done (301 of 301 rows read)" in said.output
    assert "Import the same file again with the same --crs and columns to finish it" in said.output
    assert "or close it if it will not be finished: geozone incidents batches --close" in (
        said.output
    )
    with open_store(url) as store:
        roles = store.query(IncidentQuery())[0]["event_role"]
    assert {"lead", "cooperating"} <= set(roles)  # linked now
    again = json.loads(invoke("incidents", "link", "--store", url, "--json").stdout)
    assert again["linked"] >= 2 and [b["source"] for b in again["unfinished_imports"]] == [
        str(source)
    ]


def test_link_says_it_waits_while_another_process_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tests.fixtures.clusters import grid_context
    from tests.fixtures.linking import held_elsewhere, release

    monkeypatch.setattr("geozone.context.store_context", lambda *_, **__: grid_context())
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with held_elsewhere(url) as child:  # an import linking in another process
        timer = threading.Timer(1.0, release, [child])
        timer.start()
        said = invoke("incidents", "link", "--store", url)
        timer.join()
    assert said.exit_code == 0, said.output
    assert "another process is linking reports into events in this store" in said.output
    assert "0 stored reports linked" in said.output  # then it linked (nothing to link)


def _stopped_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A store holding an import stopped before linking; the CLI judges with the grid."""
    from geozone.store import open_store
    from tests.fixtures.clusters import grid_context
    from tests.fixtures.imports import stopped_import

    monkeypatch.setattr("geozone.context.store_context", lambda *_, **__: grid_context())
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with open_store(url) as store:
        source = stopped_import(store, tmp_path, grid_context())
    return url, source


def test_list_and_export_name_an_unfinished_import_on_standard_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fixtures.clusters import grid_context

    url, source = _stopped_store(tmp_path, monkeypatch)
    monkeypatch.setattr("geozone.context.judging_context", lambda *_, **__: grid_context())
    said = invoke("incidents", "list", "--store", url, "--limit", "2")
    assert said.exit_code == 0, said.output
    assert f"Unfinished import (stopped): file {source}, 301 of 301 rows read" in said.stderr
    assert "Unfinished import" not in said.stdout and "301 incidents" in said.stdout
    listed = invoke("incidents", "list", "--store", url, "--json")
    [notice] = json.loads(listed.stdout)["notices"]
    assert (
        notice.startswith("Lần nhập chưa xong (đã dừng): tệp ")
        and "Unfinished import" in listed.stderr
    )
    exported = invoke("incidents", "export", "-o", "-", "--format", "csv", "--store", url)
    assert "Unfinished import" in exported.stderr and "Unfinished import" not in exported.stdout
    assert len(pd.read_csv(BytesIO(exported.stdout_bytes))) == 301
    # A GeoParquet file holds the notices the CLI says (stderr, --json) in its metadata.
    parquet = tmp_path / "out.parquet"
    exported = invoke("incidents", "export", "-o", str(parquet), "--store", url, "--json")
    said = json.loads(exported.stdout)["notices"]
    assert len(said) == 1 and said[0] in exported.stderr
    assert json.loads(pq.read_schema(parquet).metadata[b"geozone:notices"]) == said


def test_batches_lists_and_closes_an_unfinished_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geozone.errors import ImportBatchError
    from geozone.store import IncidentQuery, open_store

    url, source = _stopped_store(tmp_path, monkeypatch)
    [batch] = json.loads(invoke("incidents", "batches", "--store", url, "--json").stdout)["batches"]
    assert (batch["source"], batch["status"], batch["rows_done"], batch["rows_total"]) == (
        str(source),
        "stopped",  # not done, and no run of it in progress
        301,
        301,
    )
    assert batch["started_at"] and batch["finished_at"] is None
    table = invoke("incidents", "batches", "--store", url)
    assert batch["batch_id"] in table.stdout and "301 of 301" in table.stdout
    linked = json.loads(invoke("incidents", "link", "--store", url, "--json").stdout)
    assert [b["batch_id"] for b in linked["unfinished_imports"]] == [batch["batch_id"]]
    listed = invoke("incidents", "list", "--store", url, "--json")
    assert len(json.loads(listed.stdout)["notices"]) == 1  # linked, still not done

    closed = invoke("incidents", "batches", "--close", batch["batch_id"], "--store", url)
    assert closed.exit_code == 0, closed.output
    assert f"import {batch['batch_id']} of {source} closed (301 of 301 rows read" in closed.stdout
    assert "2 of its reports linked with another as one event" in closed.stdout
    [after] = json.loads(invoke("incidents", "batches", "--store", url, "--json").stdout)["batches"]
    assert after["status"] == "closed" and after["finished_at"]
    listed = invoke("incidents", "list", "--store", url, "--json")
    assert json.loads(listed.stdout)["notices"] == [] and listed.stderr == ""
    again = json.loads(invoke("incidents", "link", "--store", url, "--json").stdout)
    assert again == {"linked": 0, "unfinished_imports": []}
    with open_store(url) as store:
        roles = store.query(IncidentQuery())[0].set_index("external_id")["event_role"]
    assert {roles["g7"], roles["twin"]} == {"lead", "cooperating"}
    with pytest.raises(ImportBatchError, match=f"import batch '{batch['batch_id']}' is closed"):
        invoke("incidents", "batches", "--close", batch["batch_id"], "--store", url)
    with pytest.raises(ImportBatchError, match="no import batch 'file:nope'"):
        invoke("incidents", "batches", "--close", "file:nope", "--store", url)


def test_list_json_writes_times_and_missing_values_as_the_api_does(tmp_path: Path) -> None:
    from api.services.incidents import incident_features
    from geozone.store import IncidentQuery, open_store

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    with open_store(url) as store:
        store.add_incidents(
            pd.DataFrame(
                {
                    "external_id": ["a", "b"],
                    "occurred_at": ["2025-08-01T21:00:00+07:00", "2025-08-02T08:30:00+07:00"],
                    "detected_at": ["2025-08-01T21:40:00+07:00", None],  # b: not given
                    "lon": [105.8064, 105.81],
                    "lat": [21.0387, 21.04],
                    "category": ["theft", "drugs"],
                    "synthetic": [True, True],
                }
            )
        )
        frame, _ = store.query(IncidentQuery(limit=20))
    listed = invoke("incidents", "list", "--store", url, "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["external_id"]: row for row in json.loads(listed.stdout)["incidents"]}
    assert rows["a"]["occurred_at"] == "2025-08-01T21:00:00+07:00"  # ISO 8601, as the API
    assert rows["a"]["detected_at"] == "2025-08-01T21:40:00+07:00"
    assert rows["b"]["detected_at"] is None  # not "NaT"
    assert "NaT" not in listed.stdout and "NaN" not in listed.stdout
    # Row for row what the API answers for the same query.
    api = {f["properties"]["external_id"]: f["properties"] for f in incident_features(frame)}
    assert rows == api
