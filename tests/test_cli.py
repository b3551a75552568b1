from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from geozone import cli
from geozone.settings import Settings, get_settings

runner = CliRunner()


@pytest.fixture
def real_cache(built_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(built_settings.cache_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli.app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_every_command_has_help() -> None:
    for command in (
        ["--help"],
        ["data", "--help"],
        ["data", "build", "--help"],
        ["data", "qa", "--help"],
        ["units", "search", "--help"],
        ["units", "show", "--help"],
        ["locate", "--help"],
    ):
        code, output = run(*command)
        assert code == 0 and "Usage" in output


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_search_show_and_locate_as_json() -> None:
    code, output = run("units", "search", "nghia do", "--json", "--date", "2025-08-01")
    hits = json.loads(output)["hits"]
    assert code == 0 and {hit["province"] for hit in hits} >= {"Thành phố Hà Nội", "Tỉnh Lào Cai"}
    code, output = run("units", "show", "00160", "--set", "vn2025", "--json")
    assert json.loads(output)["chain"][1]["full_name"] == "Thành phố Hà Nội"
    code, output = run(
        "locate", "105.8064", "21.0387", "--tolerance", "150", "--date", "2024-05-01", "--json"
    )
    located = json.loads(output)
    assert located["set_id"] == "vn-legacy-districts" and located["on_boundary"]
    assert located["unit"]["full_name"] in {"Quận Cầu Giấy", "Quận Ba Đình"}


@pytest.mark.realdata
@pytest.mark.usefixtures("real_cache")
def test_errors_are_one_line_with_exit_code_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["geozone", "units", "show", "99999", "--set", "vn2025"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    assert "no unit with code '99999'" in capsys.readouterr().err
    code, output = run("locate", "105.8", "21.0", "--date", "not-a-date")
    assert code == 2 and "YYYY-MM-DD" in output
