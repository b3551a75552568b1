"""The CLI's shared pieces: flags in the help, --json everywhere, piped width, output checks."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from geozone import cli
from geozone.cli._common import PIPED_WIDTH, check_output, piped_width

runner = CliRunner()
#: Commands another branch owns (``serve``: production mode, its own options).
NOT_HERE = {"serve"}


def commands() -> list[tuple[list[str], Any]]:
    """Every command of the geozone app (the contributed ones too), with its path."""
    root = typer.main.get_command(cli.app)
    found: list[tuple[list[str], Any]] = []

    def walk(command: Any, path: list[str], context: typer.Context) -> None:
        if isinstance(command, TyperGroup):
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                assert sub is not None
                walk(sub, [*path, name], typer.Context(sub, parent=context, info_name=name))
        else:
            found.append((path, command))

    walk(root, [], typer.Context(root, info_name="geozone"))
    return found


def test_every_command_prints_json_with_json() -> None:
    listed = commands()
    assert len(listed) >= 25  # 26 today: address … map cluster
    lacking = [
        " ".join(path)
        for path, command in listed
        if path[0] not in NOT_HERE
        and "--json" not in {opt for param in command.params for opt in param.opts}
    ]
    assert lacking == []


def test_flags_are_shown_as_flags_in_every_help() -> None:
    for path, _ in commands():
        result = runner.invoke(cli.app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, path
        assert "<bool>" not in result.output, path
    result = runner.invoke(cli.app, ["data", "build", "--help"], env={"COLUMNS": "200"})
    assert "<path>" in result.output  # an option with a value keeps its type
    force = next(line for line in result.output.splitlines() if "--force" in line)
    assert "--no-force" in force and "<" not in force


def test_piped_output_is_wide_and_a_terminal_or_columns_decide_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert piped_width(io.StringIO()) == PIPED_WIDTH
    monkeypatch.setenv("COLUMNS", "120")
    assert piped_width(io.StringIO()) is None  # rich reads COLUMNS itself


def test_a_piped_table_is_not_cut_at_80_columns() -> None:
    # `geozone clusters list | cat`: each cluster's Vietnamese name on one line, whole.
    from geozone.clusters.files import load_clusters

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    code = (
        "import sys; sys.argv = ['geozone', 'clusters', 'list'];"
        "from geozone.cli import main; main()"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    lines = out.splitlines()
    for cluster in load_clusters().values():
        assert any(cluster.name in line and cluster.id in line for line in lines), cluster.id
    assert max(map(len, lines)) > 80


def test_an_output_is_checked_before_the_work(tmp_path: Path) -> None:
    assert check_output(tmp_path / "a.parquet", (".parquet",)) == tmp_path / "a.parquet"
    problems = {
        "cannot write 'a.txt': use .csv, .parquet": (tmp_path / "a.txt", {}),
        "is a folder; give a file name": (tmp_path, {}),
        "does not exist": (tmp_path / "missing" / "a.csv", {}),
        "is not a folder": (tmp_path / "file.csv" / "a.csv", {}),
    }
    (tmp_path / "file.csv").write_text("x", encoding="utf-8")
    for message, (path, options) in problems.items():
        with pytest.raises(typer.BadParameter, match=message):
            check_output(path, (".csv", ".parquet"), **options)
    # A command that makes its folders needs only the nearest existing one; a folder output.
    assert check_output(tmp_path / "new" / "deeper" / "r.html", (".html",), make_parents=True)
    assert check_output(tmp_path, (".zip",), folder=True) == tmp_path


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_a_folder_that_is_not_writable_is_said(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(typer.BadParameter, match="is not writable"):
        check_output(locked / "a.csv", (".csv",))


def test_commands_check_their_output_before_loading_any_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No boundary data at all: the output is refused first, naming the problem.
    from geozone.settings import get_settings

    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(tmp_path / "empty-cache"))
    get_settings.cache_clear()
    source = tmp_path / "in.csv"
    source.write_text("external_id,occurred_at,lon,lat,category\n", encoding="utf-8")
    missing = str(tmp_path / "nowhere" / "out.parquet")
    for args, message in (
        (["incidents", "generate", "-n", "5", "-o", missing], "does not exist"),
        (["incidents", "assign", str(source), "-o", missing], "does not exist"),
        (["incidents", "assign", str(source), "-o", str(tmp_path / "a.txt")], "use .csv"),
        (["incidents", "export", "-o", str(tmp_path)], "is a folder"),
        (["clusters", "zones", "gia-lam-vn2025", "-o", str(tmp_path / "z.shp")], "use .geojson"),
        (["adjacency", "vn2025", "-o", str(tmp_path / "a.csv")], "use .geojson"),
    ):
        result = runner.invoke(cli.app, args, env={"COLUMNS": "300"})
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    get_settings.cache_clear()
