"""Memory of a served instance after each kind of load: RSS printed after every step.

The server is the app over the hand-built test grid (``tests/served.py``) in its own process
on loopback, with a SQLite store in a temporary folder; its resident memory is read from
``/proc`` after each load, and the first figure (just started, after 200 ``/health`` calls) is
the baseline of the same run. The loads:

1. ``POST /incidents/import`` of a CSV of ``--rows`` synthetic incidents (1 % broken rows),
   ``--imports`` times (distinct files), each waited for until its job is done;
2. ``POST /incidents`` of 10,000 records, ``--posts`` times;
3. ``GET /incidents`` pages of 1,000 with offsets over the whole store, 50 times;
4. a 256 MB chunked body to ``/locate`` without a key (cut at the limit with 413).

Run: ``.venv/bin/python benchmarks/bench_memory.py [--rows 100000 --imports 3 --posts 5]``.
Target: memory is bounded, not growing with the load: the last import adds under 50 MB to
the RSS after the one before, and no later load rises 50 MB above the highest import. The first
import's growth is what the process keeps for good: SQLite's page cache (16 MB per pooled
connection, ``geozone.store._engine``) and the location indexes built for the first large batch.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import grid_vertex_lonlat  # noqa: E402


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One request; (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    answer = response.status, response.read()
    connection.close()
    return answer


def incident_csv(rows: int, seed: int, prefix: str) -> bytes:
    """A CSV of synthetic incidents around the grid's centre, 1 % of rows broken."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = grid_vertex_lonlat(0, 0)
    lon1, lat1 = grid_vertex_lonlat(3, 3)
    lon = rng.uniform(lon0, lon1, rows)
    lat = rng.uniform(lat0, lat1, rows)
    minutes = rng.integers(0, 500_000, rows)
    day = np.datetime64("2024-01-01T00:00") + minutes.astype("timedelta64[m]")
    when = np.datetime_as_string(day, unit="m")
    lines = [b"external_id,occurred_at,lon,lat,category,description,synthetic"]
    lines += [
        f"{prefix}{k},{when[k]},{lon[k]:.6f},{lat[k]:.6f},theft,SYNTHETIC,true".encode()
        if k % 100
        else f"{prefix}{k},01/01/0001,{lon[k]:.6f},{lat[k]:.6f},theft,SYNTHETIC".encode()
        for k in range(rows)
    ]
    return b"\n".join(lines) + b"\n"


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file field."""
    boundary = "geozone-bench-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), boundary


def wait_job(port: int, job_id: str, headers: dict[str, str]) -> dict[str, object]:
    """Poll a job until it is done or failed."""
    while True:
        status, body = request(port, "GET", f"/jobs/{job_id}", None, headers)
        job = json.loads(body)
        if status != 200 or job["status"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.5)


def chunked_abuse(port: int, total: int) -> int | None:
    """POST ``total`` bytes of JSON whitespace, chunked, to /locate; the status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.putrequest("POST", "/locate")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    chunk = b" " * (1 << 20)
    try:
        connection.send(b"1\r\n[\r\n")
        for _ in range(total // len(chunk)):
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
    except OSError:
        pass
    try:
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def print_verdict(rows: list[tuple[str, float, float]], imports: int) -> None:
    """Print the growth over the baseline and whether memory stopped growing."""
    base = rows[0][1]
    highest_import = max(r[1] for r in rows[1 : imports + 1])
    last_step = rows[imports][1] - rows[imports - 1][1] if imports >= 2 else 0.0
    later = max(r[1] for r in rows[imports + 1 :])
    grew = highest_import - base
    print(
        f"baseline {base:.1f} MB; highest after an import {highest_import:.1f} MB (+{grew:.1f}); "
        f"after the later loads at most {later:.1f} MB"
    )
    bounded = last_step < 50 and later <= highest_import + 50
    print(
        f"target: the last import adds {last_step:+.1f} MB (< 50) and the later loads stay "
        f"within 50 MB of the imports' peak ({later - highest_import:+.1f}): "
        f"{'met' if bounded else 'NOT met'}"
    )


def main() -> None:
    """Start the server, run the loads, print the RSS after each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--imports", type=int, default=3)
    parser.add_argument("--posts", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="geozone-bench-memory-") as folder:
        work = Path(folder)
        port = free_port()
        command = [
            sys.executable, "-m", "tests.served", "--port", str(port),
            "--store", f"sqlite:///{work / 'store.sqlite'}", "--keys", str(work / "keys.json"),
        ]  # fmt: skip
        server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "GEOZONE_WORKERS": "2"})
        try:
            for _ in range(240):
                if (work / "keys.json").exists():
                    try:
                        if request(port, "GET", "/health", None, {})[0] == 200:
                            break
                    except OSError:
                        pass
                time.sleep(0.25)
            keys = json.loads((work / "keys.json").read_text())
            planner = {"X-API-Key": keys["planner"]}
            rows: list[tuple[str, float, float]] = []

            def note(step: str, seconds: float) -> None:
                rows.append((step, rss_mb(server.pid), seconds))
                print(f"{step:<48} RSS {rows[-1][1]:8.1f} MB   ({seconds:6.1f} s)", flush=True)

            began = time.monotonic()
            for _ in range(200):
                request(port, "GET", "/health", None, {})
            note("baseline: started, 200 × /health", time.monotonic() - began)
            for i in range(args.imports):
                data, boundary = multipart(f"i{i}.csv", incident_csv(args.rows, i, f"imp{i}-"))
                began = time.monotonic()
                status, body = request(
                    port,
                    "POST",
                    "/incidents/import",
                    data,
                    {**planner, "Content-Type": f"multipart/form-data; boundary={boundary}"},
                )
                job = wait_job(port, json.loads(body)["id"], planner)
                report = job.get("report") or {}
                assert job["status"] == "done", job
                note(
                    f"import {i + 1}: {args.rows:,} rows, {report.get('stored', 0):,} stored",
                    time.monotonic() - began,
                )
            lon, lat = grid_vertex_lonlat(1, 1)
            for i in range(args.posts):
                records = [
                    {"external_id": f"post{i}-{k}", "occurred_at": "2024-06-01T08:00:00+07:00",
                     "lon": lon, "lat": lat, "category": "drugs", "synthetic": True}
                    for k in range(10_000)
                ]  # fmt: skip
                began = time.monotonic()
                status, _ = request(
                    port,
                    "POST",
                    "/incidents",
                    json.dumps(records).encode(),
                    {**planner, "Content-Type": "application/json"},
                )
                assert status == 200, status
                note(f"POST /incidents {i + 1}: 10,000 records", time.monotonic() - began)
            began = time.monotonic()
            for page in range(50):
                request(port, "GET", f"/incidents?limit=1000&offset={page * 5_000}", None, planner)
            note("50 × GET /incidents (1,000 per page)", time.monotonic() - began)
            began = time.monotonic()
            status_abuse = chunked_abuse(port, 256 << 20)
            note(f"256 MB chunked body without key: {status_abuse}", time.monotonic() - began)
            print_verdict(rows, args.imports)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
