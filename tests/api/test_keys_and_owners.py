"""Who may do what: the write rule, owners, job reports, the last admin key, key names,
upload folders."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.auth_store import KeyStore, create_key, printable
from api.errors import LastAdminKeyError
from api.services.incidents import UPLOAD_PREFIX, remove_stale_uploads, save_upload
from geozone.errors import InvalidParameterError
from geozone.store import open_store
from tests.api.conftest import Api
from tests.fixtures.clusters import east_cluster
from tests.fixtures.incidents import record
from tests.fixtures.patrol import SQUARE, zone


def test_analysts_read_incidents_and_planners_write_them(api: Api) -> None:
    for role, expected in (("viewer", 403), ("analyst", 403), ("planner", 200), ("admin", 200)):
        posted = api.client.post(
            "/incidents", json=record(f"r-{role}", 950, 300), headers=api.auth(role)
        )
        assert posted.status_code == expected, (role, posted.text)
        started = api.client.post(
            "/incidents/import",
            files={"file": ("x.csv", b"external_id,occurred_at,lon,lat,category\n")},
            headers=api.auth(role),
        )
        assert started.status_code == (202 if expected == 200 else 403), role
    assert api.client.get("/incidents/r-planner", headers=api.auth("analyst")).status_code == 200
    assert api.client.get("/incidents", headers=api.auth("viewer")).status_code == 403


def test_a_job_report_is_for_its_submitter_and_admins(api: Api) -> None:
    other = {"X-API-Key": create_key(api.store_url, "planner-2", "planner")}
    started = api.client.post(
        "/incidents/import",
        files={"file": ("x.csv", b"external_id,occurred_at,lon,lat,category\nq,x,1,2,theft\n")},
        headers=api.auth("planner"),
    )
    url = f"/jobs/{started.json()['id']}"
    assert api.client.get(url, headers=api.auth("planner")).json()["report"]["rejected"] == 1
    assert api.client.get(url, headers=api.auth("admin")).status_code == 200
    for headers in (api.auth("analyst"), other):
        refused = api.client.get(url, headers=headers)
        assert refused.status_code == 403 and "q" not in refused.text


def test_owners_change_their_own_zones_and_clusters_admins_all(api: Api) -> None:
    other = {"X-API-Key": create_key(api.store_url, "planner-2", "planner")}
    made = api.client.post("/patrol-zones", json=zone(SQUARE), headers=api.auth("planner"))
    url = f"/patrol-zones/{made.json()['id']}"
    assert api.client.put(url, json=zone(SQUARE, "khác"), headers=other).status_code == 403
    assert api.client.delete(url, headers=other).status_code == 403
    assert api.client.put(url, json=zone(SQUARE, "mới"), headers=api.auth("planner")).is_success
    assert api.client.delete(url, headers=api.auth("admin")).status_code == 204

    assert api.client.post("/clusters", json=east_cluster(), headers=api.auth("planner")).is_success
    renamed = east_cluster(name="Cụm khác")
    assert api.client.put("/clusters/grid-east", json=renamed, headers=other).status_code == 403
    assert api.client.put("/clusters/grid-east", json=renamed, headers=api.auth("admin")).is_success


def test_the_last_admin_key_cannot_be_revoked(api: Api) -> None:
    admin = api.auth("admin")
    refused = api.client.delete("/keys/admin-key", headers=admin)
    assert refused.status_code == 409 and "last admin key" in refused.json()["detail"]
    assert api.client.post(
        "/keys", json={"name": "boss", "role": "admin"}, headers=admin
    ).is_success
    assert api.client.delete("/keys/admin-key", headers=admin).status_code == 200
    with open_store(api.store_url) as store:
        keys = KeyStore(store.engine)
        with pytest.raises(LastAdminKeyError):
            keys.revoke_key("boss")
        assert keys.active_admins() == 1


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", "nul\x00", "bidi\u202e", "  "])
def test_key_names_are_plain_text(api: Api, name: str) -> None:
    answer = api.client.post(
        "/keys", json={"name": name, "role": "viewer"}, headers=api.auth("admin")
    )
    assert answer.status_code == 400 and (not name.strip() or name not in answer.text)
    with pytest.raises(InvalidParameterError):
        create_key(api.store_url, name, "viewer")
    assert printable("forged\nadmin\tadmin") == "forged\\nadmin\\tadmin"


def test_uploads_leave_no_folder_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))

    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > 0:
                raise ConnectionResetError("client went away")
            return super().read(size)

    with pytest.raises(ConnectionResetError):
        save_upload(Broken(b"x" * (3 << 20)), "a.csv", 10 << 20)
    assert list(tmp_path.glob(f"{UPLOAD_PREFIX}*")) == []
    kept = save_upload(io.BytesIO(b"abc"), "b.csv", 10)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / f"{UPLOAD_PREFIX}{int(gone.stdout)}-abc"
    stale.mkdir()
    (stale / "upload.csv").write_bytes(b"left by a crash")
    assert remove_stale_uploads(tmp_path) == 1
    assert not stale.exists() and kept.exists() and str(os.getpid()) in kept.parent.name
