from __future__ import annotations

from pathlib import Path

import pytest

from geozone.settings import Settings, get_settings, layer_getter


def test_store_url_defaults_to_sqlite_in_the_cache(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    assert settings.store_url == f"sqlite:///{tmp_path}/geozone.sqlite"


def test_the_core_settings_hold_no_web_or_map_field() -> None:
    fields = set(Settings.model_fields)
    assert not {f for f in fields if f.startswith(("api_", "cors_", "tiles_"))}


class _Layer(Settings):
    layer_value: int = 1


def test_a_layer_getter_reads_once_and_again_after_the_core_is_cleared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    get_layer = layer_getter(_Layer)
    monkeypatch.setenv("GEOZONE_LAYER_VALUE", "2")
    get_settings.cache_clear()
    try:
        first = get_layer()
        assert first.layer_value == 2 and get_layer() is first
        monkeypatch.setenv("GEOZONE_LAYER_VALUE", "3")
        assert get_layer() is first  # cached
        get_settings.cache_clear()
        assert get_layer().layer_value == 3
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
