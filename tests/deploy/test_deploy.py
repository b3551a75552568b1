"""The deployment of ``deploy/`` tried on loopback: PostGIS with the least-privilege role of
``deploy/postgis-roles.sql``, the store checked and migrated once by ``geozone db init`` (the
unit's ``ExecStartPre``), then uvicorn with several workers and the settings ``geozone serve
--production`` gives them (JSON logs, one line per request; the proxy's
``X-Forwarded-Prefix`` believed), called as ``deploy/nginx.conf`` calls it.

The app is the test grid's (``tests/deploy/grid_app.py``), not the real boundary sets that
``geozone serve`` loads (1.1 GB and 20 s a worker; tests/deploy/test_serve.py checks
``serve --production`` itself). nginx, systemd and Docker are not run here (none is
available to the tests): the service is called as nginx would call it, with the prefix
stripped and the forwarded headers set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.store.pg import TempPostgres

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GEOZONE = [sys.executable, "-c", "import sys; from geozone.cli import main; sys.exit(main())"]


@dataclass
class Deployed:
    """A served deployment: its URL, the planner key, the server's log."""

    url: str
    key: str
    log: Path
    store_url: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def deployed(
    postgres: TempPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("no psql client to run deploy/postgis-roles.sql")
    roles = subprocess.run(
        [psql, "-v", "ON_ERROR_STOP=1", "-v", "password=not-used-with-trust",
         "-h", "127.0.0.1", "-p", str(postgres.port), "-U", postgres.user, "-d", "postgres",
         "-f", str(DEPLOY / "postgis-roles.sql")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert roles.returncode == 0, roles.stderr
    folder = tmp_path_factory.mktemp("deployed")
    store_url = f"postgresql+psycopg://geozone@127.0.0.1:{postgres.port}/geozone"
    env = {**os.environ, "GEOZONE_STORE_URL": store_url, "GEOZONE_CACHE_DIR": str(folder),
           "PYTHONPATH": str(ROOT),
           # what `geozone serve --production` sets for its workers
           "GEOZONE_LOG_FORMAT": "json", "GEOZONE_TRUST_FORWARDED_PREFIX": "true"}  # fmt: skip
    migrated = subprocess.run(
        [*GEOZONE, "db", "init", "--json"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    report = json.loads(migrated.stdout)  # PostGIS enabled by the DBA; tables in its schema
    assert (report["role"], report["superuser"], report["schema"]) == ("geozone", False, "geozone")
    assert report["postgis_action"] == "present" and report["schema_action"] == "created"
    added = subprocess.run(
        [*GEOZONE, "users", "add", "planner-1", "--role", "planner"],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    port = _free_port()
    log = folder / "server.log"
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "tests.deploy.grid_app:create",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
        "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1", "--no-access-log",
        "--log-config", str(DEPLOY / "logging.json"), "--no-server-header",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=sink)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the deployment did not start:\n{log.read_text()}")
            time.sleep(0.3)
        yield Deployed(url, key, log, store_url)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_service_role_is_least_privilege_and_owns_the_store(deployed: Deployed) -> None:
    with psycopg.connect(deployed.store_url.replace("+psycopg", "")) as connection:
        role = connection.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'geozone'"
        ).fetchone()
        assert role == (False, False, False)
        schemas = {
            row[0]
            for row in connection.execute(
                "SELECT DISTINCT schemaname FROM pg_tables WHERE tableowner = 'geozone'"
            )
        }
        assert schemas == {"geozone"}  # every table of the store, in its own schema
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("CREATE TABLE public.intruder (x int)")


def test_links_carry_the_proxy_prefix_and_scheme(deployed: Deployed) -> None:
    # as nginx.conf forwards https://geozone.intranet/geozone/… : prefix stripped, headers set
    headers = {"Host": "geozone.intranet", "X-Forwarded-Proto": "https",
               "X-Forwarded-Prefix": "/geozone", "X-Request-ID": "nginx-1"}  # fmt: skip
    landing = httpx.get(f"{deployed.url}/", params={"f": "json"}, headers=headers).json()
    hrefs = {link["rel"]: link["href"] for link in landing["links"]}
    assert hrefs["data"] == "https://geozone.intranet/geozone/collections"
    assert hrefs["conformance"] == "https://geozone.intranet/geozone/conformance"
    page = httpx.get(
        f"{deployed.url}/collections/units/items", params={"limit": 5}, headers=headers
    ).json()
    (following,) = [link["href"] for link in page["links"] if link["rel"] == "next"]
    assert following.startswith("https://geozone.intranet/geozone/collections/units/items?")
    described = httpx.get(f"{deployed.url}/openapi-3.0.json", headers=headers).json()
    assert described["servers"] == [{"url": "/geozone"}]  # the API's paths, behind the prefix
    # the map page's scripts, styles and API calls, and the docs' files, below the prefix
    page_html = httpx.get(f"{deployed.url}/maps/clusters/grid-centre", headers=headers).text
    docs_html = httpx.get(f"{deployed.url}/docs", headers=headers).text
    for html in (page_html, docs_html):
        local = re.findall(r'(?:src|href)="(/[^"]*)"', html)
        local += re.findall(r'"(/(?:clusters|patrol-zones|maps)/[^"]*)"', html)
        assert local and all(url.startswith("/geozone/") for url in local), local


def test_workers_share_the_store_and_log_json_lines(deployed: Deployed) -> None:
    planner = {"X-API-Key": deployed.key, "X-Request-ID": "nginx-1"}
    lon, lat = 105.80, 21.02
    for k in range(6):  # spread over the workers by the kernel
        record = {"external_id": f"w{k}", "occurred_at": "2025-08-01T08:00:00+07:00",
                  "lon": lon + k * 0.001, "lat": lat, "category": "theft"}  # fmt: skip
        response = httpx.post(f"{deployed.url}/incidents", json=record, headers=planner)
        assert response.status_code == 200 and response.json()["stored"] == 1, response.text
    for _ in range(6):
        page = httpx.get(f"{deployed.url}/collections/incidents/items", headers=planner).json()
        assert page["numberMatched"] == 6
    text = deployed.log.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # JSON, every one
    assert len({line["pid"] for line in lines}) >= 3  # the two workers and their parent
    access = [line for line in lines if line["logger"] == "geozone.access"]
    posted = [line for line in access if line["method"] == "POST"]
    assert len(posted) == 6 and all(line["path"] == "/incidents" for line in posted)
    assert all(line["status"] == 200 and line["duration_ms"] > 0 for line in posted)
    assert {"time", "level", "request_id", "client"} <= set(posted[0])
    assert any(line["request_id"] == "nginx-1" for line in access)  # nginx's $request_id
    assert deployed.key not in text  # no key is logged
