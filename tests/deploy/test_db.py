"""``geozone db init`` on a throw-away PostGIS: what it creates and checks, and one-line errors.

Every connection or permission problem ends the command with one line on stderr naming the
problem, and exit code 2: a wrong port, a wrong password, a role that may not create tables,
a role that may not enable PostGIS. The same lines come from other commands that open the
store (``geozone users list``, ``geozone incidents import``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from geozone.settings import Settings
from tests.store.pg import TempPostgres

ROOT = Path(__file__).resolve().parents[2]
GEOZONE = [sys.executable, "-c", "import sys; from geozone.cli import main; sys.exit(main())"]


def _geozone(
    *args: str, store: str | None = None, cache: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    if cache is not None:
        env["GEOZONE_CACHE_DIR"] = str(cache)
    if store is not None:
        env["GEOZONE_STORE_URL"] = store
    return subprocess.run(
        [*GEOZONE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    message = done.stderr.strip()
    assert "Traceback" not in message and "\n" not in message, message
    assert message.startswith("error: store postgresql+psycopg://")
    return message


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sql(postgres: TempPostgres, *statements: str, dbname: str = "postgres") -> None:
    with psycopg.connect(
        host="127.0.0.1", port=postgres.port, user=postgres.user, dbname=dbname, autocommit=True
    ) as connection:
        for statement in statements:
            connection.execute(statement)  # type: ignore[arg-type]


def test_init_creates_then_checks_a_store_as_its_owner(postgres: TempPostgres) -> None:
    url = postgres.create_database("init_owner")
    first = _geozone("db", "init", "--store", url, "--json")
    assert first.returncode == 0, first.stderr
    created = json.loads(first.stdout)
    assert created["backend"] == "postgresql" and created["superuser"] is True
    assert created["postgis_action"] == "created" and created["postgis"]
    assert created["revision_before"] is None and created["schema_action"] == "created"
    assert created["tables"] >= 10 and created["schema"] == "public"
    again = json.loads(_geozone("db", "init", "--store", url, "--json").stdout)
    assert again["postgis_action"] == "present" and again["schema_action"] == "up to date"
    assert again["revision_after"] == created["revision_after"]
    text = _geozone("db", "init", "--store", url)
    assert text.returncode == 0 and "schema up to date at revision" in text.stdout


def test_init_as_the_least_privilege_role_of_deploy(postgres: TempPostgres) -> None:
    # the DBA's part, as deploy/postgis-roles.sql does it: PostGIS on, a schema of its own
    _sql(postgres, "CREATE ROLE lp LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
         "CREATE DATABASE lp_db")  # fmt: skip
    _sql(postgres, "CREATE EXTENSION postgis", "CREATE SCHEMA geozone AUTHORIZATION lp",
         "ALTER ROLE lp IN DATABASE lp_db SET search_path = geozone, public",
         dbname="lp_db")  # fmt: skip
    url = f"postgresql+psycopg://lp@127.0.0.1:{postgres.port}/lp_db"
    done = _geozone("db", "init", "--store", url, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["superuser"] is False and report["postgis_action"] == "present"
    assert report["schema"] == "geozone" and report["schema_action"] == "created"


def test_a_wrong_port_is_one_line(postgres: TempPostgres) -> None:
    port = _free_port()
    url = f"postgresql+psycopg://{postgres.user}@127.0.0.1:{port}/postgres"
    for command in (("db", "init", "--store", url), ("users", "list", "--store", url)):
        message = _one_line_error(_geozone(*command))
        assert f"nothing answers at 127.0.0.1:{port} (wrong port or host" in message
    for command in (("incidents", "list"), ("serve", "--production")):
        message = _one_line_error(_geozone(*command, store=url))  # serve: before loading data
        assert f"nothing answers at 127.0.0.1:{port}" in message


def test_an_import_to_a_wrong_port_is_one_line(built_settings: Settings, tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    one.write_text(
        "external_id,occurred_at,lon,lat,category\n"
        "a1,2025-08-01T08:00:00+07:00,105.8064,21.0387,theft\n",
        encoding="utf-8",
    )
    port = _free_port()
    url = f"postgresql+psycopg://geozone:secret@127.0.0.1:{port}/geozone"
    done = _geozone("incidents", "import", str(one), "--store", url, cache=built_settings.cache_dir)
    message = _one_line_error(done)
    assert f"nothing answers at 127.0.0.1:{port}" in message and "secret" not in message


def test_a_wrong_password_is_one_line_without_the_password(postgres: TempPostgres) -> None:
    _sql(postgres, "CREATE ROLE pw LOGIN PASSWORD 'right-one'", "CREATE DATABASE pw_db OWNER pw")
    assert postgres.root is not None
    hba = postgres.root / "data" / "pg_hba.conf"  # the password is asked of this role only
    hba.write_text(
        "host all pw 127.0.0.1/32 scram-sha-256\n" + hba.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    _sql(postgres, "SELECT pg_reload_conf()")
    url = f"postgresql+psycopg://pw:wrong-one@127.0.0.1:{postgres.port}/pw_db"
    message = _one_line_error(_geozone("db", "init", "--store", url))
    assert "wrong password for role pw" in message and "wrong-one" not in message
    # the right password gets further: the owner of the database may not enable PostGIS
    right = _one_line_error(_geozone("db", "init", "--store", url.replace("wrong", "right")))
    assert "wrong password" not in right and "CREATE EXTENSION postgis" in right


def test_a_role_without_create_rights_is_one_line(postgres: TempPostgres) -> None:
    _sql(postgres, "CREATE ROLE ro LOGIN", "CREATE DATABASE ro_db")
    _sql(postgres, "CREATE EXTENSION postgis", dbname="ro_db")  # PostgreSQL 15: no CREATE on public
    url = f"postgresql+psycopg://ro@127.0.0.1:{postgres.port}/ro_db"
    message = _one_line_error(_geozone("db", "init", "--store", url))
    assert "role ro lacks a right: permission denied for schema public" in message
    assert "CREATE SCHEMA geozone AUTHORIZATION ro" in message
    imported = _one_line_error(_geozone("users", "list", "--store", url))
    assert "permission denied for schema public" in imported


def test_a_role_that_may_not_enable_postgis_is_one_line(postgres: TempPostgres) -> None:
    _sql(postgres, "CREATE ROLE nopg LOGIN", "CREATE DATABASE nopg_db OWNER nopg")
    url = f"postgresql+psycopg://nopg@127.0.0.1:{postgres.port}/nopg_db"
    message = _one_line_error(_geozone("db", "init", "--store", url))
    assert 'permission denied to create extension "postgis"' in message
    assert "a superuser must run CREATE EXTENSION postgis in database nopg_db" in message


@pytest.mark.parametrize("missing", ["database", "role"])
def test_a_missing_database_or_role_is_named(postgres: TempPostgres, missing: str) -> None:
    user, db = (postgres.user, "no_such_db") if missing == "database" else ("ghost", "postgres")
    url = f"postgresql+psycopg://{user}@127.0.0.1:{postgres.port}/{db}"
    message = _one_line_error(_geozone("db", "init", "--store", url))
    expected = "database no_such_db does not exist" if missing == "database" else "role ghost"
    assert expected in message
