"""The dask.distributed engine gives the local engine's answer, row for row."""

from __future__ import annotations

import functools
import os
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from geozone.incidents.distributed import assign_distributed, judging_context_of
from geozone.incidents.io import write_incidents
from geozone.incidents.stream import assign_file
from geozone.settings import Settings
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.clusters import grid_context
from tests.fixtures.incidents import real_sample
from tests.incidents.test_stream import edge_csv, grid_frame

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def importable_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes import the tests' context factory."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


def same_output(local: Path, dataset: Path) -> None:
    parts = sorted(dataset.glob("part-*.parquet"))
    assert len(parts) > 1
    pd.testing.assert_frame_equal(pd.read_parquet(local), pd.read_parquet(dataset))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_dask_on_two_workers_equals_the_local_engine(tmp_path: Path, suffix: str) -> None:
    frame = grid_frame(400, 11, datetime(2023, 1, 1).date(), datetime(2024, 12, 31).date())
    frame.loc[[150, 151, 390], "external_id"] = frame.loc[3, "external_id"]  # across parts
    frame.loc[[10, 200, 399], "lat"] = 40.0  # rejects in several parts
    source = write_incidents(frame, tmp_path / f"in{suffix}")
    if suffix == ".parquet":  # row groups of 50: parts of 100 rows
        import pyarrow.parquet as pq

        table = pq.read_table(source)
        pq.write_table(table, source, row_group_size=50)
    local = assign_file(source, tmp_path / "local.parquet", grid_context(), chunk_rows=100)
    remote = assign_distributed(
        source, tmp_path / "dask", chunk_rows=100, workers=2, factory=grid_context
    )
    same_output(tmp_path / "local.parquet", tmp_path / "dask")
    for name in ("read", "rejected", "assigned", "cluster_rows", "review"):
        assert getattr(remote, name) == getattr(local, name), name
    assert remote.rejects == local.rejects
    assert (local.read, local.rejected) == (400, 6)


def test_dask_reads_the_edges_of_a_csv_as_one_read(tmp_path: Path) -> None:
    source = edge_csv(tmp_path / "edge.csv")
    local = assign_file(source, tmp_path / "local.parquet", grid_context(), chunk_rows=3)
    remote = assign_distributed(
        source, tmp_path / "dask", chunk_rows=3, workers=2, factory=grid_context
    )
    same_output(tmp_path / "local.parquet", tmp_path / "dask")
    assert remote.rejects == local.rejects and remote.read == local.read == 43


def test_dask_on_a_real_sample_equals_the_local_engine(
    tmp_path: Path, built_settings: Settings
) -> None:
    from geozone.context import load_context

    context = load_context(built_settings)
    frame = real_sample(
        context,
        3000,
        5,
        datetime(2023, 1, 1, tzinfo=VIETNAM_TZ),
        datetime(2026, 3, 1, tzinfo=VIETNAM_TZ),
    )
    source = write_incidents(frame, tmp_path / "sample.csv")
    local = assign_file(source, tmp_path / "local.parquet", context, chunk_rows=1000)
    factory = functools.partial(judging_context_of, str(built_settings.cache_dir), ())
    remote = assign_distributed(
        source, tmp_path / "dask", chunk_rows=1000, workers=2, factory=factory
    )
    same_output(tmp_path / "local.parquet", tmp_path / "dask")
    assert remote.cluster_rows == local.cluster_rows > 0


def test_dask_reads_a_parquet_dataset_as_one_file(tmp_path: Path) -> None:
    frame = grid_frame(300, 12, datetime(2023, 1, 1).date(), datetime(2024, 12, 31).date())
    frame.loc[250, "external_id"] = frame.loc[20, "external_id"]  # repeated across files
    frame.loc[[30, 280], "lat"] = 40.0
    whole = write_incidents(frame, tmp_path / "whole.parquet")
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    write_incidents(frame.iloc[:180], dataset / "a.parquet")
    write_incidents(frame.iloc[180:], dataset / "b.parquet")
    local = assign_file(whole, tmp_path / "local.parquet", grid_context(), chunk_rows=100)
    remote = assign_distributed(
        dataset, tmp_path / "dask", chunk_rows=100, workers=2, factory=grid_context
    )
    same_output(tmp_path / "local.parquet", tmp_path / "dask")
    assert remote.rejects == local.rejects and [r.line for r in local.rejects] == [31, 251, 281]
