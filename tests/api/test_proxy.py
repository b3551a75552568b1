"""Behind a reverse proxy at a sub-path: every URL a page or document writes carries it.

The prefix comes from ``X-Forwarded-Prefix`` when trusted, else uvicorn's ``--root-path``,
else ``GEOZONE_ROOT_PATH`` (:mod:`api.proxy`). The pages are requested as the proxy forwards
them: the prefix stripped from the path.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import create_key
from api.proxy import clean_prefix
from api.settings import ApiSettings
from geozone.context import Context
from tests.fixtures.pages import needs_assets

PAGES = (
    "/docs",
    "/redoc",
    "/?f=html",
    "/maps/clusters/grid-centre",
    "/maps/planner/grid-centre",
    "/maps/reports/grid-centre",
)
HTML = {"Accept": "text/html"}


def _client(tmp_path: Path, context: Context, **settings: object) -> TestClient:
    api_settings = ApiSettings(
        cache_dir=tmp_path / "cache", store_url=f"sqlite:///{tmp_path / 's.sqlite'}", **settings
    )
    return TestClient(create_app(api_settings, context=context))


def _local_urls(html: str) -> list[str]:
    """Every URL of this service in a page (its path): attributes, and its scripts' JSON."""
    found = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)""", html)
    found += re.findall(r'"(/(?:maps|clusters|patrol-zones|collections|openapi)[^"]*)"', html)
    found += re.findall(r"""\burl:\s*['"]([^'"]+)""", html)
    parts = [urlsplit(url) for url in found]
    return [p.path for p in parts if p.netloc in ("", "testserver") and p.path.startswith("/")]


@needs_assets
@pytest.mark.parametrize(
    ("settings", "headers"),
    [
        ({"trust_forwarded_prefix": True}, {"X-Forwarded-Prefix": "/geozone"}),
        ({"root_path": "/geozone/"}, {}),
        (
            {"root_path": "/other", "trust_forwarded_prefix": True},
            {"X-Forwarded-Prefix": "/geozone"},
        ),
    ],
    ids=["forwarded-prefix", "root-path-setting", "header-over-setting"],
)
def test_every_page_url_carries_the_prefix(
    tmp_path: Path, grid_context: Context, settings: dict[str, object], headers: dict[str, str]
) -> None:
    with _client(tmp_path, grid_context, **settings) as client:
        for page in PAGES:
            answer = client.get(page, headers={**HTML, **headers})
            assert answer.status_code == 200, (page, answer.text[:300])
            urls = _local_urls(answer.text)
            assert urls, page
            assert [u for u in urls if not u.startswith("/geozone/")] == [], page
        # a keyed URL opened by link: the key page, its target and files below the prefix
        asked = client.get("/incidents/export", headers={**HTML, **headers})
        assert asked.status_code == 401
        assert '"url":"/geozone/incidents/export"' in asked.text
        assert all(u.startswith("/geozone/") for u in _local_urls(asked.text))
        landing = client.get("/", params={"f": "json"}, headers=headers).json()
        hrefs = [link["href"] for link in landing["links"]]
        assert all(h.startswith("http://testserver/geozone/") for h in hrefs), hrefs


def test_an_untrusted_or_invalid_prefix_is_ignored(tmp_path: Path, grid_context: Context) -> None:
    with _client(tmp_path, grid_context) as client:  # not trusted by default
        page = client.get("/maps/clusters/grid-centre", headers={"X-Forwarded-Prefix": "/evil"})
        assert "/evil" not in page.text and 'src="/maps/static/' in page.text
    with _client(tmp_path, grid_context, trust_forwarded_prefix=True) as client:
        for bad in ("/a/../b", "javascript:x", "//evil.example", "/a b", '/x"><script>'):
            page = client.get("/maps/clusters/grid-centre", headers={"X-Forwarded-Prefix": bad})
            assert page.status_code == 200 and 'src="/maps/static/' in page.text, bad


def test_prefixes_are_checked() -> None:
    assert clean_prefix("/geozone/") == "/geozone" and clean_prefix("") == ""
    assert clean_prefix("/a/b.c_d~e-f") == "/a/b.c_d~e-f"
    for bad in ("geozone", "/a/../b", "/a?b", "http://x/y", "/a//b"):
        assert clean_prefix(bad) is None, bad
    with pytest.raises(ValueError, match="is not a URL path prefix"):
        ApiSettings(root_path="no-slash")


def test_writes_are_refused_before_their_body_behind_a_prefix(
    tmp_path: Path, grid_context: Context
) -> None:
    # The request guard matches the route path, not the prefixed one: no key, no body read.
    admin = create_key(f"sqlite:///{tmp_path / 's.sqlite'}", "admin-1", "admin")
    with _client(tmp_path, grid_context, root_path="/geozone", api_max_body_bytes=1024) as client:
        refused = client.post("/patrol-zones", content=b"x" * 5000)
        assert refused.status_code == 401
        # /incidents/import has its own, larger limit: its route is still known behind a prefix
        upload = client.post("/incidents/import", headers={"X-API-Key": admin}, content=b"x" * 2000)
        assert upload.status_code not in (401, 413), upload.text
