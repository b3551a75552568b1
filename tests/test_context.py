"""prepare_for: what a large batch would make on first use is made beforehand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from geozone.assignment import jurisdiction
from geozone.boundaries import _locate
from geozone.context import load_context, prepare_for
from geozone.settings import Settings


def test_a_large_batch_after_prepare_for_makes_nothing(
    built_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = load_context(built_settings)
    prepare_for(context, _locate.CORE_MIN_POINTS, built_settings.boundary_tolerance_m)
    current = context.current
    made: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        made.append("outline pieces")
        raise AssertionError("outline pieces made after prepare_for")

    monkeypatch.setattr(_locate.OutlinePieces, "build", refuse)
    rng = np.random.default_rng(5)
    west, south, east, north = current.frame.total_bounds
    n = _locate.CORE_MIN_POINTS
    incidents = pd.DataFrame(
        {
            "external_id": [f"p{i}" for i in range(n)],
            "occurred_at": pd.Timestamp("2025-09-01", tz="Asia/Ho_Chi_Minh"),
            "lon": rng.uniform(west, east, n),
            "lat": rng.uniform(south, north, n),
        }
    )
    units = jurisdiction(incidents, [current], built_settings.boundary_tolerance_m)
    assert not made and (units["locate_status"] == "inside").any()
    for placed in context.territories:
        if placed.bset.id == current.id and placed.decides and placed.applies:
            ready = placed.__dict__
            assert "table" in ready and "reach" in ready
            if placed.geometric:
                assert "boundary_index" in ready and "junctions" in ready
                assert "member_tree" in ready or not placed.carried_sides
