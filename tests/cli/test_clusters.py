"""``clusters show`` and ``clusters zones`` resolve cluster ids with one resolver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from geozone import cli
from geozone.cli._clusters import resolve_cluster
from geozone.errors import UnknownClusterError
from geozone.settings import Settings, get_settings

runner = CliRunner()


@pytest.fixture
def real_cache(built_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(built_settings.cache_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def invoke(*args: str) -> Any:
    return runner.invoke(cli.app, list(args), env={"COLUMNS": "300"})


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_show_accepts_every_id_zones_accepts() -> None:
    from geozone.context import judging_context

    context = judging_context()
    placed = {t.cluster.id for t in context.territories}
    assert "gia-lam-vn2025" in placed and "gia-lam" in context.clusters
    for cluster_id in placed | set(context.clusters):
        cluster, territory = resolve_cluster(context, cluster_id)
        assert cluster.id == cluster_id
        assert (territory is not None) == (cluster_id in placed)
    shown = invoke("clusters", "show", "gia-lam-vn2025", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["standing"]["carried_from"] == "gia-lam"
    zones = invoke("clusters", "zones", "gia-lam-vn2025", "--json")
    assert zones.exit_code == 0 and json.loads(zones.stdout)["cluster"] == "gia-lam-vn2025"
    with pytest.raises(UnknownClusterError, match="no cluster 'nowhere'; known: ") as error:
        resolve_cluster(context, "nowhere")
    assert "gia-lam-vn2025" in str(error.value) and "gia-lam," in str(error.value)
    for command in ("show", "zones"):  # the same answer from both commands
        refused = invoke("clusters", command, "nowhere")
        assert isinstance(refused.exception, UnknownClusterError)
        assert str(refused.exception) == str(error.value)


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_show_marks_the_partial_members() -> None:
    """Tây Hồ is a partial member of the carried T11 (4.5 % of it from old Nghĩa Đô)."""
    shown = invoke("clusters", "show", "hoa-do-phuc-vi-vn2025")
    assert shown.exit_code == 0, shown.output
    rows = {line.split("│")[1].strip(): line for line in shown.output.splitlines() if "│" in line}
    assert "unit (partial)" in rows["tay-ho-00103"]
    assert "partial" not in rows["ngoc-ha-00008"]
    assert "partial: only part of the unit's territory comes from a unit that signed" in (
        shown.output
    )
    whole = invoke("clusters", "show", "can-tho-an-giang")
    assert whole.exit_code == 0 and "partial" not in whole.output
