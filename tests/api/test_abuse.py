"""Abuse against a served instance (its own process, on loopback): bodies without a key,
chunked bodies past the limit, the server's memory measured from outside, and the requests
that used to answer 5xx."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.grid import grid_point

ROOT = Path(__file__).resolve().parents[2]
#: The served instance's body limit (small, so the test sends many times the limit quickly).
LIMIT = 4 * 1024 * 1024


@dataclass
class Served:
    """A served instance: its process, port and keys."""

    process: subprocess.Popen[bytes]
    port: int
    keys: dict[str, str]

    def rss_mb(self) -> float:
        """The server's resident memory now, in MB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        return kb / 1024

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(
        self, method: str, path: str, body: bytes | None = None, role: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = self.connection()
        headers = {"Content-Type": "application/json"}
        if role:
            headers["X-API-Key"] = self.keys[role]
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        connection.close()
        return answer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the server's memory")
    folder = tmp_path_factory.mktemp("served")
    port = _free_port()
    keys_file = folder / "keys.json"
    command = [
        sys.executable, "-m", "tests.served", "--port", str(port), "--keys", str(keys_file),
        "--store", f"sqlite:///{folder / 'store.sqlite'}", "--max-body-bytes", str(LIMIT),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "GEOZONE_WORKERS": "1"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the served instance did not start") from None
                time.sleep(0.2)
        keys = json.loads(keys_file.read_text(encoding="utf-8"))
        yield Served(process, port, keys)
    finally:
        process.terminate()
        process.wait(timeout=30)


class PeakRss(threading.Thread):
    """Samples the server's memory every 10 ms until stopped; keeps the peak."""

    def __init__(self, served: Served) -> None:
        super().__init__(daemon=True)
        self.served, self.peak, self.done = served, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.served.rss_mb())
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.join()


def send_chunked(
    served: Served, path: str, total: int, role: str | None = None, first: bytes = b"["
) -> tuple[int | None, int]:
    """POST ``total`` bytes of JSON whitespace, chunked (no declared size); return the status
    (None when the server closed without one) and the bytes the client managed to send."""
    connection = served.connection()
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    if role:
        connection.putheader("X-API-Key", served.keys[role])
    connection.endheaders()
    chunk = b" " * (1 << 20)
    sent = 0
    try:
        connection.send(b"%x\r\n%s\r\n" % (len(first), first))
        while sent < total:
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass  # the server answered and closed before the body ended
    try:
        status: int | None = connection.getresponse().status
    except (http.client.RemoteDisconnected, ConnectionResetError):
        status = None
    connection.close()
    return status, sent


def test_a_chunked_body_past_the_limit_is_cut_with_413_and_memory_stays_flat(
    served: Served,
) -> None:
    assert served.request("GET", "/health")[0] == 200
    before = served.rss_mb()
    with PeakRss(served) as peak:
        status, sent = send_chunked(served, "/locate", 50 * LIMIT)  # public: no key needed
    assert status == 413 and sent == 50 * LIMIT  # the rest was read and dropped
    assert peak.peak - before < 8 * LIMIT / 2**20, (before, peak.peak)
    assert served.request("GET", "/health")[0] == 200  # still serving


def answer_before_the_body(served: Served, path: str, role: str | None = None) -> int:
    """Send the headers and one byte of a chunked body, then wait for the answer (5 s)."""
    connection = served.connection()
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    if role:
        connection.putheader("X-API-Key", served.keys[role])
    connection.endheaders()
    connection.send(b"1\r\n[\r\n")
    assert connection.sock is not None
    connection.sock.settimeout(5)
    status = connection.getresponse().status  # a server that waits for the body times out
    connection.close()
    return status


def test_a_write_without_a_key_is_refused_before_its_body_is_read(served: Served) -> None:
    for path in ("/incidents", "/incidents/import", "/patrol-zones", "/keys", "/clusters"):
        assert answer_before_the_body(served, path) == 401, path
    assert answer_before_the_body(served, "/incidents", "analyst") == 403
    assert answer_before_the_body(served, "/keys", "planner") == 403
    before = served.rss_mb()
    with PeakRss(served) as peak:
        for path in ("/incidents", "/incidents/import"):
            assert send_chunked(served, path, 50 * LIMIT)[0] == 401
    assert peak.peak - before < 8 * LIMIT / 2**20, (before, peak.peak)
    assert send_chunked(served, "/incidents", 50 * LIMIT, role="planner")[0] == 413


def test_a_declared_size_past_the_limit_is_refused_unread(served: Served) -> None:
    connection = served.connection()
    connection.putrequest("POST", "/locate")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(10 * LIMIT))
    connection.endheaders()
    assert connection.getresponse().status == 413  # answered before a byte of the body
    connection.close()


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", "/clusters/grid-centre/hotspots?alpha=5e-324", None, 422),
        ("POST", "/patrol-zones", {"type": "Polygon"}, 400),
        ("POST", "/patrol-zones", "NaN", 400),
        ("GET", "/incidents?offset=1e20", None, 422),
        ("GET", "/incidents?offset=100000000000000000000", None, 422),
        # OGC API – Features answers invalid parameters with 400
        ("GET", "/collections/incidents/items?offset=100000000000000000000", None, 400),
        ("GET", "/incidents?start=0001-01-01T00:00:00", None, 422),
        ("GET", "/incidents?start=20250801", None, 422),
        ("GET", "/clusters/grid-centre/border-effect?from=-3.1652669692509506e-35", None, 422),
        ("GET", "/clusters/grid-centre/border-effect?from=2024-01-01&from=2025-01-01", None, 422),
        ("GET", "/clusters/grid-centre/border-effect?by=category&by=kind", None, 422),
        (
            "GET",
            "/collections/incidents/items?datetime=0001-01-01T00:00:00/9999-12-31T23:59:59",
            None,
            400,
        ),
        ("GET", "/clusters/grid-centre/report?from=0001-01-01&to=9999-12-31", None, 422),
        ("POST", "/incidents", "year-1", 422),  # its one record rejected: nothing stored
        ("PUT", "/health", None, 405),
    ],
)
def test_former_server_errors_are_client_errors(
    served: Served, method: str, path: str, body: object, expected: int
) -> None:
    payload: bytes | None = None
    lon, lat = grid_point(500, 500)
    if body == "NaN":  # JSON with a bare NaN, as Python's json writes it
        ring = [[lon, "NaN"], [lon + 0.01, lat], [lon, lat + 0.01], [lon, "NaN"]]
        text = json.dumps({"cluster_id": "grid-centre", "name": "x",
                           "geometry": {"type": "Polygon", "coordinates": [ring]}})  # fmt: skip
        payload = text.replace('"NaN"', "NaN").encode()
    elif body == "year-1":
        payload = json.dumps({"external_id": "y1", "occurred_at": "0001-01-01T00:00:00+07:00",
                              "lon": lon, "lat": lat, "category": "theft"}).encode()  # fmt: skip
    elif body is not None:
        payload = json.dumps({"cluster_id": "grid-centre", "name": "x", "geometry": body}).encode()
    status, headers, answer = served.request(method, path, payload, role="admin")
    assert status == expected, answer[:300]
    if status == 405:
        assert headers["allow"] == "GET"
    assert headers["content-type"] in ("application/json", "application/problem+json")


def test_a_repeated_parameter_is_named_unless_it_takes_a_list(served: Served) -> None:
    path = "/clusters/grid-centre/report?from=2024-01-01&from=2025-01-01"
    status, _, answer = served.request("GET", path, None, role="admin")
    assert status == 422
    problem = json.loads(answer)
    assert problem["errors"][0]["loc"] == ["query", "from"]
    assert "2 times" in problem["errors"][0]["msg"]
    status, _, answer = served.request(
        "GET", "/incidents?category=theft&category=fraud", None, role="admin"
    )
    assert status == 200, answer[:300]


@pytest.mark.parametrize("vertices", [300, 4_999])
def test_a_tangled_polygon_is_refused_quickly(served: Served, vertices: int) -> None:
    """Random vertices: tens of thousands of crossings, minutes of repair; refused at once."""
    import numpy as np

    lon, lat = grid_point(500, 500)
    rng = np.random.default_rng(vertices)
    ring = np.c_[lon + rng.uniform(0, 0.01, vertices), lat + rng.uniform(0, 0.01, vertices)]
    closed = [*ring.tolist(), ring[0].tolist()]
    geometry = {"type": "Polygon", "coordinates": [closed]}
    body = {"cluster_id": "grid-centre", "name": "x", "geometry": geometry}
    began = time.monotonic()
    status, _, answer = served.request("POST", "/patrol-zones", json.dumps(body).encode(), "admin")
    assert status == 400 and b"not repaired" in answer, answer[:200]
    assert time.monotonic() - began < 3
