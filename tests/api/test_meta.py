"""The API docs pages (``/docs``, ``/redoc``) in Chromium: offline, at the root and below a
proxy's sub-path.

uvicorn serves the app over the test grid on 127.0.0.1 behind a stand-in for nginx
(:func:`behind_proxy`): ``/geozone/…`` is forwarded with the prefix stripped and
``X-Forwarded-Prefix: /geozone``, as ``deploy/nginx.conf`` does, and the app trusts that
header (``GEOZONE_TRUST_FORWARDED_PREFIX``). Headless Chromium opens each docs page; every
request it makes is recorded: none may leave loopback, none may fail, and the page must
show the API's operations (Swagger UI's operation blocks, ReDoc's operation sections).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from api.app import create_app
from api.settings import ApiSettings
from tests.fixtures.browser import CHROMIUM
from tests.fixtures.pages import needs_assets
from tests.served import grid_context

PREFIX = "/geozone"
LOOPBACK = {"127.0.0.1", "localhost"}


def behind_proxy(app: ASGIApp, prefix: str = PREFIX) -> ASGIApp:
    """Forward ``<prefix>/…`` to ``app`` as nginx.conf does: prefix stripped, header set."""

    async def proxy(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == prefix or path.startswith(prefix + "/")):
            stripped = path[len(prefix) :] or "/"
            headers = [(k, v) for k, v in scope["headers"] if k != b"x-forwarded-prefix"]
            scope = {
                **scope,
                "path": stripped,
                "raw_path": stripped.encode(),
                "headers": [*headers, (b"x-forwarded-prefix", prefix.encode())],
            }
        await app(scope, receive, send)

    return proxy


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    folder = tmp_path_factory.mktemp("docs")
    settings = ApiSettings(
        store_url=f"sqlite:///{folder / 'store.sqlite'}",
        cache_dir=folder / "cache",
        trust_forwarded_prefix=True,
    )
    app = behind_proxy(create_app(settings, context=grid_context()))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def _operations(base: str) -> set[str]:
    """The paths of the operations the OpenAPI document lists."""
    described = httpx.get(f"{base}/openapi.json", timeout=30).json()
    return set(described["paths"])


def _count_operations(base: str) -> int:
    """How many operations (path and method) the OpenAPI document lists."""
    described = httpx.get(f"{base}/openapi.json", timeout=30).json()
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    return sum(len(methods & set(item)) for item in described["paths"].values())


@needs_assets
@pytest.mark.parametrize("prefix", ["", PREFIX], ids=["root", "sub-path"])
def test_docs_pages_html_carries_local_urls_only(served: str, prefix: str) -> None:
    for page in ("docs", "redoc"):
        html = httpx.get(f"{served}{prefix}/{page}", timeout=30).text
        found = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)""", html)
        found += re.findall(r"""\burl:\s*['"]([^'"]+)""", html)  # Swagger UI's document
        assert found and all(u.startswith(f"{prefix}/") for u in found), found
        assert "googleapis" not in html and "jsdelivr" not in html and "tiangolo" not in html
    for asset in (
        "vendor/swagger-ui-dist/swagger-ui-bundle.js",
        "vendor/swagger-ui-dist/swagger-ui.css",
        "vendor/redoc/redoc.standalone.js",
    ):
        answer = httpx.get(f"{served}{prefix}/maps/static/{asset}", timeout=30)
        assert answer.status_code == 200 and len(answer.content) > 100_000, asset


@needs_assets
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: apt-get install chromium")
@pytest.mark.parametrize("prefix", ["", PREFIX], ids=["root", "sub-path"])
@pytest.mark.parametrize("page_name", ["docs", "redoc"])
def test_docs_page_renders_offline(
    served: str, browser: Any, prefix: str, page_name: str, tmp_path: Path
) -> None:
    operations = _operations(served)
    context = browser.new_context()
    page = context.new_page()
    requests: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on(
        "response",
        lambda response: (
            failed.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{served}{prefix}/{page_name}", wait_until="networkidle")
    if page_name == "docs":
        page.wait_for_selector(".opblock-summary-path", timeout=60_000)
        shown = set(page.locator(".opblock-summary-path").evaluate_all(
            "els => els.map(e => e.getAttribute('data-path'))"
        ))  # fmt: skip
    else:
        page.wait_for_selector("[data-section-id^='operation/']", timeout=60_000)
        shown = set(page.locator("[data-section-id^='operation/']").evaluate_all(
            "els => els.map(e => e.getAttribute('data-section-id'))"
        ))  # fmt: skip
        shown = {s for s in shown if s}
    page.screenshot(path=str(tmp_path / f"{page_name}.png"))
    off_host = [
        url
        for url in requests
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname not in LOOPBACK
    ]
    context.close()
    assert off_host == []
    assert failed == [] and errors == []
    same_origin = [u for u in requests if urlsplit(u).scheme.startswith("http")]
    assert all(urlsplit(u).path.startswith(f"{prefix}/") for u in same_origin), same_origin
    if page_name == "docs":
        assert shown == operations  # every path of the API has its operation block
    else:
        assert len(shown) == _count_operations(served)  # one section per operation
