"""The README's deployment steps tried by hand on loopback, on the real boundary sets.

A throw-away PostgreSQL + PostGIS (tests/store/pg.py), deploy/postgis-roles.sql through psql,
a pgpass file, ``geozone db init`` (and once with a wrong port), ``geozone users add``, then
``geozone serve --production --workers 2`` called as nginx calls it. Prints what it saw::

    GEOZONE_CACHE_DIR=/path/to/built/cache python -m tests.deploy.try_loopback

Not a test: it loads the real sets in 3 processes (about 1.1 GB each).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.store.pg import TempPostgres

ROOT = Path(__file__).resolve().parents[2]
GEOZONE = [sys.executable, "-c", "import sys; from geozone.cli import main; sys.exit(main())"]
NGINX = {"X-Forwarded-Prefix": "/geozone", "X-Forwarded-Proto": "https",
         "Host": "geozone.intranet", "X-Request-ID": "try-1"}  # fmt: skip


def _run(command: list[str], env: dict[str, str], check: bool = True) -> str:
    shown = command[3:] if command[:3] == GEOZONE else command
    print("$", "geozone" if command[:3] == GEOZONE else "", " ".join(shown))
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    print(done.stdout.strip(), done.stderr.strip()[-1500:], f"(exit {done.returncode})", sep="\n")
    if check and done.returncode != 0:
        raise SystemExit(done.returncode)
    return done.stdout.strip()


def _serve(env: dict[str, str], work: Path, key: str) -> None:
    port = 8772
    log = work / "serve.log"
    started = time.monotonic()
    with log.open("w") as sink:
        server = subprocess.Popen(
            [*GEOZONE, "serve", "--production", "--workers", "2", "--port", str(port)],
            env=env, cwd=ROOT, stdout=sink, stderr=sink,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit(log.read_text())
            time.sleep(1)
        print(f"serve --production answered /health after {time.monotonic() - started:.0f} s")
        landing = httpx.get(f"{base}/?f=json", headers=NGINX).json()
        print("landing data link:", [x["href"] for x in landing["links"] if x["rel"] == "data"])
        page = httpx.get(f"{base}/maps/clusters/hoa-do-phuc-vi-vn2025", headers=NGINX, timeout=120)
        scripts = re.findall(r'src="([^"]+)"', page.text)
        below = all(s.startswith("/geozone/") for s in scripts)
        print("map page scripts:", scripts[:2], "… all below /geozone:", below)
        docs = httpx.get(f"{base}/docs", headers=NGINX).text
        print("docs script:", re.findall(r'src="([^"]+)"', docs))
        admin = {**NGINX, "X-API-Key": key}
        for k in range(4):
            record = {"external_id": f"try-{k}", "occurred_at": "2025-08-01T08:00:00+07:00",
                      "lon": 105.8064 + k * 0.001, "lat": 21.0387, "category": "theft"}  # fmt: skip
            answer = httpx.post(f"{base}/incidents", headers=admin, json=record, timeout=60)
            print("POST /incidents", answer.status_code, answer.json().get("stored"))
        counts = {
            httpx.get(f"{base}/collections/incidents/items", headers=admin, timeout=60).json()[
                "numberMatched"
            ]
            for _ in range(6)
        }
        print("numberMatched over 6 reads (both workers):", counts)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    lines: list[dict[str, Any]] = [json.loads(x) for x in log.read_text().splitlines() if x]
    print("log lines:", len(lines), "all JSON; pids:", sorted({x["pid"] for x in lines}))
    access = [x for x in lines if x["logger"] == "geozone.access"]
    print("an access line:", json.dumps(access[-1], ensure_ascii=False))
    print("the key in the log:", key in log.read_text())


def main() -> None:
    """Run the steps and print what each gave."""
    server = TempPostgres().start()
    work = Path(tempfile.mkdtemp(prefix="geozone-try-"))
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PGPASSFILE": str(work / "pgpass"),
               "GEOZONE_STORE_URL":
                   f"postgresql+psycopg://geozone@127.0.0.1:{server.port}/geozone"}  # fmt: skip
        _run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-v", "password=SECRET",
              "-h", "127.0.0.1", "-p", str(server.port), "-U", server.user, "-d", "postgres",
              "-f", str(ROOT / "deploy" / "postgis-roles.sql")], env)  # fmt: skip
        (work / "pgpass").write_text(f"127.0.0.1:{server.port}:geozone:geozone:SECRET\n")
        (work / "pgpass").chmod(0o600)
        _run([*GEOZONE, "db", "init"], env)
        wrong = f"postgresql+psycopg://geozone@127.0.0.1:{server.port + 1}/geozone"
        _run([*GEOZONE, "db", "init", "--store", wrong], env, check=False)
        key = _run([*GEOZONE, "users", "add", "admin", "--role", "admin"], env)
        _serve(env, work, key)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
