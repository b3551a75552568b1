from __future__ import annotations

import pytest
from pydantic import ValidationError

from geozone.settings import get_settings
from maps.settings import MapSettings, get_map_settings


def test_basemap_tiles_are_off_by_default_and_only_http_templates_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GEOZONE_TILES_URL", raising=False)
    assert MapSettings().tiles_url is None
    monkeypatch.setenv("GEOZONE_TILES_URL", "https://tiles.example/{z}/{x}/{y}.png")
    assert MapSettings().tiles_url == "https://tiles.example/{z}/{x}/{y}.png"
    for bad in ("javascript:alert(1)//{z}", "https://tiles.example/0/0/0.png", "ftp://x/{z}"):
        with pytest.raises(ValidationError, match="tiles_url"):
            MapSettings(tiles_url=bad)


def test_the_map_settings_are_cleared_with_the_core_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEOZONE_TILES_ATTRIBUTION", "first")
    get_settings.cache_clear()
    try:
        assert get_map_settings().tiles_attribution == "first"
        monkeypatch.setenv("GEOZONE_TILES_ATTRIBUTION", "second")
        assert get_map_settings().tiles_attribution == "first"
        get_settings.cache_clear()
        assert get_map_settings().tiles_attribution == "second"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
