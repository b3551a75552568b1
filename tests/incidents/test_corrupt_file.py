"""A file with 25 kinds of broken rows, bad bytes and a truncated last line: every broken row
is rejected alone with its line and reason, every other row is stored (compared row by row)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.incidents.io import read_incidents
from geozone.incidents.pipeline import import_file
from geozone.store import IncidentQuery, open_store
from tests.fixtures.clusters import grid_cluster
from tests.fixtures.grid import grid_point

HEADER = (
    b"external_id,occurred_at,detected_at,lon,lat,category,detected_by,status,subjects,"
    b"jointly_handled,description,synthetic\n"
)


def good(external_id: str, description: bytes = b"ok") -> bytes:
    lon, lat = grid_point(950, 300)
    return (
        f"{external_id},2024-05-01 21:30,2024-05-01 21:45,{lon},{lat},drugs,o2,open,1,no,".encode()
        + description
        + b",false\n"
    )


def cells(external_id: str, **changes: str) -> bytes:
    """A row whose named cells are replaced (text, written as given)."""
    lon, lat = grid_point(950, 300)
    row = {
        "external_id": external_id,
        "occurred_at": "2024-05-01 21:30",
        "detected_at": "",
        "lon": str(lon),
        "lat": str(lat),
        "category": "theft",
        "detected_by": "",
        "status": "open",
        "subjects": "0",
        "jointly_handled": "",
        "description": "",
        "synthetic": "false",
    }
    row.update(changes)
    return (",".join(row.values()) + "\n").encode()


#: (kind, the row's bytes, the fields its rejects name); the last is the truncated line.
BROKEN: list[tuple[str, bytes, set[str]]] = [
    ("invalid UTF-8", good("b01", b"c\xe2\x28\xa1u"), {"row"}),
    ("Latin-1 text", good("b02", "Cầu Giấy".encode("cp1258", "replace")[:3] + b"\xe9"), {"row"}),
    ("an extra field", good("b03").replace(b",false\n", b",false,extra\n"), {"row"}),
    ("the last four columns missing", b"b04,2024-05-01,,105.81,21.03,theft,,open\n", {"row"}),
    ("one field", b"b05\n", {"row"}),
    ("NUL in the description", good("b06", b"a\x00b"), {"description"}),
    ("NUL in the id", cells("b07\x00"), {"external_id"}),
    ("unknown date 01/01/0001", cells("b08", occurred_at="01/01/0001"), {"occurred_at"}),
    ("year 1 with offset", cells("b09", occurred_at="0001-01-01T00:00:00+07:00"), {"occurred_at"}),
    ("in the future", cells("b10", occurred_at="2999-01-01"), {"occurred_at"}),
    ("not a date", cells("b11", occurred_at="yesterday"), {"occurred_at"}),
    ("a bare number", cells("b12", occurred_at="20240501"), {"occurred_at"}),
    ("no id", cells(""), {"external_id"}),
    ("a repeated id", cells("g0001"), {"external_id"}),
    ("an id too long", cells("x" * 129), {"external_id"}),
    ("lon not a number", cells("b16", lon="abc"), {"lon"}),
    ("lat out of range", cells("b17", lat="95"), {"lat"}),
    ("outside Vietnam", cells("b18", lon="2.3522", lat="48.8566"), {"coordinates"}),
    ("lon infinite", cells("b19", lon="inf"), {"lon"}),
    ("unknown category", cells("b20", category="unicorns"), {"category"}),
    ("detected before", cells("b21", detected_at="2024-05-01 08:00"), {"detected_at"}),
    ("status unknown", cells("b22", status="done"), {"status"}),
    ("subjects a word", cells("b23", subjects="hai"), {"subjects"}),
    ("subjects negative", cells("b24", subjects="-1"), {"subjects"}),
    ("a flag that is no flag", cells("b25", jointly_handled="maybe"), {"jointly_handled"}),
    ("description too long", cells("b26", description="y" * 4001), {"description"}),
    ("detected_by too long", cells("b27", detected_by="u" * 65), {"detected_by"}),
    (
        "truncated in a quoted field",
        b'b28,2024-05-01,,105.81,21.03,theft,,open,0,no,"cut sho',
        {"row"},
    ),
]


def corrupt_file(path: Path, n_good: int) -> tuple[Path, dict[str, int], dict[int, set[str]]]:
    """Good rows with a broken one after every tenth; a blank line and a quoted line break
    among them. Returns the file, each good id's line and each broken line's fields."""
    parts, line = [HEADER], 2
    good_lines: dict[str, int] = {}
    broken_lines: dict[int, set[str]] = {}
    pending = list(BROKEN)
    for k in range(n_good):
        external_id = f"g{k:04d}"
        # row 7 has a quoted line break: a sound record over two lines
        row = good(external_id, b'"two\nlines"') if k == 7 else good(external_id)
        parts.append(row)
        good_lines[external_id] = line
        line += row.count(b"\n")
        if k == 3:
            parts.append(b"\n")  # a blank line is no row
            line += 1
        if k % 10 == 9 and len(pending) > 1:
            _kind, broken, fields = pending.pop(0)
            parts.append(broken)
            broken_lines[line] = fields
            line += broken.count(b"\n")
    while len(pending) > 1:
        _kind, broken, fields = pending.pop(0)
        parts.append(broken)
        broken_lines[line] = fields
        line += broken.count(b"\n")
    parts.append(pending[0][1])  # the truncated last line
    broken_lines[line] = pending[0][2]
    path.write_bytes(b"".join(parts))
    return path, good_lines, broken_lines


def test_every_broken_row_is_rejected_alone_with_its_line(tmp_path: Path) -> None:
    path, good_lines, broken_lines = corrupt_file(tmp_path / "corrupt.csv", 400)
    read = read_incidents(path)
    assert read.n_rows == len(good_lines) + len(broken_lines)
    stored_lines = dict(zip(read.incidents["external_id"], read.incidents.index, strict=True))
    assert stored_lines == good_lines  # row by row: every good row, on its own line
    fields: dict[int, set[str]] = {}
    for reject in read.rejects:
        fields.setdefault(reject.line, set()).add(reject.field)
    assert fields == broken_lines
    by_line = {r.line: r.reason for r in read.rejects}
    first_broken = min(broken_lines)
    assert "invalid UTF-8" in by_line[first_broken] and "byte 0xE2" in by_line[first_broken]
    assert "truncated" in by_line[max(broken_lines)]
    assert "cut short" in by_line[sorted(broken_lines)[3]]


@pytest.fixture
def context(grid: BoundarySet) -> Context:
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    return Context([grid], {"grid-centre": territory.cluster}, [territory], {"grid": "test"})


def test_the_import_stores_every_sound_row_and_finishes(tmp_path: Path, context: Context) -> None:
    path, good_lines, broken_lines = corrupt_file(tmp_path / "corrupt.csv", 400)
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        report = import_file(store, path, context, chunk_rows=50)
        assert (report.stored, report.rejected) == (len(good_lines), len(broken_lines))
        batch = store.batch(report.batch_id)
        assert batch is not None and batch["status"] == "done"
        assert batch["rows_stored"] == len(good_lines)
        assert store.count(IncidentQuery()) == len(good_lines)
        again = import_file(store, path, context)
        assert (again.stored, again.batch_id) == (0, report.batch_id)
