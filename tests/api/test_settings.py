from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import ApiSettings, get_api_settings
from geozone.settings import get_settings


def test_the_service_settings_are_the_whole_core_maps_and_web(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GEOZONE_API_MAX_POINTS", "7")
    monkeypatch.setenv("GEOZONE_CORS_ORIGINS", '["https://map.example"]')
    monkeypatch.setenv("GEOZONE_TILES_URL", "https://tiles.example/{z}/{x}/{y}.png")
    settings = ApiSettings(cache_dir=tmp_path)
    assert settings.api_max_points == 7 and settings.cors_origins == ["https://map.example"]
    assert settings.tiles_url == "https://tiles.example/{z}/{x}/{y}.png"
    assert settings.store_url == f"sqlite:///{tmp_path}/geozone.sqlite"
    with pytest.raises(ValidationError, match="api_store_busy_timeout_s"):
        ApiSettings(api_store_busy_timeout_s=60)


def test_the_service_settings_are_cleared_with_the_core_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEOZONE_API_MAX_POINTS", "11")
    get_settings.cache_clear()
    try:
        assert get_api_settings().api_max_points == 11
        monkeypatch.setenv("GEOZONE_API_MAX_POINTS", "12")
        assert get_api_settings().api_max_points == 11
        get_settings.cache_clear()
        assert get_api_settings().api_max_points == 12
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
