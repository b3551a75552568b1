"""``deploy/nginx.conf`` run by nginx on loopback: geozone under ``/geozone/`` over TLS.

The shipped server block is used as written, except its addresses (a free loopback port
for 443, the service's port for 8000) and a self-signed certificate made here; the service
is uvicorn with the settings ``geozone serve --production`` gives it (the proxy's
``X-Forwarded-Prefix`` believed). Chromium opens a map page and the API docs through nginx:
every request stays on the host and below the sub-path, and none fails. Skipped without
nginx or openssl (CI installs nginx-light).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.browser import CHROMIUM
from tests.fixtures.pages import needs_assets

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
OPENSSL = shutil.which("openssl")

pytestmark = pytest.mark.skipif(
    NGINX is None or OPENSSL is None, reason="no nginx/openssl: apt-get install nginx-light"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(url, timeout=2, verify=False).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer:\n{log.read_text(errors='replace')}")
        time.sleep(0.3)


def nginx_config(folder: Path, https_port: int, app_port: int) -> Path:
    """Return the shipped config with loopback addresses and a certificate made here."""
    shipped = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    servers = shipped.split("\nserver {")[1]  # the TLS server (the port-80 redirect is left)
    upstream = re.search(r"upstream geozone \{.*?\n\}", shipped, re.S)
    assert upstream is not None
    server = "server {" + servers.rsplit("\n}", 1)[0] + "\n}"
    server = server.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    server = server.replace("/etc/ssl/geozone/", f"{folder}/")
    assert f"listen 127.0.0.1:{https_port} ssl;" in server and str(folder) in server
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=geozone.intranet", "-keyout", str(folder / "privkey.pem"),
         "-out", str(folder / "fullchain.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    config = folder / "nginx.conf"
    config.write_text(
        f"""user root;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    types {{ text/html html; }}
{upstream.group(0).replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")}
{server}
}}
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="module")
def through_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("nginx")
    app_port, https_port = _free_port(), _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GEOZONE_CACHE_DIR": str(folder / "cache"),
           "GEOZONE_STORE_URL": f"sqlite:///{folder / 'store.sqlite'}",
           "GEOZONE_TRUST_FORWARDED_PREFIX": "true"}  # fmt: skip
    app_log = folder / "app.log"
    with app_log.open("wb") as sink:
        app = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "tests.deploy.grid_app:create",
             "--host", "127.0.0.1", "--port", str(app_port), "--proxy-headers",
             "--forwarded-allow-ips", "127.0.0.1", "--no-access-log"],
            cwd=ROOT, env=env, stdout=sink, stderr=sink,
        )  # fmt: skip
    config = nginx_config(folder, https_port, app_port)
    assert NGINX is not None
    test = subprocess.run([NGINX, "-t", "-c", str(config)], capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    proxy_log = folder / "nginx.out"
    with proxy_log.open("wb") as sink:
        proxy = subprocess.Popen(
            [NGINX, "-c", str(config), "-g", "daemon off;"], stdout=sink, stderr=sink
        )
    try:
        _wait(f"http://127.0.0.1:{app_port}/health", app, app_log)
        base = f"https://127.0.0.1:{https_port}/geozone"
        _wait(f"{base}/health", proxy, proxy_log)
        yield base
    finally:
        proxy.terminate()
        app.terminate()
        proxy.wait(timeout=30)
        app.wait(timeout=30)


def test_the_landing_page_names_the_sub_path_through_nginx(through_nginx: str) -> None:
    origin = through_nginx.removesuffix("/geozone")
    assert httpx.get(origin + "/geozone", verify=False).headers["location"].endswith("/geozone/")
    landing = httpx.get(f"{through_nginx}/", params={"f": "json"}, verify=False).json()
    hrefs = {link["rel"]: link["href"] for link in landing["links"]}
    assert hrefs["data"] == f"{through_nginx}/collections"  # scheme, host:port and prefix kept
    page = httpx.get(
        f"{through_nginx}/collections/units/items", params={"limit": 3}, verify=False
    ).json()
    (following,) = [x["href"] for x in page["links"] if x["rel"] == "next"]
    assert following.startswith(f"{through_nginx}/collections/units/items?")
    zipped = httpx.get(
        f"{through_nginx}/collections/units/items",
        verify=False,
        headers={"Accept-Encoding": "gzip"},
    )
    assert zipped.headers["content-encoding"] == "gzip"  # the service's, passed through


@needs_assets
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: apt-get install chromium")
@pytest.mark.parametrize("path", ["/maps/clusters/grid-centre", "/docs"])
def test_pages_load_whole_below_the_sub_path(through_nginx: str, path: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    requests: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(ignore_https_errors=True)
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on(
            "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{through_nginx}{path}", wait_until="networkidle")
        selector = ".leaflet-container" if path.startswith("/maps") else ".opblock-summary-path"
        page.wait_for_selector(selector, timeout=60_000)
        drawn: Any = page.locator(selector).count()
        browser.close()
    assert drawn > 0
    assert failed == [] and errors == []
    web = [u for u in requests if urlsplit(u).scheme in ("http", "https")]
    assert web and all(u.startswith(f"{through_nginx}/") for u in web), web
