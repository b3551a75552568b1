"""The clusters planners define, in the core: checks, read-only committed ones, persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.model import Cluster
from geozone.clusters.registry import ClusterRegistry
from geozone.context import Context
from geozone.errors import (
    ClusterConflictError,
    ClusterDefinitionError,
    ClusterIdChangeError,
    DataNotFoundError,
)
from geozone.store import open_store
from geozone.store.planner import PlannerStore
from tests.fixtures.clusters import grid_cluster


def east(**changes: Any) -> Cluster:
    """Wards 2 and 3 of the grid's bottom row."""
    data: dict[str, Any] = {
        "id": "grid-east",
        "name": "Cụm phía đông",
        "name_en": "East cluster",
        "boundary_set": "grid",
        "level": "ward",
        "zone_width_m": 100,
        "period": {"start": "2020-01-01"},
        "members": [
            {"id": "e2", "kind": "unit", "unit_code": "00002", "name": "Phường Ô 2"},
            {"id": "e3", "kind": "unit", "unit_code": "00003", "name": "Ô 3"},
        ],
    }
    data.update(changes)
    return Cluster.model_validate(data)


def test_the_registry_checks_stores_and_reloads_definitions(
    grid: BoundarySet, tmp_path: Path
) -> None:
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    base = Context([grid], {"grid-centre": territory.cluster}, [territory], {"grid": "t"})
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        registry = ClusterRegistry(base, PlannerStore(store.engine))
        with pytest.raises(ClusterConflictError, match="read-only"):
            registry.create(east(id="grid-centre"), "p")
        with pytest.raises(DataNotFoundError, match="POST /clusters"):
            registry.update("grid-east", east(), "p")
        with pytest.raises(ClusterDefinitionError, match="not in grid"):
            registry.create(east(members=[*east().model_dump()["members"][:1], _ward(9)]), "p")
        defined = registry.create(east(), "p")
        assert defined.ids == {"grid-east"} and registry.is_defined("grid-east")
        assert registry.source("grid-east") == "api" and registry.source("grid-centre") == "file"
        with pytest.raises(ClusterConflictError, match="PUT /clusters/grid-east"):
            registry.create(east(), "p")
        with pytest.raises(ClusterIdChangeError, match="cannot change"):
            registry.update("grid-east", east(id="other"), "p")
        assert [t.cluster.id for t in base.territories] == ["grid-centre"]  # never changed
        assert "grid-east" in registry.context.clusters
        again = ClusterRegistry(base, PlannerStore(store.engine))
        assert again.is_defined("grid-east") and again.problems == []
        record = again.record("grid-east")
        assert record is not None and record["created_by"] == "p"


def _ward(n: int) -> dict[str, Any]:
    return {"id": f"e{n}", "kind": "unit", "unit_code": f"0009{n}", "name": f"Ô 9{n}"}
