"""``geozone report``: format from the suffix, period options, files written."""

from __future__ import annotations

import json
import zipfile
from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from api.cli_report import period_of, register
from geozone.context import Context
from geozone.errors import InvalidParameterError
from geozone.incidents.pipeline import assign_stale
from geozone.store import open_store
from tests.fixtures.incidents import grid_incidents


def test_period_options() -> None:
    today = date(2026, 3, 1)
    assert period_of("2025-01-01", "2025-12-31", None, today) == (
        date(2025, 1, 1),
        date(2025, 12, 31),
    )
    assert period_of("2025-01-01", None, None, today) == (date(2025, 1, 1), today)
    assert period_of(None, None, 2024, today) == (date(2024, 1, 1), date(2024, 12, 31))
    with pytest.raises(typer.BadParameter, match="--year or --from"):
        period_of("2024-01-01", None, 2024, today)
    with pytest.raises(typer.BadParameter, match="--from"):
        period_of(None, "2024-01-01", None, today)
    with pytest.raises(typer.BadParameter, match="not a date"):
        period_of("2024-13-01", None, None, today)


@pytest.fixture
def cli(
    tmp_path: Path, grid_context: Context, monkeypatch: pytest.MonkeyPatch
) -> tuple[typer.Typer, str]:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    with open_store(url) as store:
        store.add_incidents(grid_incidents(80, 2, date(2021, 1, 1), date(2021, 12, 31)))
        assign_stale(store, grid_context)
    monkeypatch.setattr("geozone.context.load_context", lambda *_a, **_k: grid_context)
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test root."""

    register(app)
    return app, url


def test_report_command_writes_each_format(cli: tuple[typer.Typer, str], tmp_path: Path) -> None:
    app, url = cli
    runner = CliRunner()
    base = ["report", "grid-centre", "--from", "2021-01-01", "--to", "2021-12-31"]
    base += ["--store-url", url, "--no-hotspots"]
    page = tmp_path / "out" / "report.html"
    result = runner.invoke(app, [*base, "-o", str(page), "--no-map"])
    assert result.exit_code == 0, result.output
    assert "criminal cases" in result.output and "SYNTHETIC DATA" in result.output
    assert "class='synthetic-banner'" in page.read_text(encoding="utf-8")
    data_file = tmp_path / "report.json"
    assert runner.invoke(app, [*base, "-o", str(data_file)]).exit_code == 0
    data = json.loads(data_file.read_text(encoding="utf-8"))
    assert data["cluster_id"] == "grid-centre" and data["figures"]["cases"] > 0
    folder = tmp_path / "csv"
    assert runner.invoke(app, [*base, "-o", str(folder)]).exit_code == 0
    assert (folder / "by_category.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    archive = tmp_path / "report.zip"
    assert runner.invoke(app, [*base, "-o", str(archive)]).exit_code == 0
    assert "summary.csv" in zipfile.ZipFile(archive).namelist()
    refused = runner.invoke(app, [*base, "-o", str(tmp_path / "report.csv")])
    assert refused.exit_code != 0 and isinstance(refused.exception, InvalidParameterError)


def test_report_json_says_what_was_written_and_outputs_are_checked_first(
    cli: tuple[typer.Typer, str], tmp_path: Path
) -> None:
    app, url = cli
    runner = CliRunner()
    base = ["report", "grid-centre", "--from", "2021-01-01", "--to", "2021-12-31"]
    base += ["--store-url", url, "--no-hotspots"]
    result = runner.invoke(app, [*base, "-o", str(tmp_path / "r.json"), "--json"])
    assert result.exit_code == 0, result.output
    said = json.loads(result.stdout)  # only the JSON on stdout; messages on stderr
    assert said["files"] == [str(tmp_path / "r.json")] and said["format"] == "json"
    assert (said["from"], said["to"], said["synthetic"]) == ("2021-01-01", "2021-12-31", True)
    assert "criminal cases" in said["headline_en"] and "criminal cases" not in result.stderr
    (tmp_path / "plain").write_text("a file", encoding="utf-8")
    wide = {"COLUMNS": "400"}  # the error box on one line
    refused = runner.invoke(app, [*base, "-o", str(tmp_path / "plain" / "r.html")], env=wide)
    assert refused.exit_code == 2 and "is not a folder" in refused.output
    folder = tmp_path / "folder.html"
    folder.mkdir()
    refused = runner.invoke(app, [*base, "-o", str(folder)], env=wide)
    assert refused.exit_code == 2 and "is a folder" in refused.output
