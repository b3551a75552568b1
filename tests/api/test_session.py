"""Sign-in for browsers (api/routers/session.py): cookies, CSRF, sign-out, stored sessions."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import KeyStore, hash_key
from api.routers.session import safe_next
from geozone.store import open_store
from tests.api.conftest import Api
from tests.fixtures.patrol import SQUARE, zone


def login_form(client: TestClient, next_path: str = "/") -> str:
    """Open the sign-in page; return the form's anti-forgery token."""
    page = client.get("/login", params={"next": next_path})
    assert page.status_code == 200 and "Đăng nhập / Sign in" in page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def sign_in(api: Api, role: str, next_path: str = "/") -> httpx.Response:
    token = login_form(api.client, next_path)
    return api.client.post(
        "/login",
        data={"name": f"{role}-key", "key": api.keys[role], "csrf": token, "next": next_path},
        follow_redirects=False,
    )


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """The Set-Cookie headers of an answer, by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def test_signing_in_sets_an_httponly_strict_session_and_a_readable_csrf_cookie(api: Api) -> None:
    response = sign_in(api, "planner", "/maps/planner/grid-centre")
    assert response.status_code == 303
    assert response.headers["location"] == "/maps/planner/grid-centre"
    cookies = set_cookies(response)
    session, csrf = cookies["gz_session"].lower(), cookies["gz_csrf"].lower()
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session
    assert "max-age=28800" in session
    assert "httponly" not in csrf and "samesite=strict" in csrf
    # plain http (the test client): no Secure, so the browser keeps the cookie at all
    assert "secure" not in session
    # the session is in the store (the token's hash only), so every worker knows it
    token = api.client.cookies["gz_session"]
    with open_store(api.store_url) as store:
        keys = KeyStore(store.engine)
        found = keys.find_session(token)
        assert found is not None and found["name"] == "planner-key"
        rows = store.engine.connect().exec_driver_sql("SELECT token_hash FROM web_sessions")
        assert [r[0] for r in rows] == [hash_key(token)]
    # a second app over the same store (another worker) answers the same cookie
    other = create_app(api.client.app.state.settings, context=api.client.app.state.context)
    with TestClient(other) as second:
        second.cookies.set("gz_session", token)
        assert second.get("/incidents").status_code == 200


def test_secure_cookies_over_https(api: Api) -> None:
    client = TestClient(api.client.app, base_url="https://testserver")
    token = login_form(client)
    response = client.post(
        "/login",
        data={"name": "analyst-key", "key": api.keys["analyst"], "csrf": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookies = set_cookies(response)
    assert "secure" in cookies["gz_session"].lower() and "secure" in cookies["gz_csrf"].lower()


def test_a_signed_in_browser_reads_and_writes_with_the_csrf_token_only(api: Api) -> None:
    c = api.client
    assert c.get("/incidents").status_code == 401
    assert sign_in(api, "planner").status_code == 303
    assert c.get("/incidents").status_code == 200  # the cookie alone reads
    # a write by cookie without the token (a forged form of another origin) is refused
    forged = c.post("/patrol-zones", json=zone(SQUARE))
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    wrong = c.post("/patrol-zones", json=zone(SQUARE), headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    csrf = c.cookies["gz_csrf"]
    made = c.post("/patrol-zones", json=zone(SQUARE), headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201 and made.json()["properties"]["created_by"] == "planner-key"
    # scripts with X-API-Key are unaffected (no cookie, no token)
    script = TestClient(c.app)  # no cookies
    assert (
        script.post("/patrol-zones", json=zone(SQUARE), headers=api.auth("planner")).status_code
        == 201
    )
    # the audit log names the user of the session (a refused write: nobody signed in)
    with open_store(api.store_url) as store:
        rows = KeyStore(store.engine).audit_rows(10)
    assert [(r["path"], r["key_name"], r["status"]) for r in rows][-3:] == [
        ("/patrol-zones", None, 403),
        ("/patrol-zones", None, 403),
        ("/login", "planner-key", 303),
    ]


def test_a_session_keeps_the_keys_role_and_scope(api: Api) -> None:
    assert sign_in(api, "viewer").status_code == 303
    assert api.client.get("/incidents").status_code == 403  # a viewer stays a viewer
    api.client.cookies.clear()
    scoped = api.client.post(
        "/keys",
        json={"name": "ward", "role": "analyst", "scopes": ["unit:00005"]},
        headers=api.auth("admin"),
    ).json()["key"]
    token = login_form(api.client)
    response = api.client.post(
        "/login", data={"name": "ward", "key": scoped, "csrf": token}, follow_redirects=False
    )
    assert response.status_code == 303
    by_cookie = api.client.get("/incidents")
    by_key = TestClient(api.client.app).get("/incidents", headers={"X-API-Key": scoped})
    assert by_cookie.status_code == by_key.status_code == 200
    assert by_cookie.json() == by_key.json()
    # a route that does not honour scopes refuses the session as it refuses the key
    csrf = {"X-CSRF-Token": api.client.cookies["gz_csrf"]}
    refused = api.client.post("/clusters/grid-centre/coverage", json={}, headers=csrf)
    assert refused.status_code == 403 and "limited to unit:00005" in refused.json()["detail"]


def test_wrong_name_key_or_form_is_refused(api: Api) -> None:
    c = api.client
    token = login_form(c)
    wrong = c.post("/login", data={"name": "admin-key", "key": api.keys["viewer"], "csrf": token})
    assert wrong.status_code == 401 and "không đúng" in wrong.text
    assert "gz_session" not in c.cookies
    # a sign-in form posted from elsewhere (no token of this page) is refused
    c.cookies.clear()
    forged = c.post("/login", data={"name": "admin-key", "key": api.keys["admin"]})
    assert forged.status_code == 403 and "gz_session" not in c.cookies
    # a revoked key's session ends
    assert sign_in(api, "analyst").status_code == 303
    assert c.get("/incidents").status_code == 200
    assert c.delete("/keys/analyst-key", headers=api.auth("admin")).status_code == 200
    assert c.get("/incidents").status_code == 401


def test_sign_out_ends_the_session_in_the_store(api: Api) -> None:
    c = api.client
    assert sign_in(api, "analyst").status_code == 303
    token = c.cookies["gz_session"]
    assert c.post("/logout", follow_redirects=False).status_code == 403  # forged: no token
    out = c.post("/logout", data={"csrf": c.cookies["gz_csrf"]}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"].startswith("/login")
    assert "gz_session" not in c.cookies
    c.cookies.set("gz_session", token)  # the old cookie is worth nothing now
    assert c.get("/incidents").status_code == 401


def test_sessions_expire(api: Api) -> None:
    with open_store(api.store_url) as store:
        keys = KeyStore(store.engine)
        gone = keys.open_session("analyst-key", api.keys["analyst"], timedelta(seconds=-1))
        live = keys.open_session("analyst-key", api.keys["analyst"], timedelta(hours=1))
        assert gone is not None and live is not None
        assert keys.find_session(gone.token) is None
        assert keys.find_session(live.token) is not None
        assert keys.open_session("someone", api.keys["analyst"], timedelta(hours=1)) is None


def test_the_index_page_offers_sign_in_then_sign_out(api: Api) -> None:
    html = {"Accept": "text/html"}
    assert '/login?next=%2F"' in api.client.get("/", headers=html).text
    sign_in(api, "planner")
    page = api.client.get("/", headers=html).text
    assert "Đã đăng nhập" in page and '/logout"' in page
    assert api.client.cookies["gz_csrf"] in page


def test_next_stays_on_this_service() -> None:
    assert safe_next("/maps/clusters/x?limit=5") == "/maps/clusters/x?limit=5"
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil.example", "", None, "x"):
        assert safe_next(bad) == "/"
