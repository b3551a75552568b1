from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from geozone.context import load_context
from geozone.settings import Settings


@pytest.mark.realdata
def test_t11_bridge_and_neighbours_on_vn2025(built_settings: Settings, tmp_path: Path) -> None:
    context = load_context(built_settings)
    app = create_app(
        built_settings, context=context, store_url=f"sqlite:///{tmp_path / 's.sqlite'}"
    )
    with TestClient(app) as client:
        located = client.get(
            "/locate", params={"lon": 105.8064, "lat": 21.0387, "detected_by": "nghia-do"}
        ).json()
        assert located["set_id"] == "vn2025" and located["on_boundary"] is True
        assert {c["code"] for c in located["candidates"]} == {"00160", "00008"}
        assert "hoa-do-phuc-vi-vn2025" in {c["cluster_id"] for c in located["clusters"]}
        near = client.get("/units/00160/neighbours").json()
        assert {"00008", "00166", "00103"} <= {u["code"] for u in near}
        found = client.get("/units", params={"q": "Nghĩa Đô", "level": "ward"}).json()
        assert found["units"][0]["code"] == "00160"
