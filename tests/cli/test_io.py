"""``-`` for standard input and output: the format sniffed or given, nothing out on failure."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import typer

from geozone.cli._io import StdoutSpool, input_file, output_file, sniff_format


def test_the_format_of_standard_input_is_sniffed() -> None:
    assert sniff_format(b"PAR1\x15\x04") == "parquet"
    assert sniff_format(b"SQLite format 3\x00\x10\x00") == "gpkg"
    assert sniff_format(b'\xef\xbb\xbf \n{"type": "FeatureCollection"') == "geojson"
    assert sniff_format(b"external_id,occurred_at,lon,lat\n") == "csv"
    assert sniff_format("mã vụ,thời gian\n".encode()) == "csv"


def test_standard_input_is_copied_whole_to_a_file_of_its_format() -> None:
    data = b"external_id,lon\n" + b"x,1\n" * 100_000  # more than the sniffed head
    with input_file(Path("-"), None, stdin=io.BytesIO(data)) as path:
        assert path.suffix == ".csv" and path.read_bytes() == data
        kept = path
    assert not kept.exists()  # removed after the command
    with input_file(Path("-"), "geojson", stdin=io.BytesIO(b"a,b\n")) as path:
        assert path.suffix == ".geojson"  # as given, not sniffed


def test_bad_input_is_named(tmp_path: Path) -> None:
    for source, fmt, message in (
        (Path("-"), None, "standard input is empty"),
        (tmp_path / "none.csv", None, "does not exist"),
        (Path("-"), "xlsx", "'xlsx' is not one of csv, geojson"),
    ):
        with (
            pytest.raises(typer.BadParameter, match=message),
            input_file(source, fmt, stdin=io.BytesIO(b"")),
        ):
            pass
    file = tmp_path / "in.csv"
    file.write_text("a\n", encoding="utf-8")
    with input_file(file, None) as path:
        assert path == file


def test_standard_output_gets_the_file_only_when_it_is_complete() -> None:
    out = io.BytesIO()
    with output_file(StdoutSpool(Path("-"), "csv"), out) as path:
        assert path.suffix == ".csv"
        path.write_bytes(b"a,b\n1,2\n")
    assert out.getvalue() == b"a,b\n1,2\n" and not path.exists()
    failed = io.BytesIO()
    with pytest.raises(RuntimeError), output_file(StdoutSpool(Path("-"), "csv"), failed) as path:
        path.write_bytes(b"half")
        raise RuntimeError("the work failed")
    assert failed.getvalue() == b"" and not path.exists()


def test_standard_output_needs_a_format_it_can_take(tmp_path: Path) -> None:
    with pytest.raises(typer.BadParameter, match=r"say its format with --format parquet\|csv"):
        StdoutSpool(Path("-"), None, formats=("parquet", "csv"))
    with pytest.raises(typer.BadParameter, match="'geojson' is not one of parquet, gpkg, csv"):
        StdoutSpool(Path("-"), "geojson", formats=("parquet", "gpkg", "csv"))
    spool = StdoutSpool(tmp_path / "x.csv", None)
    assert spool.path == tmp_path / "x.csv"
    spool.finish()  # a real file stays where it is
