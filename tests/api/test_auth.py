from __future__ import annotations

from typer.testing import CliRunner

from api.auth_store import KeyStore, hash_key
from api.cli import users_app
from geozone.store import open_store
from tests.api.conftest import Api


def test_incident_reads_need_an_analyst_key(api: Api) -> None:
    c = api.client
    missing = c.get("/incidents")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 401
    assert c.get("/incidents", headers={"X-API-Key": "not-a-key"}).status_code == 401
    assert c.get("/incidents", headers=api.auth("viewer")).status_code == 403
    assert c.get("/incidents", headers=api.auth("analyst")).status_code == 200
    assert c.get("/incidents", headers=api.auth("admin")).status_code == 200


def test_public_routes_need_no_key(api: Api) -> None:
    assert api.client.get("/sets").status_code == 200
    assert api.client.get("/units/00005").status_code == 200


def test_keys_are_stored_hashed_and_revocation_locks_out(api: Api) -> None:
    with open_store(api.store_url) as store:
        keys = KeyStore(store.engine)
        record = keys.find_key(api.keys["analyst"])
        assert record is not None and record["name"] == "analyst-key"
        listed = keys.list_keys()
        assert "key_hash" not in listed[0]
    admin = api.auth("admin")
    assert api.client.delete("/keys/analyst-key", headers=api.auth("planner")).status_code == 403
    revoked = api.client.delete("/keys/analyst-key", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert api.client.get("/incidents", headers=api.auth("analyst")).status_code == 401
    assert hash_key(api.keys["analyst"]) != api.keys["analyst"]


def test_admin_creates_a_key_shown_once(api: Api) -> None:
    created = api.client.post(
        "/keys", json={"name": "ops", "role": "analyst"}, headers=api.auth("admin")
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert api.client.get("/incidents", headers={"X-API-Key": key}).status_code == 200
    listed = api.client.get("/keys", headers=api.auth("admin")).json()
    assert {k["name"] for k in listed} >= {"ops", "admin-key"}
    assert all(k["key"] is None for k in listed)
    again = api.client.post(
        "/keys", json={"name": "ops", "role": "viewer"}, headers=api.auth("admin")
    )
    assert again.status_code == 409


def test_users_cli_adds_lists_and_revokes(api: Api) -> None:
    runner = CliRunner()
    added = runner.invoke(
        users_app, ["add", "cli-user", "--role", "planner", "--store", api.store_url]
    )
    assert added.exit_code == 0, added.output
    key = added.stdout.strip().splitlines()[0]
    assert api.client.get("/patrol-zones", headers={"X-API-Key": key}).status_code == 200
    listed = runner.invoke(users_app, ["list", "--store", api.store_url])
    assert "cli-user\tplanner" in listed.stdout
    revoked = runner.invoke(users_app, ["revoke", "cli-user", "--store", api.store_url])
    assert revoked.exit_code == 0
    assert api.client.get("/patrol-zones", headers={"X-API-Key": key}).status_code == 401
    bad = runner.invoke(users_app, ["add", "x", "--role", "emperor", "--store", api.store_url])
    assert bad.exit_code != 0


def test_writes_leave_audit_rows(api: Api) -> None:
    api.client.post("/incidents", json=[], headers=api.auth("viewer"))
    api.client.post("/keys", json={"name": "audited", "role": "viewer"}, headers=api.auth("admin"))
    api.client.post("/patrol-zones", json={})  # no key
    api.client.post("/locate", json=[])  # a read: not audited
    with open_store(api.store_url) as store:
        rows = KeyStore(store.engine).audit_rows()
    seen = [(r["method"], r["path"], r["status"], r["key_name"], r["role"]) for r in rows]
    assert seen == [
        ("POST", "/patrol-zones", 401, None, None),
        ("POST", "/keys", 201, "admin-key", "admin"),
        ("POST", "/incidents", 403, "viewer-key", "viewer"),
    ]
    assert rows[1]["summary"] == "created key 'audited' (viewer)"


def test_a_key_sent_as_basic_credentials_reads_but_never_writes(api: Api) -> None:
    import base64

    def basic(name: str, key: str) -> dict[str, str]:
        token = base64.b64encode(f"{name}:{key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    c = api.client
    analyst = basic("analyst-key", api.keys["analyst"])
    assert c.get("/incidents", headers=analyst).status_code == 200
    assert c.get("/collections/incidents/items", headers=analyst).status_code == 200
    viewer = basic("viewer-key", api.keys["viewer"])
    assert c.get("/incidents", headers=viewer).status_code == 403  # the key's own role
    wrong_name = c.get("/incidents", headers=basic("admin-key", api.keys["analyst"]))
    assert wrong_name.status_code == 401 and "not the key's name" in wrong_name.json()["detail"]
    assert c.get("/incidents", headers=basic("analyst-key", "not-a-key")).status_code == 401
    garbled = c.get("/incidents", headers={"Authorization": "Basic %%%"})
    assert garbled.status_code == 401 and "HTTP Basic" in garbled.json()["detail"]
    planner = basic("planner-key", api.keys["planner"])
    written = c.post("/incidents", json=[], headers=planner)
    assert written.status_code == 403 and "X-API-Key" in written.json()["detail"]
