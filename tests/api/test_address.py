"""GET /address and the unit search's former units: the CLI's answers, and clear refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.settings import ApiSettings
from geozone import cli
from geozone.address.resolve import MAX_ADDRESS_CHARS
from geozone.context import Context, load_context
from geozone.incidents.pipeline import import_file
from geozone.settings import Settings, get_settings
from geozone.store import open_store
from tests.api.conftest import Api

runner = CliRunner()


@pytest.fixture(scope="module")
def real_client(
    built_settings: Settings,
    built_api_settings: ApiSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    store = tmp_path_factory.mktemp("address") / "s.sqlite"
    app = create_app(
        built_api_settings, context=load_context(built_settings), store_url=f"sqlite:///{store}"
    )
    with TestClient(app) as client:
        yield client


@pytest.fixture
def real_cache(built_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(built_settings.cache_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


#: Old and new forms of the seed clusters' members, written every way, misspelt, ambiguous
#: and unreadable: (text, date).
ADDRESSES = [
    ("số 12 ngõ 35 Hoàng Quốc Việt, phường Nghĩa Đô, quận Cầu Giấy, Hà Nội", "2024-05-01"),
    ("số 12 ngõ 35 Hoàng Quốc Việt, phường Nghĩa Đô, quận Cầu Giấy, Hà Nội", "2025-08-01"),
    ("P. Quan Hoa, Q. Cầu Giấy, TP. Hà Nội", "2025-08-01"),
    ("phuong vinh phuc quan ba dinh ha noi", "2024-05-01"),
    ("Phường Ngọc Hà, Hà Nội", "2025-08-01"),
    ("Phường Ngọc Hà, Hà Nội", "2024-05-01"),
    ("Nghia Dox, Cầu Giấy, Hà Nội", "2024-05-01"),
    ("nghia do", "2025-08-01"),
    ("Quan Hoa, Ba Đình, Hà Nội", "2024-05-01"),
    ("zzz qqq", "2025-08-01"),
]


@pytest.mark.parametrize(("text", "day"), ADDRESSES)
def test_api_and_cli_give_the_same_answer(
    real_client: TestClient, real_cache: None, text: str, day: str
) -> None:
    api = real_client.get("/address", params={"q": text, "date": day})
    assert api.status_code == 200, api.text
    result = runner.invoke(cli.app, ["address", text, "--date", day, "--json"])
    # The CLI prints the answer, then ends an incomplete one with exit 2 (the error itself
    # is raised past the runner: CliRunner does not run geozone.cli.main).
    start = result.output.index("{")
    end = result.output.rindex("}") + 1
    assert json.loads(result.output[start:end]) == api.json()
    assert (result.exit_code == 0) == api.json()["complete"]


def test_address_answers_old_and_new_forms_with_successors(real_client: TestClient) -> None:
    old = real_client.get(
        "/address", params={"q": "P. Quan Hoa, Q. Cầu Giấy, Hà Nội", "date": "2025-08-01"}
    ).json()
    assert old["form"] == "old" and old["read_chain"][0]["code"] == "00169"
    assert old["set"] == "vn2025" and old["level"] == "province"
    assert [c["code"] for c in old["candidates"]] == ["00160", "00166"]
    assert {s["code"] for s in old["successors"]} == {"00160", "00166"}
    new = real_client.get("/address", params={"q": "phuong nghia do, ha noi"}).json()
    assert new["complete"] and new["unit"]["code"] == "00160" and new["form"] == "new"
    # A new ward written before the reform: the old wards it came from (Quan Hoa among them).
    before = real_client.get(
        "/address", params={"q": "Phường Cầu Giấy, Hà Nội", "date": "2024-05-01"}
    ).json()
    assert before["set"] == "vn-legacy-districts" and before["form"] == "new"
    assert "00169" in {p["code"] for p in before["predecessors"]}
    assert "00169" in {c["code"] for c in before["candidates"]}


def test_unreadable_and_ambiguous_addresses_name_the_part(real_client: TestClient) -> None:
    misspelt = real_client.get(
        "/address", params={"q": "Nghia Dox, Cầu Giấy, Hà Nội", "date": "2024-05-01"}
    ).json()
    assert misspelt["complete"] is False
    assert "no ward 'Nghia Dox' in Quận Cầu Giấy" in misspelt["problem"]
    assert "Nghĩa Đô" in misspelt["unread"][0]["closest"]
    ambiguous = real_client.get("/address", params={"q": "Nghĩa Đô"}).json()
    assert ambiguous["complete"] is False
    assert {a["label"].split(", ")[-1] for a in ambiguous["alternatives"]} == {
        "Thành phố Hà Nội",
        "Tỉnh Lào Cai",
    }


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"q": "   "}, "q", "blank"),
        ({"q": "x" * (MAX_ADDRESS_CHARS + 1)}, "q", "at most 300 characters"),
        ({"q": "Nghĩa Đô\x00, Hà Nội"}, "q", "control character U+0000"),
        ({"q": "Nghĩa Đô", "date": "20250801"}, "date", "bare number"),
        ({"q": "Nghĩa Đô", "date": "2025-13-01"}, "date", "month"),
        ({"q": "Nghĩa Đô", "date": "1900-01-01"}, "date", "1945"),
        ({}, "q", "Field required"),
    ],
)
def test_bad_input_is_a_422_naming_the_parameter(
    real_client: TestClient, params: dict[str, str], field: str, message: str
) -> None:
    response = real_client.get("/address", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["loc"] == ["query", field] and message in error["msg"]
    assert "\x00" not in response.text  # the input is not echoed


def test_a_date_before_any_set_is_a_400_saying_from_when(real_client: TestClient) -> None:
    response = real_client.get("/address", params={"q": "Hà Nội", "date": "2001-01-01"})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "no boundary set is in force on 2001-01-01; addresses resolve from 2008-08-01 on"
    )


def test_q_given_twice_is_refused(real_client: TestClient) -> None:
    response = real_client.get("/address?q=Nghĩa Đô&q=Hà Nội")
    assert response.status_code == 422
    assert "given 2 times" in response.json()["errors"][0]["msg"]


def test_unit_search_knows_where_a_unit_went(real_client: TestClient) -> None:
    found = real_client.get("/units", params={"q": "Quan Hoa"}).json()
    assert found["units"] == []
    first = found["former"][0]
    assert first["sentence"] == (
        "Phường Quan Hoa (đến 30/06/2025) → nay thuộc Phường Nghĩa Đô, Phường Cầu Giấy"
    )
    assert first["unit"]["code"] == "00169" and first["valid_to"] == "2025-06-30"
    assert [s["code"] for s in first["successors"]] == ["00160", "00166"]
    # Today's name: no former units; a search of the old set itself: none either.
    assert real_client.get("/units", params={"q": "Nghĩa Đô"}).json()["former"] == []
    old = real_client.get("/units", params={"q": "Quan Hoa", "set": "vn-legacy-districts"})
    assert old.json()["former"] == []
    assert "00169" in {u["code"] for u in old.json()["units"]}


def test_openapi_documents_the_route_and_its_limits(real_client: TestClient) -> None:
    operation = real_client.get("/openapi.json").json()["paths"]["/address"]["get"]
    (q,) = [p for p in operation["parameters"] if p["name"] == "q"]
    assert q["required"] and q["schema"]["maxLength"] == MAX_ADDRESS_CHARS
    assert {"200", "400", "404", "422"} <= set(operation["responses"])


def test_an_instance_without_the_two_sets_says_so(api: Api, tmp_path: Path) -> None:
    response = api.client.get("/address", params={"q": "Nghĩa Đô, Hà Nội"})
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "addresses are read in the sets vn-legacy-districts and vn2025; "
        "vn-legacy-districts, vn2025 not loaded (loaded: grid)"
    )
    assert api.client.get("/units", params={"q": "Quan Hoa"}).json()["former"] == []


def test_address_only_incidents_are_counted_apart_for_analysts(
    api: Api, grid_context: Context, tmp_path: Path
) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "id,time,category,lon,lat,dia_chi\n"
        "p,2025-08-01 10:00,theft,105.80,21.00,\n"
        'a,2025-08-01 10:00,theft,,,"Phường Nghĩa Đô, Hà Nội"\n'
        "b,2025-08-02 10:00,theft,,,Hà Nội\n",
        "utf-8",
    )
    with open_store(api.store_url) as store:
        assert import_file(store, path, grid_context).address_only == 2
    assert api.client.get("/address/incidents").status_code == 401
    assert api.client.get("/address/incidents", headers=api.auth("viewer")).status_code == 403
    found = api.client.get(
        "/address/incidents", params={"limit": 1}, headers=api.auth("analyst")
    ).json()
    # The grid instance cannot read addresses: stored unread, with the reason.
    assert found["counts"] == {
        "address_only": 2,
        "ward": 0,
        "district": 0,
        "province": 0,
        "unresolved": 2,
    }
    assert (found["numberMatched"], found["numberReturned"]) == (2, 1)
    (first,) = found["incidents"]
    assert first["external_id"] == "a" and first["address"] == "Phường Nghĩa Đô, Hà Nội"
    assert "lon" not in first and first["occurred_at"] == "2025-08-01T10:00:00+07:00"
    assert "not loaded (loaded: grid)" in first["address_problem"]
    assert (first["event_id"], first["event_role"]) == ("ev-a", "single")  # its own event
