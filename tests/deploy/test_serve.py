"""``geozone serve --production``: no synthetic data, no key minted, JSON logs, workers.

uvicorn is not started here (``uvicorn.run`` is replaced and its arguments kept); the
workers themselves, the sub-path and the logs of a running deployment are tried in
test_deploy.py.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api import cli
from api.auth_store import KeyStore
from api.logs import LOG_CONFIG
from geozone.settings import Settings, get_settings
from geozone.store import IncidentQuery, open_store


@pytest.fixture
def production_env(
    built_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(built_settings.cache_dir))
    monkeypatch.setenv("GEOZONE_STORE_URL", store_url)
    names = ("GEOZONE_LOG_FORMAT", "GEOZONE_TRUST_FORWARDED_PREFIX", "GEOZONE_ROOT_PATH")
    before = {name: os.environ.pop(name, None) for name in names}  # serve sets them
    loggers = [logging.getLogger(name) for name in ("", "geozone", "uvicorn", "uvicorn.access")]
    kept = [(logger, logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    get_settings.cache_clear()
    try:
        yield store_url
    finally:
        for name, value in before.items():  # for the tests after this one
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
        get_settings.cache_clear()
        for logger, handlers, propagate, level in kept:  # serve configured LOG_CONFIG
            logger.handlers[:] = handlers
            logger.propagate, logger.level = propagate, level


def test_production_makes_no_demo_data_no_key_and_logs_json(
    production_env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import uvicorn

    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(app=app, **kwargs))
    cli.serve(
        host="0.0.0.0", port=8124, production=True, workers=3, root_path="/geozone",
        demo_incidents=None,
    )  # fmt: skip
    printed = capsys.readouterr()
    lines = [json.loads(line) for line in printed.err.splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert "http://127.0.0.1:8124/geozone/maps/clusters/" in " ".join(messages)
    (warning,) = [line for line in lines if line["level"] == "WARNING"]
    assert warning["message"] == (
        "no admin key yet (production mode makes none): make the first with "
        "geozone users add NAME --role admin"
    )
    assert "SYNTHETIC" not in printed.out + printed.err and "first admin key" not in printed.err
    with open_store(production_env) as store:
        assert store.count(IncidentQuery()) == 0
        assert KeyStore(store.engine).list_keys() == []
    # the workers: the app factory from the environment, which serve filled in
    assert started["app"] == "api.app:create_app" and started["factory"] is True
    assert started["workers"] == 3 and started["host"] == "0.0.0.0"
    assert started["log_config"] == LOG_CONFIG and started["access_log"] is False
    assert os.environ["GEOZONE_LOG_FORMAT"] == "json"
    assert os.environ["GEOZONE_ROOT_PATH"] == "/geozone"
    assert os.environ["GEOZONE_TRUST_FORWARDED_PREFIX"] == "true"


def test_production_refuses_demo_data(production_env: str) -> None:
    import typer

    with pytest.raises(typer.BadParameter, match="--production stores no synthetic data"):
        cli.serve(production=True, demo_incidents=100)
