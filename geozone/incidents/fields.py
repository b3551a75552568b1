"""The incident fields: one declarative table that the model, the file check and the store read.

Each field of an incident is described once, in :data:`INCIDENT_FIELDS`: its name, kind,
whether it is required, its default, whether it may be null, its limits (length, range,
allowed values), its normalisation, its store column (type and width) and the wording of
its problems. The rest is derived from this table:

- the pydantic model :class:`geozone.incidents.schema.Incident` takes its constraints
  (lengths, ranges, NFC, no NUL), defaults and allowed values from it;
- the vectorised file check (:mod:`geozone.incidents.io.validate`) takes its limits, its
  defaults and the wording of each reject (``Reject.reason``) from it;
- the store takes its column types, widths, nullability and CHECK constraints
  (:mod:`geozone.store._tables`), its bulk-insert layout and its write-path checks and
  their wording (:mod:`geozone.store._prepare`) from it.

``tests/store/test_fields.py`` holds the three to the table: for every field and every
limit, a value just inside and just outside is accepted or refused alike by the model, the
file check and the store (SQLite and PostGIS), each with the rule's wording.

The two wordings
----------------
A file reject names one row, so its reason quotes the value (:data:`ROW_WORDING`, overridden
per field in :attr:`IncidentField.reasons`): ``longer than 128 characters (129)``. The store
refuses a whole frame at once, so it names the column and counts the rows
(:data:`FRAME_WORDING`): ``external_id longer than 128 in 3 row(s) (…)``. The model words
its constraint errors as pydantic does. Limits are never written into a wording: they are
filled in from the field (``{limit}``, ``{low}``, ``{high}``, ``{choices}``).

Spelling before rules
---------------------
The table holds the rules a value must satisfy, not the spellings each way in accepts: the
file reader also reads day-first dates, decimal commas, Vietnamese status words and yes/no,
and strips and NFC-normalises every text cell before the rules apply; the store takes
Python values and keeps whitespace inside text (Unicode NFC only); the model parses as
pydantic does. The plausible time range lives with the times in
:mod:`geozone.incidents.schema` (``EARLIEST_TIME``, ``latest_time``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, get_args

#: The status of an incident.
Status = Literal["open", "solved"]
#: The statuses, in their order (derived from :data:`Status`).
STATUSES: tuple[str, ...] = get_args(Status)

#: What kind of value a field holds; the layers dispatch on it.
FieldKind = Literal["text", "time", "coordinate", "category", "choice", "count", "flag"]
#: The column type a field is stored in (see :mod:`geozone.store._tables`).
StoreType = Literal["string", "text", "time", "double", "integer", "boolean"]

#: The wording of each rule in a file reject (``Reject.reason``): one row, quoting its value.
#: ``{value}`` is the value as read (already quoted where the check quotes it).
ROW_WORDING: Mapping[str, str] = {
    "missing": "missing {label}",
    "too_long": "longer than {limit} characters ({length})",
    "nul": "contains a NUL character (byte 0)",
    "unreadable": "not a date: {value}",
    "plausible": "{value} is outside the plausible range ({range})",
    "order": "{name} {value} is before {after} {other}",
    "not_a_number": "{label} is not a number: {value}",
    "not_finite": "{label} {value} is not finite",
    "range": "{label} {value:g} is outside [{low:g}, {high:g}]",
    "not_whole": "not a whole number: {value}",
    "choice": "unknown {name} {value!r}; expected {either}",
    "unknown": "unknown {name} {value!r}; known: {known}",
    "not_a_flag": "not a yes/no value: {value}",
}

#: The wording of each rule in the store's refusal of a frame: one column, all its rows.
FRAME_WORDING: Mapping[str, str] = {
    "missing": "{name} is missing",
    "empty": "{name} is empty",
    "too_long": "{name} longer than {limit}",
    "nul": "{name} contains NUL",
    "not_text": "{name} must hold text, found {found} values",
    "unreadable": "{name} is not a time",
    "plausible": "{name} is outside the plausible range ({range})",
    "order": "{name} is before {after}",
    "range": "{name} is not a number in [{low:g}, {high:g}]",
    "not_whole": "{name} is not a whole number in [{low:g}, {high:g}]",
    "choice": "{name} is not one of {choices}",
    "unknown": "unknown {name} {value} (known: {known})",
    "not_a_flag": "{name} is not a boolean",
}


@dataclass(frozen=True)
class StoreColumn:
    """How a field is stored: the column type and, for ``string``, its width in characters.

    A ``string`` column without a width is as wide as the field's ``max_length``.
    """

    type: StoreType
    width: int | None = None


@dataclass(frozen=True)
class IncidentField:
    """One field of an incident: its rules, its store column and the wording of its problems.

    Attributes
    ----------
    name
        The field name (model attribute, file field, store column).
    kind
        What the value is: ``text``, ``time`` (timezone-aware, in the plausible range),
        ``coordinate`` (a finite number in [low, high]), ``category`` (a code or label of
        the categories), ``choice`` (one of ``choices``), ``count`` (a whole number in
        [low, high]) or ``flag`` (a boolean).
    store
        The store column.
    required
        Must be given; otherwise ``default`` applies when it is left out.
    default
        The value of a field left out (None: none, stored NULL).
    nullable
        May be None (``default`` None) and is stored in a nullable column.
    nfc
        The model normalises the text with :func:`geozone.text.nfc` (NFC, spaces collapsed)
        before the limits apply.
    no_nul
        Text holding a NUL character is refused (PostgreSQL cannot store it).
    min_length, max_length
        Limits of a text's length in characters (after normalisation).
    low, high
        Inclusive limits of a number.
    choices
        The values a ``choice`` field may take.
    after
        A time field that this one may not precede (``detected_at`` after ``occurred_at``).
    label
        How a file reject names the value ("id", "date", "longitude").
    reasons
        Row wordings of this field that differ from :data:`ROW_WORDING`.
    """

    name: str
    kind: FieldKind
    store: StoreColumn
    required: bool = False
    default: Any = None
    nullable: bool = False
    nfc: bool = False
    no_nul: bool = False
    min_length: int | None = None
    max_length: int | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    after: str | None = None
    label: str = ""
    reasons: Mapping[str, str] = field(default_factory=dict)

    @property
    def width(self) -> int | None:
        """Return the width of a ``string`` column: its own, else the field's ``max_length``."""
        if self.store.type != "string":
            return None
        return self.store.width if self.store.width is not None else self.max_length

    @property
    def bounds(self) -> tuple[float, float]:
        """Return ``(low, high)`` of a numeric field.

        Raises
        ------
        ValueError
            When the field has no range.
        """
        if self.low is None or self.high is None:
            raise ValueError(f"{self.name} has no range")
        return self.low, self.high

    @cached_property
    def terms(self) -> Mapping[str, Any]:
        """Return what a wording may name of this field (``{limit}``, ``{low}``, …)."""
        return {
            "name": self.name,
            "label": self.label or self.name,
            "limit": self.max_length,
            "low": self.low,
            "high": self.high,
            "choices": ", ".join(self.choices),
            "either": " or ".join(self.choices),
            "after": self.after,
        }

    def reason(self, rule: str, **values: Any) -> str:
        """Word ``rule`` for one row of a file (a reject's reason).

        Parameters
        ----------
        rule
            A key of :data:`ROW_WORDING`.
        **values
            What the wording quotes of the row (``value``, ``length``, …); they may also
            replace a term of the field (``label="x"`` for a projected CRS).
        """
        wording = self.reasons.get(rule, ROW_WORDING[rule])
        return wording.format_map({**self.terms, **values})

    def summary(self, rule: str, **values: Any) -> str:
        """Word ``rule`` for this column of a frame (the store's refusal, before the count).

        Parameters
        ----------
        rule
            A key of :data:`FRAME_WORDING`.
        **values
            What the wording quotes (``found``, ``range``, ``value``, ``known``).
        """
        return frame_wording(rule, **{**self.terms, **values})


def frame_wording(rule: str, **values: Any) -> str:
    """Word ``rule`` of :data:`FRAME_WORDING` for a column (``name``) of a frame."""
    return FRAME_WORDING[rule].format(**values)


#: The fields of an incident, in their order (model, files, store columns).
INCIDENT_FIELDS: tuple[IncidentField, ...] = (
    IncidentField(
        "external_id",
        "text",
        StoreColumn("string"),
        required=True,
        nfc=True,
        no_nul=True,
        min_length=1,
        max_length=128,
        label="id",
    ),
    IncidentField("occurred_at", "time", StoreColumn("time"), required=True, label="date"),
    IncidentField("detected_at", "time", StoreColumn("time"), nullable=True, after="occurred_at"),
    IncidentField(
        "lon",
        "coordinate",
        StoreColumn("double"),
        required=True,
        low=-180,
        high=180,
        label="longitude",
    ),
    IncidentField(
        "lat",
        "coordinate",
        StoreColumn("double"),
        required=True,
        low=-90,
        high=90,
        label="latitude",
    ),
    IncidentField(
        "category", "category", StoreColumn("string", 32), required=True, label="category"
    ),
    IncidentField(
        "detected_by",
        "text",
        StoreColumn("string"),
        nullable=True,
        nfc=True,
        no_nul=True,
        max_length=64,
        reasons={"too_long": "longer than {limit} characters: {value!r}"},
    ),
    IncidentField("status", "choice", StoreColumn("string", 16), default="open", choices=STATUSES),
    IncidentField(
        "subjects",
        "count",
        StoreColumn("integer"),
        default=0,
        low=0,
        high=10_000,
        reasons={
            "not_a_number": "not a number: {value}",
            "range": "{value:g} is outside {low:g}-{high:g}",
        },
    ),
    IncidentField("jointly_handled", "flag", StoreColumn("boolean"), default=False),
    IncidentField(
        "description",
        "text",
        StoreColumn("text"),
        default="",
        nfc=True,
        no_nul=True,
        max_length=4_000,
    ),
    IncidentField("synthetic", "flag", StoreColumn("boolean"), default=False),
)

#: The fields by name.
FIELDS: Mapping[str, IncidentField] = {spec.name: spec for spec in INCIDENT_FIELDS}
#: The columns of an incident frame, in the order of the fields.
INCIDENT_COLUMNS: tuple[str, ...] = tuple(FIELDS)
#: The fields a record must give; the others take their default.
REQUIRED_COLUMNS: tuple[str, ...] = tuple(spec.name for spec in INCIDENT_FIELDS if spec.required)
