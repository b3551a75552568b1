"""The field table and the three layers built from it agree, at every limit.

For every field of :data:`geozone.incidents.fields.INCIDENT_FIELDS` and every limit it has,
a value just inside and one just outside are given to

- the pydantic model (:class:`geozone.incidents.schema.Incident`),
- the vectorised file check (:func:`geozone.incidents.io.validate_incidents`),
- the store's write path (``add_incidents``, on SQLite and on PostGIS),

and each must accept or refuse it as the table says, naming the table's rule and limit: the
model by its pydantic error type and context, the file check by the table's row wording, the
store by its frame wording. Accepted values must come back equal from all three (the stored
row read back). The cases are generated from the table, so a changed limit moves the
boundary values with it.

Spellings the layers once read differently (a blank or double-spaced id, an NFD name at the
limit, a NUL in a category, a bare number for a time) are checked at the end: all three now
agree.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from geozone.errors import IncidentDataError
from geozone.incidents.fields import (
    FIELDS,
    INCIDENT_COLUMNS,
    INCIDENT_FIELDS,
    REQUIRED_COLUMNS,
    IncidentField,
)
from geozone.incidents.io import (
    DEFAULT_SYNONYMS,
    ColumnMapping,
    incident_frame,
    validate_incidents,
)
from geozone.incidents.schema import (
    CATEGORIES,
    EARLIEST_TIME,
    FUTURE_ALLOWANCE,
    Incident,
    time_range_text,
)
from geozone.store import INCIDENT_COLUMNS as STORE_COLUMNS
from geozone.store import IncidentStore
from geozone.store.sql import SqlIncidentStore, build_metadata
from geozone.vntime import VIETNAM_TZ

#: A valid record; each case changes one field of it (and the id, so that rows stay apart).
BASE: dict[str, Any] = {
    "occurred_at": "2024-05-01T10:00:00+07:00",
    "lon": 105.8064,
    "lat": 21.0387,
    "category": "theft",
}
#: Two code points that NFC makes one: a limit applies after normalisation.
NFD_O = unicodedata.normalize("NFD", "ô")


@dataclass(frozen=True)
class Case:
    """A value of a field, and what the table says each layer makes of it.

    ``ok`` cases are accepted by all three. A refused case names the rule each layer words
    it by: ``row`` (a file reject), ``frame`` (the store), ``model`` (the pydantic error
    type), with the values its wording quotes (``terms``).
    """

    name: str
    value: Any
    ok: bool
    row: str = ""
    frame: str = ""
    model: str = ""
    terms: dict[str, Any] = field(default_factory=dict)
    given: dict[str, Any] = field(default_factory=dict)  # other fields this case sets
    label: str = ""  # names the value in the test id when it moves with the clock

    @property
    def id(self) -> str:
        shown = self.label or repr(self.value)
        return f"{self.name}={shown[:24]}{'…' if len(shown) > 24 else ''}"


def _vietnam_iso(instant: datetime) -> str:
    return instant.astimezone(VIETNAM_TZ).strftime("%Y-%m-%dT%H:%M:%S+07:00")


def _text_cases(spec: IncidentField) -> list[Case]:
    cases = []
    if spec.max_length is not None:
        limit = spec.max_length
        cases.append(Case(spec.name, "x" * limit, ok=True))
        long = "x" * (limit + 1)
        cases.append(
            Case(
                spec.name,
                long,
                ok=False,
                row="too_long",
                frame="too_long",
                model="too_long",
                terms={"length": limit + 1, "value": long},
            )
        )
        if spec.nfc:  # the limit counts the normalised text
            cases.append(Case(spec.name, "x" * (limit - 1) + NFD_O, ok=True))
    if spec.min_length == 1:  # a blank cell is a missing one to a file
        cases.append(Case(spec.name, "", ok=False, row="missing", frame="empty", model="too_short"))
    if spec.no_nul:
        cases.append(
            Case(spec.name, "a\x00b", ok=False, row="nul", frame="nul", model="value_error")
        )
    return cases


def _coordinate_cases(spec: IncidentField) -> list[Case]:
    low, high = spec.bounds
    step = 1e-6
    return [
        Case(spec.name, float(low), ok=True),
        Case(spec.name, float(high), ok=True),
        Case(
            spec.name,
            low - step,
            ok=False,
            row="range",
            frame="range",
            model="greater_than_equal",
            terms={"value": low - step},
        ),
        Case(
            spec.name,
            high + step,
            ok=False,
            row="range",
            frame="range",
            model="less_than_equal",
            terms={"value": high + step},
        ),
        Case(
            spec.name,
            float("inf"),
            ok=False,
            row="not_finite",
            frame="range",
            model="finite_number",
            terms={"value": float("inf")},
        ),
    ]


def _count_cases(spec: IncidentField) -> list[Case]:
    low, high = (int(bound) for bound in spec.bounds)
    return [
        Case(spec.name, low, ok=True),
        Case(spec.name, high, ok=True),
        Case(
            spec.name,
            low - 1,
            ok=False,
            row="range",
            frame="not_whole",
            model="greater_than_equal",
            terms={"value": low - 1},
        ),
        Case(
            spec.name,
            high + 1,
            ok=False,
            row="range",
            frame="not_whole",
            model="less_than_equal",
            terms={"value": high + 1},
        ),
        Case(
            spec.name,
            2.5,
            ok=False,
            row="not_whole",
            frame="not_whole",
            model="int_from_float",
            terms={"value": "2.5"},
        ),
    ]


def _time_cases(spec: IncidentField) -> list[Case]:
    now = datetime.now(VIETNAM_TZ)
    late = now + FUTURE_ALLOWANCE + timedelta(hours=1)
    cases = [
        Case(
            spec.name,
            _vietnam_iso(now + FUTURE_ALLOWANCE - timedelta(hours=1)),
            ok=True,
            label="latest-1h",
        ),
        Case(
            spec.name,
            _vietnam_iso(late),
            label="latest+1h",
            ok=False,
            row="plausible",
            frame="plausible",
            model="value_error",
            terms={"value": _vietnam_iso(late)},
            given={"occurred_at": _vietnam_iso(now)} if spec.after else {},
        ),
    ]
    if spec.after is None:  # the first plausible second, and the one before
        early = EARLIEST_TIME - timedelta(seconds=1)
        cases += [
            Case(spec.name, _vietnam_iso(EARLIEST_TIME), ok=True),
            Case(
                spec.name,
                _vietnam_iso(early),
                ok=False,
                row="plausible",
                frame="plausible",
                model="value_error",
                terms={"value": _vietnam_iso(early)},
            ),
        ]
    else:  # not before the time it follows: equal is fine, a second earlier is not
        after = BASE[spec.after]
        before = _vietnam_iso(datetime.fromisoformat(after) - timedelta(seconds=1))
        cases += [
            Case(spec.name, after, ok=True),
            Case(
                spec.name,
                before,
                ok=False,
                row="order",
                frame="order",
                model="value_error",
                terms={"value": before, "other": after},
            ),
        ]
    return cases


def _choice_cases(spec: IncidentField) -> list[Case]:
    refused = Case(
        spec.name,
        "pending",
        ok=False,
        row="choice",
        frame="choice",
        model="literal_error",
        terms={"value": "pending"},
    )
    return [*(Case(spec.name, choice, ok=True) for choice in spec.choices), refused]


def _category_cases(spec: IncidentField) -> list[Case]:
    drugs = CATEGORIES["drugs"]
    known = ", ".join(CATEGORIES)
    return [
        Case(spec.name, drugs.code, ok=True),
        Case(spec.name, drugs.vi, ok=True),
        Case(spec.name, drugs.en, ok=True),
        Case(
            spec.name,
            "smuggling",
            ok=False,
            row="unknown",
            frame="unknown",
            model="value_error",
            terms={"value": "smuggling", "known": known},
        ),
    ]


def _flag_cases(spec: IncidentField) -> list[Case]:
    return [
        Case(spec.name, True, ok=True),
        Case(spec.name, False, ok=True),
        Case(
            spec.name,
            "maybe",
            ok=False,
            row="not_a_flag",
            frame="not_a_flag",
            model="bool_parsing",
            terms={"value": "'maybe'"},
        ),
    ]


_BY_KIND = {
    "text": _text_cases,
    "time": _time_cases,
    "coordinate": _coordinate_cases,
    "count": _count_cases,
    "choice": _choice_cases,
    "category": _category_cases,
    "flag": _flag_cases,
}


def _missing_cases() -> list[Case]:
    """A required field left out is refused; an optional one takes its default.

    A file has a column for every required field (the reader refuses the file otherwise):
    the cell is blank. A frame given to the store lacks the column.
    """
    cases = []
    for spec in INCIDENT_FIELDS:
        if spec.required:
            cases.append(Case(spec.name, None, ok=False, row="missing", frame="column"))
        else:
            cases.append(Case(spec.name, None, ok=True))
    return cases


CASES = [case for spec in INCIDENT_FIELDS for case in _BY_KIND[spec.kind](spec)]
CASES += _missing_cases()
NUMBERED = list(enumerate(CASES))


def _record(case: Case, number: int) -> dict[str, Any]:
    """The base record with the case's value (None: the field left out)."""
    record = {"external_id": f"case-{number}", **BASE, **case.given}
    record.pop(case.name, None)
    if case.value is not None:
        record[case.name] = case.value
    return record


# -- the three layers ---------------------------------------------------------------------------


def _model(record: dict[str, Any]) -> tuple[Incident | None, list[dict[str, Any]]]:
    try:
        return Incident.model_validate(record), []
    except ValidationError as error:
        return None, [dict(e) for e in error.errors()]


def _file(record: dict[str, Any]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    columns = [*record, *(name for name in REQUIRED_COLUMNS if name not in record)]
    frame = pd.DataFrame([record], dtype=object).reindex(columns=columns)
    result = validate_incidents(frame)
    # The reader's own whole-country rule (field "coordinates") is not a field rule.
    rejects = [(r.field, r.reason) for r in result.rejects if r.field != "coordinates"]
    return result.incidents, rejects


def _check_model(case: Case, record: dict[str, Any]) -> Incident | None:
    model, errors = _model(record)
    if case.ok:
        assert errors == [], errors
        return model
    assert errors, "the model accepted it"
    error = errors[0]
    if case.model:  # a pydantic constraint: its type, and the table's limit in its context
        assert error["type"] == case.model, errors
        context = error.get("ctx", {})
        spec = FIELDS[case.name]
        for key, limit in (
            ("max_length", spec.max_length),
            ("min_length", spec.min_length),
            ("ge", spec.low),
            ("le", spec.high),
        ):
            if key in context:
                assert context[key] == limit, (key, context)
    else:
        assert error["type"] == "missing", errors
    location = error["loc"][0] if error["loc"] else FIELDS[case.name].name  # a model rule
    assert location == case.name, errors
    return None


def _expected_reason(case: Case) -> str:
    terms = dict(case.terms)
    if case.row == "plausible":
        terms["range"] = time_range_text()
    return FIELDS[case.name].reason(case.row, **terms)


def _expected_summary(case: Case) -> str:
    if case.frame == "column":  # the store's check of the frame's columns
        return f"missing column(s) {case.name}"
    terms = dict(case.terms)
    if case.frame == "plausible":
        terms["range"] = time_range_text()
    if case.frame == "unknown":
        terms["value"] = repr(case.value)
    return FIELDS[case.name].summary(case.frame, **terms)


def _same(first: Any, second: Any) -> bool:
    """Tell whether two read values are equal (None, NaN and NaT are the same absence)."""
    absent = [
        value is None or (not isinstance(value, str) and bool(pd.isna(value)))
        for value in (first, second)
    ]
    return all(absent) or (not any(absent) and bool(first == second))


@pytest.mark.parametrize(("number", "case"), NUMBERED, ids=[case.id for case in CASES])
def test_model_and_file_check_agree_with_the_table(number: int, case: Case) -> None:
    record = _record(case, number)
    model = _check_model(case, record)
    incidents, rejects = _file(record)
    if not case.ok:
        assert rejects == [(case.name, _expected_reason(case))]
        return
    assert rejects == []
    assert model is not None
    if len(incidents):  # a point outside Vietnam's box is the reader's own refusal
        assert _same(incidents.iloc[0][case.name], getattr(model, case.name))


def test_store_agrees_with_the_table(store: IncidentStore) -> None:
    """Every case through ``add_incidents``: refused with the table's wording, or stored."""
    wrong = []
    for number, case in enumerate(CASES):
        record = _record(case, number)
        frame = pd.DataFrame([record])
        try:
            store.add_incidents(frame)
        except IncidentDataError as error:
            message = str(error)
            expected = _expected_summary(case) if not case.ok else "(accepted)"
            if case.ok or expected not in message or ";" in message:
                wrong.append((case.id, expected, message[:200]))
            continue
        if not case.ok:
            wrong.append((case.id, _expected_summary(case), "(accepted)"))
            continue
        stored = store.get(record["external_id"])
        model = Incident.model_validate(record)
        assert stored is not None
        if not _same(stored[case.name], getattr(model, case.name)):
            wrong.append((case.id, getattr(model, case.name), stored[case.name]))
    assert wrong == []


# -- the table and what is built from it --------------------------------------------------------


def test_every_layer_has_the_fields_of_the_table() -> None:
    assert tuple(Incident.model_fields) == INCIDENT_COLUMNS == STORE_COLUMNS
    assert [n for n, f in Incident.model_fields.items() if f.is_required()] == list(
        REQUIRED_COLUMNS
    )
    for spec in INCIDENT_FIELDS:
        if not spec.required:
            assert Incident.model_fields[spec.name].default == spec.default, spec.name
    # Files may also give an address instead of coordinates (geozone.address.incidents).
    assert [f.name for f in fields(ColumnMapping)] == [*INCIDENT_COLUMNS, "address"]
    assert list(DEFAULT_SYNONYMS) == [*INCIDENT_COLUMNS, "address"]
    empty = incident_frame({name: [] for name in INCIDENT_COLUMNS})
    assert tuple(empty.columns) == INCIDENT_COLUMNS


def test_the_model_schema_states_the_table_limits() -> None:
    properties = Incident.model_json_schema()["properties"]
    for spec in INCIDENT_FIELDS:
        schema = properties[spec.name]
        schema = next((s for s in schema.get("anyOf", []) if s.get("type") != "null"), schema)
        assert schema.get("maxLength") == spec.max_length, spec.name
        assert schema.get("minLength") == spec.min_length, spec.name
        assert schema.get("minimum") == spec.low, spec.name
        assert schema.get("maximum") == spec.high, spec.name
        if spec.choices:
            assert tuple(schema["enum"]) == spec.choices


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_store_columns_follow_the_table(dialect: str) -> None:
    table = build_metadata(dialect).tables["incidents"]
    for spec in INCIDENT_FIELDS:
        column = table.c[spec.name]
        assert column.nullable == spec.nullable, spec.name
        assert getattr(column.type, "length", None) == spec.width, spec.name
    # Every value the table allows fits its column.
    assert max(len(code) for code in CATEGORIES) <= (FIELDS["category"].width or 0)
    assert max(len(choice) for choice in FIELDS["status"].choices) <= (FIELDS["status"].width or 0)


def test_migrated_check_constraints_are_the_tables(store: IncidentStore) -> None:
    """The CHECK constraints the migrations made are those the field table implies."""
    assert isinstance(store, SqlIncidentStore)
    engine = store.engine
    described = {
        c.name: " ".join(str(c.sqltext).split())
        for c in build_metadata(engine.dialect.name).tables["incidents"].constraints
        if isinstance(c, sa.CheckConstraint)
    }
    found = {
        c["name"]: " ".join(c["sqltext"].split())
        for c in sa.inspect(engine).get_check_constraints("incidents")
    }
    assert set(found) == set(described)
    if engine.dialect.name == "sqlite":  # SQLite keeps the text as written
        assert found == described


# -- known divergences ------------------------------------------------------------------------


def _verdicts(store: IncidentStore, record: dict[str, Any], name: str) -> tuple[Any, Any, Any]:
    """What the model, the file check and the store make of ``record``'s field ``name``."""
    model, _errors = _model(record)
    incidents, rejects = _file(record)
    try:
        store.add_incidents(pd.DataFrame([record]))
        stored = store.get(record["external_id"])
        in_store = None if stored is None else stored[name]
    except IncidentDataError:
        in_store = "refused"
    by_model = "refused" if model is None else getattr(model, name)
    by_file = "refused" if rejects else incidents.iloc[0][name]
    return by_model, by_file, in_store


#: Spellings the layers once read differently; they must now agree.
FORMER_DIVERGENCES = [
    pytest.param("detected_by", "x" * 63 + NFD_O, id="detected_by-nfd-at-limit"),
    pytest.param("external_id", "   ", id="external_id-blank"),
    pytest.param("external_id", "case  spaced", id="external_id-double-space"),
    pytest.param("category", "theft\x00", id="category-nul"),
    pytest.param("occurred_at", "20240501", id="occurred_at-bare-number"),
]


@pytest.mark.parametrize(("name", "value"), FORMER_DIVERGENCES)
@pytest.mark.parametrize("backend", ["sqlite", "postgis"], indirect=True)
def test_the_layers_agree_on_awkward_spellings(
    store: IncidentStore, backend: str, name: str, value: Any
) -> None:
    record = {"external_id": f"divergence-{name}", **BASE, name: value}
    by_model, by_file, in_store = _verdicts(store, record, name)
    assert by_model == by_file == in_store
