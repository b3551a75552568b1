from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from geozone.boundaries.manifest import load_manifest
from geozone.errors import ConfigurationError, UnknownBoundarySetError
from geozone.settings import get_settings


def test_committed_manifest_describes_both_sets() -> None:
    manifest = load_manifest(get_settings().manifest_path)
    current, legacy = manifest.get("vn2025"), manifest.get("vn-legacy-districts")
    assert current.expected == {"province": 34, "ward": 3321}
    assert legacy.expected == {"province": 62, "district": 692, "ward": 10047}
    assert current.valid_from == date(2025, 7, 1) and current.valid_to is None
    assert legacy.valid_to == date(2025, 6, 30)
    assert len(current.sha256) == 64 and current.licence == "MIT" and legacy.licence == "GPL-3.0"
    assert [e.id for e in manifest.in_force(date(2025, 7, 1))] == ["vn2025"]
    assert [e.id for e in manifest.in_force(date(2025, 6, 30))] == ["vn-legacy-districts"]
    assert manifest.in_force(date(1990, 1, 1)) == []


def test_unknown_set_lists_known_ones() -> None:
    with pytest.raises(UnknownBoundarySetError, match="vn2025"):
        load_manifest(get_settings().manifest_path).get("vn1990")


def test_broken_manifest_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "sources.toml"
    bad.write_text("[sets.x]\ntitle = 'no other field'\n")
    with pytest.raises(ConfigurationError, match="invalid"):
        load_manifest(bad)
    bad.write_text("not = [toml")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_manifest(bad)
    with pytest.raises(ConfigurationError, match="not found"):
        load_manifest(tmp_path / "missing.toml")
