"""Where the data files and the cache are: the checkout's, or a wheel's and the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from geozone import resources
from geozone.clusters.files import DEFAULT_CLUSTERS_DIR
from geozone.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_from_the_checkout_the_paths_are_as_they_always_were(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GEOZONE_CACHE_DIR", raising=False)
    monkeypatch.delenv("GEOZONE_MANIFEST_PATH", raising=False)
    assert resources.source_checkout() == ROOT
    settings = Settings()
    assert settings.manifest_path == ROOT / "data" / "boundaries" / "sources.toml"
    assert settings.cache_dir == ROOT / ".cache" / "geozone"
    assert DEFAULT_CLUSTERS_DIR == ROOT / "data" / "clusters"
    assert settings.manifest_path.is_file() and any(DEFAULT_CLUSTERS_DIR.glob("*.toml"))


def test_installed_the_data_is_packaged_and_the_cache_is_the_users(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(resources, "source_checkout", lambda: None)
    packaged = ROOT / "geozone" / "_data"
    assert resources.data_path("boundaries", "sources.toml") == packaged / "boundaries/sources.toml"
    assert resources.data_path("clusters") == packaged / "clusters"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert resources.default_cache_dir() == tmp_path / "geozone"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resources.default_cache_dir() == tmp_path / "home" / ".cache" / "geozone"
    monkeypatch.delenv("GEOZONE_CACHE_DIR", raising=False)
    assert Settings().cache_dir == tmp_path / "home" / ".cache" / "geozone"
