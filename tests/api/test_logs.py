"""Structured logs (``GEOZONE_LOG_FORMAT=json``): one JSON object a line, one line a request."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import create_key
from api.logs import LOG_CONFIG, JsonFormatter
from api.settings import ApiSettings
from geozone.context import Context

ROOT = Path(__file__).resolve().parents[2]


def test_each_request_is_one_json_line_without_its_key(
    tmp_path: Path, grid_context: Context, caplog: pytest.LogCaptureFixture
) -> None:
    store = f"sqlite:///{tmp_path / 's.sqlite'}"
    key = create_key(store, "analyst-1", "analyst")
    settings = ApiSettings(cache_dir=tmp_path, store_url=store, log_format="json")
    with (
        TestClient(create_app(settings, context=grid_context)) as client,
        caplog.at_level(logging.INFO, logger="geozone.access"),
    ):
        given = client.get("/health", headers={"X-Request-ID": "nginx-42"})
        keyed = client.get("/incidents", params={"limit": 1}, headers={"X-API-Key": key})
        client.get("/no-such-path?token=secret")
    assert given.headers["X-Request-ID"] == "nginx-42"
    assert len(keyed.headers["X-Request-ID"]) == 32  # a new id when none is given
    records = [r for r in caplog.records if r.name == "geozone.access"]
    lines = [json.loads(JsonFormatter().format(r)) for r in records]
    assert [(ln["method"], ln["path"], ln["status"]) for ln in lines] == [
        ("GET", "/health", 200),
        ("GET", "/incidents", keyed.status_code),
        ("GET", "/no-such-path", 404),  # the query string is not logged
    ]
    first = lines[0]
    assert set(first) >= {"time", "level", "logger", "message", "duration_ms", "request_id"}
    assert first["request_id"] == "nginx-42" and first["level"] == "INFO"
    assert first["time"].endswith("Z") and first["duration_ms"] >= 0
    assert lines[1]["request_id"] == keyed.headers["X-Request-ID"]
    text = "\n".join(JsonFormatter().format(r) for r in records)
    assert key not in text and "secret" not in text


def test_text_logs_add_no_request_lines(
    tmp_path: Path, grid_context: Context, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ApiSettings(cache_dir=tmp_path, store_url=f"sqlite:///{tmp_path / 's.sqlite'}")
    with (
        TestClient(create_app(settings, context=grid_context)) as client,
        caplog.at_level(logging.INFO, logger="geozone.access"),
    ):
        assert "X-Request-ID" not in client.get("/health").headers
    assert [r for r in caplog.records if r.name == "geozone.access"] == []


def test_an_exception_stays_on_its_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord("geozone", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line and "ValueError" in json.loads(line)["exception"]


def test_deploy_logging_json_is_the_log_config() -> None:
    shipped = json.loads((ROOT / "deploy" / "logging.json").read_text(encoding="utf-8"))
    assert shipped == LOG_CONFIG
