"""A throw-away PostgreSQL + PostGIS server for tests and benchmarks.

:class:`TempPostgres` runs ``initdb`` into a fresh temporary folder, starts the server with
``pg_ctl`` listening on 127.0.0.1 only (a free port, the socket in the same folder, trust
authentication for local connections, no fsync), and removes everything on :meth:`stop`.

PostgreSQL refuses to run as root, so as root the folder is handed to the ``postgres`` OS user
and ``initdb``/``pg_ctl`` run as that user (``runuser -u postgres --``, else ``su postgres``).
Either way the bootstrap superuser is named after the *current* OS user, so clients connect as
themselves without a password.

Binaries are found in ``GEOZONE_PG_BINDIR`` when it is set (only there), else in
``pg_config --bindir`` or the newest ``/usr/lib/postgresql/*/bin``; :func:`find_pg_bindir`
returns None when none has them (Debian: ``apt-get install postgresql postgresql-15-postgis-3``).
"""

from __future__ import annotations

import atexit
import contextlib
import getpass
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

#: The database every test database is copied from: migrated once per session.
TEMPLATE_DB = "geozone_template"


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL or PostGIS is not installed, or the server cannot be started."""


def find_pg_bindir() -> Path | None:
    """Return the folder holding ``initdb`` and ``pg_ctl``, or None when absent."""
    if env := os.environ.get("GEOZONE_PG_BINDIR"):  # when set, the only place looked at
        folder = Path(env)
        return folder if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file() else None
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TempPostgres:
    """A PostgreSQL server in a temporary folder, on loopback only.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self) -> None:
        bindir = find_pg_bindir()
        if bindir is None:
            raise PostgresUnavailableError(
                "PostgreSQL server binaries not found (no initdb and pg_ctl in "
                "GEOZONE_PG_BINDIR, pg_config --bindir or /usr/lib/postgresql/*/bin); on Debian: "
                "apt-get install postgresql postgresql-15-postgis-3"
            )
        self.bindir = bindir
        self.user = getpass.getuser()
        self.root: Path | None = None
        self.port = 0
        self._as_postgres = os.geteuid() == 0

    # -- process helpers -------------------------------------------------------------------
    def _command(self, args: list[str]) -> list[str]:
        if not self._as_postgres:
            return args
        if shutil.which("runuser"):
            return ["runuser", "-u", "postgres", "--", *args]
        return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(args)]

    def _run(self, args: list[str]) -> None:
        done = subprocess.run(
            self._command(args), capture_output=True, text=True, check=False, timeout=120
        )
        if done.returncode != 0:
            log = ""
            if self.root is not None and (self.root / "server.log").exists():
                log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise PostgresUnavailableError(
                f"{shlex.join(args)} failed ({done.returncode}): "
                f"{done.stderr.strip() or done.stdout.strip()}\n{log}"
            )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> TempPostgres:
        """Create the cluster, start the server and check that PostGIS is available."""
        self.root = Path(tempfile.mkdtemp(prefix="geozone-pg-"))
        atexit.register(self.stop)  # also when the caller forgets, or a test run is interrupted
        if self._as_postgres:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailableError(
                    "running as root, but there is no 'postgres' OS user to run the server as"
                ) from exc
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        data = self.root / "data"
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                self.user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )
        last: PostgresUnavailableError | None = None
        for _ in range(3):  # the free port may be taken between probe and bind
            self.port = _free_port()
            options = (
                f"-k {self.root} -h 127.0.0.1 -p {self.port} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
            )
            try:
                self._run(
                    [
                        str(self.bindir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-l",
                        str(self.root / "server.log"),
                        "-o",
                        options,
                        "-w",
                        "-t",
                        "60",
                        "start",
                    ]
                )
                break
            except PostgresUnavailableError as exc:
                last = exc
        else:
            self.stop()
            raise PostgresUnavailableError(f"the server did not start: {last}")
        with self.admin() as conn:
            row = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
        if row is None:
            self.stop()
            raise PostgresUnavailableError(
                f"PostgreSQL in {self.bindir} has no PostGIS extension; on Debian: "
                "apt-get install postgresql-15-postgis-3 (matching the server version)"
            )
        return self

    def stop(self) -> None:
        """Stop the server at once and delete its folder."""
        if self.root is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailableError, subprocess.TimeoutExpired):
                self._run([str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases -------------------------------------------------------------------------
    def url(self, dbname: str) -> str:
        """SQLAlchemy URL of database ``dbname`` on this server (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection to the ``postgres`` maintenance database."""
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (optionally copied from ``template``); return its URL."""
        clause = f" TEMPLATE {template}" if template else ""
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}{clause}")  # type: ignore[arg-type]
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, closing any connection left to it."""
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
