"""Real OGC API clients against a served instance (uvicorn, its own process, on loopback).

- GDAL's OAPIF driver through pyogrio: every collection opened with the key (sent as GDAL
  reads it, ``GDAL_HTTP_HEADER_FILE``, as the README says), a bbox, paging through ``next``
  links, leading zeros kept, the protected collections refused without the key.
- OWSLib's :class:`owslib.ogcapi.features.Features`: the landing page and its OpenAPI 3.0
  ``service-desc``, conformance, every collection with its queryables, items with bbox,
  datetime, limit and offset, and one item by id.

The store holds synthetic incidents dated within the last year (the hotspots' default
period): uniform over the cluster's wards plus a planted concentration.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyogrio
import pytest

from geozone.vntime import VIETNAM_TZ, today
from tests.fixtures.grid import grid_point

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ["units", "border-zones", "incidents", "patrol-zones", "hotspots"]
PROTECTED = {"incidents", "patrol-zones", "hotspots"}
N_INCIDENTS = 160


@dataclass
class Served:
    """A served instance: its root URL, the analyst key, a header file holding it for GDAL."""

    url: str
    key: str
    header_file: Path

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.url}{path}", params=params, headers={"X-API-Key": self.key}, timeout=60
        )
        assert response.status_code == 200, response.text
        return response.json()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _incidents() -> list[dict[str, Any]]:
    """Synthetic incidents of the last 300 days: uniform over wards 1, 2, 4, 5, and a plant."""
    rng = np.random.default_rng(16)
    n_planted = 60
    n = N_INCIDENTS
    x = np.concatenate([rng.uniform(5, 1995, n - n_planted), rng.normal(1000, 40, n_planted)])
    y = np.concatenate([rng.uniform(5, 1995, n - n_planted), rng.normal(500, 40, n_planted)])
    first = datetime.combine(today() - timedelta(days=300), datetime.min.time(), VIETNAM_TZ)
    days = rng.integers(0, 299, n)
    records = []
    for k in range(n):
        lon, lat = grid_point(float(x[k]), float(y[k]))
        records.append(
            {
                "external_id": f"s{k:03d}",
                "occurred_at": (first + timedelta(days=int(days[k]), hours=9)).isoformat(),
                "lon": lon,
                "lat": lat,
                "category": ["drugs", "theft"][k % 2],
                "synthetic": True,
            }
        )
    return records


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("ogc-served")
    port = _free_port()
    keys_file = folder / "keys.json"
    command = [
        sys.executable, "-m", "tests.served", "--port", str(port), "--keys", str(keys_file),
        "--store", f"sqlite:///{folder / 'store.sqlite'}",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the served instance did not start") from None
                time.sleep(0.2)
        keys = json.loads(keys_file.read_text(encoding="utf-8"))
        url = f"http://127.0.0.1:{port}"
        planner = {"X-API-Key": keys["planner"]}
        added = httpx.post(f"{url}/incidents", json=_incidents(), headers=planner, timeout=120)
        assert added.status_code in (200, 201), added.text
        lon, lat = grid_point(900, 900)
        ring = [[lon, lat], [lon + 0.003, lat], [lon + 0.003, lat + 0.003], [lon, lat]]
        zone = {
            "cluster_id": "grid-centre",
            "name": "Tổ tuần tra cầu",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        assert httpx.post(f"{url}/patrol-zones", json=zone, headers=planner).status_code == 201
        header_file = folder / "gdal-headers.txt"
        header_file.write_text(f"X-API-Key: {keys['analyst']}\n", encoding="utf-8")
        yield Served(url, keys["analyst"], header_file)
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- GDAL (OAPIF driver through pyogrio) -------------------------------------------------------


@pytest.fixture
def gdal_keyed(served: Served) -> Iterator[str]:
    """The OAPIF data source name, with GDAL sending the key from a header file."""
    if "OAPIF" not in pyogrio.list_drivers():
        pytest.fail("this GDAL build has no OAPIF driver")
    pyogrio.set_gdal_config_options({"GDAL_HTTP_HEADER_FILE": str(served.header_file)})
    try:
        yield f"OAPIF:{served.url}/"
    finally:
        pyogrio.set_gdal_config_options({"GDAL_HTTP_HEADER_FILE": None})


def test_gdal_opens_every_collection_with_the_key(served: Served, gdal_keyed: str) -> None:
    layers = [str(name) for name, _ in pyogrio.list_layers(gdal_keyed)]
    assert layers == COLLECTIONS
    for name in COLLECTIONS:
        frame = pyogrio.read_dataframe(gdal_keyed, layer=name)
        served_page = served.get(f"/collections/{name}/items", limit=10_000)
        assert len(frame) == served_page["numberMatched"], name
        if name != "hotspots":
            assert len(frame) > 0, name
        assert frame.crs is not None and frame.crs.to_epsg() == 4326
    units = pyogrio.read_dataframe(gdal_keyed, layer="units")
    assert "00001" in set(units["code"])  # codes keep their leading zeros
    assert "Ô 1" in set(units["name"])  # Vietnamese text intact
    incidents = pyogrio.read_dataframe(gdal_keyed, layer="incidents")
    assert sorted(incidents["external_id"]) == [f"s{k:03d}" for k in range(N_INCIDENTS)]


def test_gdal_reads_each_incidents_lead_unit(served: Served, gdal_keyed: str) -> None:
    """The incidents layer GDAL reads has the flat decision fields, as the service gives them."""
    incidents = pyogrio.read_dataframe(gdal_keyed, layer="incidents")
    names = ("cluster_id", "lead_unit", "lead_unit_name", "rule", "review", "cluster_count")
    assert set(names) <= set(incidents.columns)
    items = served.get("/collections/incidents/items", limit=10_000)["features"]
    served_rows = {f["id"]: f["properties"] for f in items}
    led = 0
    for row in incidents.to_dict("records"):
        expected = served_rows[row["external_id"]]
        for name in names:
            got = row[name]
            got = None if got is not None and got != got else got  # GDAL's null is NaN
            assert got == expected[name], (row["external_id"], name)
        led += expected["lead_unit"] is not None
    assert led > 0


def test_gdal_bbox_and_paging(served: Served, gdal_keyed: str) -> None:
    lon0, lat0 = grid_point(2100, 2100)
    lon1, lat1 = grid_point(2200, 2200)
    boxed = pyogrio.read_dataframe(gdal_keyed, layer="units", bbox=(lon0, lat0, lon1, lat1))
    assert sorted(boxed["code"]) == ["00009", "002", "01"]
    lon0, lat0 = grid_point(900, 400)
    lon1, lat1 = grid_point(1100, 600)
    near = pyogrio.read_dataframe(gdal_keyed, layer="incidents", bbox=(lon0, lat0, lon1, lat1))
    served_near = served.get(
        "/collections/incidents/items", bbox=f"{lon0},{lat0},{lon1},{lat1}", limit=10_000
    )
    assert sorted(near["external_id"]) == sorted(f["id"] for f in served_near["features"])
    assert 0 < len(near) < N_INCIDENTS
    # pages of 7: GDAL follows the next links to the end
    paged = pyogrio.read_dataframe(gdal_keyed, layer="incidents", PAGE_SIZE="7")
    assert len(paged) == N_INCIDENTS and paged["external_id"].is_unique


def test_gdal_without_the_key_reads_the_public_collections_only(served: Served) -> None:
    source = f"OAPIF:{served.url}/"
    assert len(pyogrio.read_dataframe(source, layer="units")) == 12
    with pytest.raises(Exception, match=r"401|key"):
        pyogrio.read_dataframe(source, layer="incidents")


# -- OWSLib ------------------------------------------------------------------------------------


@pytest.fixture
def owslib_features(served: Served) -> Iterator[Any]:
    from owslib import ogcapi
    from owslib.ogcapi.features import Features

    shared = dict(ogcapi.REQUEST_HEADERS)  # OWSLib updates its module-wide headers in place
    try:
        yield Features(f"{served.url}/", headers={"X-API-Key": served.key})
    finally:
        ogcapi.REQUEST_HEADERS.clear()
        ogcapi.REQUEST_HEADERS.update(shared)


def test_owslib_landing_api_conformance_and_collections(owslib_features: Any) -> None:
    features = owslib_features
    document = features.api()  # follows the 3.0 service-desc link
    assert document["openapi"].startswith("3.0")
    assert "/collections/{collection_id}/items/{feature_id}" in document["paths"]
    conformance = features.conformance()["conformsTo"]
    assert any(c.endswith("/conf/oas30") for c in conformance)
    assert features.feature_collections() == COLLECTIONS
    for name in COLLECTIONS:
        described = features.collection(name)
        assert described["extent"]["spatial"]["bbox"][0][0] < 106
        queryables = features.collection_queryables(name)
        assert queryables["type"] == "object" and "geometry" in queryables["properties"]


def test_owslib_items_bbox_datetime_paging_and_one_item(
    served: Served, owslib_features: Any
) -> None:
    features = owslib_features
    # the planted concentration is a significant hot spot: one hotspot item is fetched by id
    assert served.get("/collections/hotspots/items")["numberMatched"] >= 1
    for name in COLLECTIONS:
        page = features.collection_items(name, limit=5)
        assert page["type"] == "FeatureCollection"
        served_page = served.get(f"/collections/{name}/items", limit=10_000)
        assert page["numberMatched"] == served_page["numberMatched"]
        if page["features"]:
            first = page["features"][0]
            one = features.collection_item(name, str(first["id"]))
            assert one["id"] == first["id"] and one["properties"] == first["properties"]
    first = features.collection_items("incidents", limit=50, offset=0)
    second = features.collection_items("incidents", limit=50, offset=50)
    ids = [f["id"] for f in first["features"] + second["features"]]
    assert len(ids) == len(set(ids)) == 100
    lon0, lat0 = grid_point(0, 0)
    lon1, lat1 = grid_point(1000, 1000)
    boxed = features.collection_items("units", bbox=[lon0, lat0, lon1, lat1], limit=100)
    assert "00001" in {f["id"] for f in boxed["features"]}
    start = (today() - timedelta(days=150)).isoformat()
    recent = features.collection_items("incidents", datetime_=f"{start}T00:00:00+07:00/..")
    every = served.get("/collections/incidents/items", limit=10_000)["features"]
    expected = [f for f in every if f["properties"]["occurred_at"] >= f"{start}T00:00:00+07:00"]
    assert recent["numberMatched"] == len(expected) > 0
    drugs = features.collection_items("incidents", category="drugs", limit=1000)
    assert drugs["numberMatched"] == N_INCIDENTS // 2
    with pytest.raises(RuntimeError, match="unknown parameter"):
        features.collection_items("units", colour="red")


# -- QGIS (the OAPIF provider, through Debian's python3-qgis) --------------------------------

#: The Python Debian's python3-qgis is built for (not the project's virtualenv).
SYSTEM_PYTHON = "/usr/bin/python3"


def _qgis(served: Served, key: str, names: list[str], bbox: str) -> dict[str, Any]:
    probe = subprocess.run(
        [SYSTEM_PYTHON, str(Path(__file__).with_name("qgis_probe.py")), f"{served.url}/", key,
         bbox, *names],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
             "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-2000:]
    found: dict[str, Any] = json.loads(probe.stdout.strip().splitlines()[-1])
    return found


def test_qgis_opens_the_collections(served: Served) -> None:
    check = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, check=False
    ) if Path(SYSTEM_PYTHON).is_file() else None  # fmt: skip
    if check is None or check.returncode != 0:
        pytest.skip("QGIS's Python package is not installed (Debian: apt-get install python3-qgis)")
    lon0, lat0 = grid_point(2100, 2100)
    lon1, lat1 = grid_point(2200, 2200)
    bbox = f"{lon0},{lat0},{lon1},{lat1}"
    public = _qgis(served, "", ["units", "border-zones"], bbox)
    units = public["units"]
    assert units["valid"], units
    assert sorted(units["ids"]) == sorted(
        f["id"] for f in served.get("/collections/units/items", limit=100)["features"]
    )
    assert "00001" in units["ids"]  # leading zeros kept
    assert sorted(units["boxed"]) == ["00009", "002", "01"]
    assert units["crs"] in ("EPSG:4326", "OGC:CRS84")
    zones = public["border-zones"]
    assert (
        zones["valid"]
        and len(zones["ids"])
        == served.get("/collections/border-zones/items", limit=1000)["numberMatched"]
    )
    # Debian bookworm's QGIS 3.22 has no "API Header" method: it sends the key by Basic.
    keyed = _qgis(served, f"analyst-key:{served.key}", ["incidents"], bbox)
    assert keyed["auth"] in ("APIHeader", "Basic")
    assert keyed["incidents"]["valid"], keyed
    assert len(keyed["incidents"]["ids"]) == N_INCIDENTS
    assert "lead_unit" in keyed["incidents"]["fields"]  # QGIS styles by who leads
    unkeyed = _qgis(served, "", ["incidents"], bbox)
    assert not unkeyed["incidents"]["valid"] or not unkeyed["incidents"].get("ids")
