from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from geozone.settings import Settings


def test_basemap_tiles_are_off_by_default_and_only_http_templates_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GEOZONE_TILES_URL", raising=False)
    assert Settings().tiles_url is None
    monkeypatch.setenv("GEOZONE_TILES_URL", "https://tiles.example/{z}/{x}/{y}.png")
    assert Settings().tiles_url == "https://tiles.example/{z}/{x}/{y}.png"
    for bad in ("javascript:alert(1)//{z}", "https://tiles.example/0/0/0.png", "ftp://x/{z}"):
        with pytest.raises(ValidationError, match="tiles_url"):
            Settings(tiles_url=bad)


def test_store_url_defaults_to_sqlite_in_the_cache(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    assert settings.store_url == f"sqlite:///{tmp_path}/geozone.sqlite"
