"""Explanations: one sentence in Vietnamese and one in English for every decision."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from geozone.assignment.rules import BY_NAME, CLAUSES
from geozone.assignment.situation import _missing
from geozone.assignment.territory import ClusterTerritory
from geozone.boundaries.manifest import LEVEL_ORDER
from geozone.clusters.dates import Period, ReportedDate
from geozone.clusters.model import Cluster
from geozone.errors import GeozoneError
from geozone.text import format_date, format_number

if TYPE_CHECKING:
    from geozone.boundaries.sets import SetInfo


def _text(values: NDArray[np.object_]) -> pd.Series:
    """Keep a column of strings as Python objects: no copy into Arrow for a frame in passing."""
    return pd.Series(values, dtype=object, copy=False)


#: A column of sentences: Python strings, or an Arrow string array (``explain(arrow=True)``).
Sentences: TypeAlias = NDArray[np.object_] | pa.Array


#: Values of the columns a caller may leave out (a frame of stored decisions, say).
_ABSENT: dict[str, Any] = {"hand_over_wanted": -1, "hand_over_level": -1}


#: Stands for the distance in a worded sentence until each row's number is put in.
_METRES = "\x00"


_LANGUAGES = ("vi", "en")


def explain(
    frame: pd.DataFrame | Mapping[str, NDArray[Any]],
    situation: NDArray[Any],
    territory: ClusterTerritory,
    tolerance_m: float,
    arrow: bool = False,
) -> tuple[Sentences, Sentences]:
    """Write the Vietnamese and English sentence of every row of :func:`assign_clusters`.

    Each rule's template (:data:`geozone.assignment.rules.RULES`) is filled once per situation (rows
    with the same ``situation`` number share the rule, the units and the wording) with a
    placeholder for the distance; each row's whole metres then go into the placeholder,
    which only the templates that quote a distance have.

    Parameters
    ----------
    frame
        The decision columns (a DataFrame or a mapping of equal-length arrays), with
        ``unit_code`` (the unit of the set holding each point), ``area_code`` (the unit
        standing in for the members in coarse mode, else None) and ``boundary_units`` (the
        members on whose boundary the point lies, within the tolerance).
    situation
        One integer per row; rows with the same number are worded alike.
    territory
        The territory the rows were judged in.
    tolerance_m
        The boundary tolerance, quoted in on-boundary sentences.
    arrow
        Return Arrow dictionary arrays of strings (each distinct sentence joined once in
        Arrow, the rows indexing them: no Python string per row, for a file written in
        Arrow) instead of arrays of Python strings.
    """
    labels, first = np.unique(np.asarray(situation), return_index=True)
    needed = (
        "member_code",
        "boundary_with",
        "distance_m",
        "cooperating",
        "zone_units",
        "boundary_units",
        "lead_unit",
        "detector",
        "rule",
        "unit_code",
        "area_code",
        "side",
        "across_side",
        "event",
        "ceased",
        "uncertain",
        "hand_over_wanted",
        "hand_over_level",
    )
    # Only each situation's first row is read: no column is copied whole into Python objects.
    firsts = {
        column: np.asarray(frame[column])[first].astype(object)
        if column in frame
        else np.full(len(first), _ABSENT.get(column), dtype=object)
        for column in needed
    }
    worded = [
        _worded({column: firsts[column][k] for column in needed}, territory, tolerance_m)
        for k in range(len(first))
    ]
    which = np.searchsorted(labels, situation)
    distance_m = np.asarray(frame["distance_m"], dtype=float)
    slot = np.array([w[0][2] for w in worded], dtype=bool)[which]
    metres = np.where(slot & np.isfinite(distance_m), np.round(np.nan_to_num(distance_m)), -1)
    metres = metres.astype(np.int64)
    # Many rows share a situation and a whole number of metres: word each pair once.
    span = int(metres.max(initial=-1)) + 2
    pairs, row_pair = np.unique(which * span + metres + 1, return_inverse=True)
    pair_which, pair_metres = pairs // span, pairs % span - 1
    # Distances are whole metres within a band: each distinct number is written once.
    numbers, number_of = np.unique(pair_metres, return_inverse=True)
    out: list[Sentences] = []
    for language in range(len(_LANGUAGES)):
        written = [_metres(m, _LANGUAGES[language]) if m >= 0 else "" for m in numbers.tolist()]
        pres = [w[language][0] for w in worded]
        posts = [w[language][1] for w in worded]
        if arrow:  # each distinct sentence joined once; the rows index them
            parts = [pa.array(pres).take(pair_which), pa.array(written).take(number_of.ravel())]
            pair_text = pc.binary_join_element_wise(*parts, pa.array(posts).take(pair_which), "")
            rows = pa.array(row_pair.ravel().astype(np.int32))
            out.append(pa.DictionaryArray.from_arrays(rows, pair_text))
            continue
        quoted = np.array(written, dtype=object)[number_of.ravel()]
        pre = np.array(pres, dtype=object)[pair_which]
        post = np.array(posts, dtype=object)[pair_which]
        out.append((pre + quoted + post)[row_pair.ravel()])
    return out[0], out[1]


@lru_cache(maxsize=65_536)
def _metres(metres: int, language: str) -> str:
    """Return a whole number of metres as a sentence writes it (each number formatted once)."""
    return format_number(metres, language)


#: Worded situations kept per territory at most (a bound on a run's memory: an entry holds
#: four sentences, some 4 KB).
_WORDED_MAX = 8_192


def _worded(
    row: Mapping[str, Any], territory: ClusterTerritory, tolerance_m: float
) -> tuple[tuple[str, str, bool], tuple[str, str, bool]]:
    """Return :func:`situation_sentences`, worded once per situation and territory.

    The key holds every value the wording reads (the distance only as whether there is
    one: its number goes in later). A cooperating report of a linked event is worded as its
    situation without the event (kept as any), then its event clause is added: the clause
    names the event's lead report, which no other event meets again (kept whole, such
    wordings grew a run's memory by ~60 MB a million incidents; worded whole each time,
    they took ~1 s of an import of 1 M). Every template ends with that clause.
    """
    event = row["event"]
    if not _missing(event):
        plain = _worded({**row, "event": None}, territory, tolerance_m)
        return (
            _with_clause(plain[0], _event_clause(event, territory, "vi", _namer(territory, "vi"))),
            _with_clause(plain[1], _event_clause(event, territory, "en", _namer(territory, "en"))),
        )
    key = (
        tolerance_m,
        str(row["rule"]),
        row["member_code"],
        row["boundary_with"],
        _has_distance(row),
        tuple(row["cooperating"]),
        tuple(row["zone_units"]),
        tuple(row["boundary_units"]),
        row["lead_unit"],
        None if _missing(row["detector"]) else str(row["detector"]),
        row["unit_code"],
        row["area_code"],
        int(row["side"]),
        int(row["across_side"]),
        bool(row.get("ceased", False)),
        bool(row.get("uncertain", False)),
        int(row.get("hand_over_wanted", -1)),
        int(row.get("hand_over_level", -1)),
    )
    found = territory.worded.get(key)
    if found is None:
        found = situation_sentences(row, territory, tolerance_m)
        if len(territory.worded) < _WORDED_MAX:
            territory.worded[key] = found
    return found


def _namer(territory: ClusterTerritory, language: str) -> Callable[[Any], str]:
    """Return the namer of a territory's units in ``language``."""
    return lambda code: territory.unit_name(code, language)


def _with_clause(worded: tuple[str, str, bool], clause: str) -> tuple[str, str, bool]:
    """Return a sentence cut at its distance (see :func:`situation_sentences`), ``clause`` added."""
    before, after, quoted = worded
    return (before, after + clause, quoted) if quoted else (before + clause, after, quoted)


def situation_sentences(
    row: Mapping[str, Any], territory: ClusterTerritory, tolerance_m: float
) -> tuple[tuple[str, str, bool], tuple[str, str, bool]]:
    """Word one situation in Vietnamese and English from its rule's templates.

    Returns, per language, the sentence cut at the distance placeholder (before, after) and
    whether it has one; a sentence without a distance has an empty second part.
    """
    rule = BY_NAME[str(row["rule"])]
    out = []
    for language in _LANGUAGES:
        values = _parameters(row, territory, tolerance_m, language)
        # Every rule's sentence ends with the event clause (empty unless the report is a
        # cooperating report of a linked event).
        sentence = (
            getattr(rule, language).format(**values)
            + values["uncertain"]
            + values["ceased"]
            + values["partial"]
            + values["event"]
        )
        before, found, after = sentence.partition(_METRES)
        out.append((before, after, bool(found)))
    return out[0], out[1]


def _parameters(
    row: Mapping[str, Any], territory: ClusterTerritory, tolerance_m: float, language: str
) -> dict[str, str]:
    """Return the named parameters of the templates for one situation and language."""
    name = _namer(territory, language)

    def clause(key: str, **values: str) -> str:
        return CLAUSES[key][language].format(**values)

    cooperating = ", ".join(name(c) for c in row["cooperating"])
    detector = row["detector"]
    detected = _missing(detector) or not str(detector).strip()
    unit = row["area_code"] if row["area_code"] is not None else row["unit_code"]
    level = territory.cluster.level
    return {
        "holder": name(row["member_code"]),
        "unit": name(unit),
        "within": _within(unit, row["lead_unit"], territory, name),
        "receiver": _receiver_clause(row, territory, language, name),
        # Outside every unit of the set (at sea, abroad): said so, not "in unknown".
        "place": clause("outside_units", set=territory.bset.id)
        if _missing(unit)
        else clause("in_unit", unit=name(unit)),
        "detector": name(detector),
        "detected": "" if detected else clause("detected", detector=name(detector)),
        "zone": " – ".join(name(c) for c in row["zone_units"]),
        # The members on whose boundary it lies, not every member of its zone (a member
        # 150 m away is in a 200 m zone, not on the boundary).
        "boundary": " – ".join(name(c) for c in row["boundary_units"]),
        "distance": _distance_clause(row, territory, language, name) if _has_distance(row) else "",
        "width": f"{format_number(territory.width_m, language)} m",
        "tolerance": f"{format_number(tolerance_m, language)} m",
        "cooperating": clause("cooperating", members=cooperating) if cooperating else "",
        "set": territory.bset.id,
        "missing": ", ".join(name(c) for c in territory.missing_geometry),
        "level": CLAUSES[f"level_{level}"][language],
        "default_rule": "" if territory.cluster.lead_rule else clause("default_rule"),
        "zone_basis": _zone_basis(territory, language),
        "standing": _standing(territory.cluster, language),
        "lapsed": _lapsed_clause(territory.cluster, language),
        "event": _event_clause(row.get("event"), territory, language, name),
        "not_member": _not_member_clause(detector, territory, language),
        "ceased": _ceased_clause(territory.cluster, language) if row.get("ceased") else "",
        "uncertain": _uncertain_clause(territory.cluster, language) if row.get("uncertain") else "",
        "partial": ""
        if not territory.decides
        else _partial_clause(row["member_code"], territory, language, name),
    }


def _within(
    unit: Any, receiver: Any, territory: ClusterTerritory, name: Callable[[Any], str]
) -> str:
    """Name where a handed-over point lies: the finest unit, then its parents up to the receiver.

    "Huyện Giồng Riềng (…), Tỉnh Kiên Giang (91)" for a point handed over to the province;
    the unit alone when it is the receiver.
    """
    if _missing(unit) or _missing(receiver) or unit == receiver:
        return name(receiver if _missing(unit) else unit)
    try:
        chain = [u.code for u in territory.bset.chain(str(unit))]
    except GeozoneError:  # a unit the register lacks (merged since its geometry was drawn)
        chain = [unit]
    codes = chain[: chain.index(receiver) + 1] if receiver in chain else [unit, receiver]
    return ", ".join(name(code) for code in codes)


def _receiver_clause(
    row: Mapping[str, Any], territory: ClusterTerritory, language: str, name: Callable[[Any], str]
) -> str:
    """Name the police an incident is handed over to, its level, and why a coarser one.

    "Công an tỉnh Kiên Giang (91), công an cấp tỉnh nơi xảy ra" (see
    :func:`geozone.assignment.decide._hand_over`).
    """
    unit = name(row["lead_unit"])
    if language == "vi":  # "Công an tỉnh …": the type word is not capitalised after it
        unit = unit[:1].lower() + unit[1:]
    police = CLAUSES["police"][language].format(unit=unit)
    reached = int(row.get("hand_over_level", -1))
    wanted = int(row.get("hand_over_wanted", -1))
    if reached < 0:  # no unit at or above the level: the finest unit holding the point
        return police
    tier = CLAUSES[f"tier_{LEVEL_ORDER[reached]}"][language]
    if reached < wanted:
        return CLAUSES["hand_over_above"][language].format(
            police=police,
            tier=tier,
            set=territory.bset.id,
            level=CLAUSES[f"level_{LEVEL_ORDER[wanted]}"][language],
        )
    return CLAUSES["hand_over"][language].format(police=police, tier=tier)


def _event_clause(event: Any, territory: ClusterTerritory, language: str, name: Any) -> str:
    """Say that a report is a cooperating report of a linked event (empty for any other).

    Its own detector is named as a detector is: the member it stands for, else as given.
    """
    if event is None or _missing(event):
        return ""
    lead, own = event
    if _missing(own) or not str(own).strip():
        reporter = CLAUSES["unnamed_reporter"][language]
    else:
        member = territory.table.detector_of(own)
        reporter = name(own if member < 0 else territory.table.codes[member])
    return CLAUSES["event"][language].format(report=lead, reporter=reporter)


def _has_distance(row: Mapping[str, Any]) -> bool:
    """Tell whether a situation quotes a distance: a member (or old side) across, measured."""
    across = row["boundary_with"] is not None or row["across_side"] >= 0
    return bool(across and np.isfinite(row["distance_m"]))


def _distance_clause(
    row: Mapping[str, Any], territory: ClusterTerritory, language: str, name: Any
) -> str:
    """Return the distance clause: to the member across, or to a carried cluster's old line."""
    sides = territory.sides if territory.geometric else None
    if sides is not None and sides.carried and row["side"] >= 0 and row["across_side"] >= 0:
        return CLAUSES["distance_original"][language].format(
            own=sides.names[int(row["side"])],
            across=sides.names[int(row["across_side"])],
            metres=_METRES,
        )
    return CLAUSES["distance"][language].format(across=name(row["boundary_with"]), metres=_METRES)


def _zone_basis(territory: ClusterTerritory, language: str) -> str:
    """Return how a carried cluster's zone was derived (empty for an ordinary cluster)."""
    if not territory.geometric or not territory.sides.carried:
        return ""
    return territory.sides.basis_vi if language == "vi" else territory.sides.basis_en


def lapsed_sentences(cluster: Cluster) -> tuple[str, str]:
    """Say, in Vietnamese and English, why a lapsed carried cluster decides nothing."""
    return _lapsed_clause(cluster, "vi"), _lapsed_clause(cluster, "en")


def out_of_period_notice(cluster: Cluster, day: date) -> str:
    """Say, Vietnamese / English, that a cluster does not apply on ``day``, and its period.

    For an incident the cluster would concern (in a member's territory, or detected by a
    member) outside the period the regulation runs: no decision row is written for it, and
    this says why rather than nothing.
    """
    out = []
    for language in _PERIOD_WORDS:
        span = period_span(cluster.period, language)
        out.append(
            CLAUSES["out_of_period"][language].format(
                cluster=cluster_named(cluster, language),
                day=format_date(day, language),
                period=span,
            )
        )
    return " / ".join(out)


def snapshot_notice(info: SetInfo, first: date, last: date | None = None) -> str | None:
    """Say, Vietnamese / English, that an answer's units are a snapshot's (None: no need).

    The rule (:meth:`~geozone.boundaries.sets.SetInfo.outside_snapshot`): a boundary set that
    is one snapshot (its manifest's ``as_of``: vn-legacy-districts, about February 2023,
    used from 2008-08-01 to 2025-06-30) shows its boundaries as they stood then. Every
    answer that uses it for a day outside the snapshot's days (its month, or its day) gets
    this notice, worded once (:data:`geozone.labels.SNAPSHOT_NOTICE`); the same text
    whatever the day, so that every output says the same. A day within the snapshot,
    or a set without one (vn2025), gets None. It goes beside the answer's sentences, never
    into them: a decision's sentence names its units as the set does, and stays as stored.

    Parameters
    ----------
    info
        The set the answer was judged on.
    first, last
        The day the set is used for, or the days from ``first`` to ``last`` (both inclusive;
        a report's period, a cluster map's), clipped by the caller to the days the set is
        used for.

    Returns
    -------
    str or None
        "Đơn vị hành chính xác định theo bộ ranh giới “…” (vn-legacy-districts), ranh giới
        là bản chụp khoảng tháng 02/2023 … / Units are found in the boundary set …".
    """
    if info.snapshot is None or not info.outside_snapshot(first, last):
        return None
    return _snapshot_wording(info)


@lru_cache(maxsize=16)
def _snapshot_wording(info: SetInfo) -> str:
    """Word :func:`snapshot_notice` for a set (once per set: every answer says the same)."""
    from geozone.labels import MONTHS_EN, SET_PERIOD, SNAPSHOT_NOTICE, SNAPSHOT_TIME

    start, end = info.snapshot or (info.valid_from, info.valid_from)
    out = []
    for k, language in enumerate(_LANGUAGES):
        if start != end:  # known to the month
            month = f"{MONTHS_EN[start.month - 1]} {start.year}" if k else f"{start:%m/%Y}"
            as_of = SNAPSHOT_TIME["month"][k].format(month=month)
        else:
            as_of = SNAPSHOT_TIME["day"][k].format(day=format_date(start, language))
        since = format_date(info.valid_from, language)
        if info.valid_to is None:
            period = SET_PERIOD["open"][k].format(start=since)
        else:
            until = format_date(info.valid_to, language)
            period = SET_PERIOD["closed"][k].format(start=since, end=until)
        title = info.title if k else info.title_vi or info.title
        out.append(SNAPSHOT_NOTICE[k].format(title=title, set=info.id, as_of=as_of, period=period))
    return " / ".join(out)


def cluster_named(cluster: Cluster, language: str, *, original: bool = False) -> str:
    """Name a cluster as the sentences do: its name, then its id in brackets.

    Parameters
    ----------
    cluster
        The cluster.
    language
        ``"vi"`` (its Vietnamese name) or ``"en"`` (its English name, else the Vietnamese).
    original
        Name the cluster ``cluster`` was carried from instead (``cluster`` itself when it is
        not a carried one); an original whose names were not kept is named by its id
        ("cụm hoa-do-phuc-vi").

    Returns
    -------
    str
        "Cụm liên kết Hoa - Đô - Phúc - Vị … (hoa-do-phuc-vi)".
    """
    if original and cluster.carried_from is not None:
        cluster_id, vi, en = (
            cluster.carried_from,
            cluster.carried_from_name,
            cluster.carried_from_name_en,
        )
    else:
        cluster_id, vi, en = cluster.id, cluster.name, cluster.name_en
    name = vi if language == "vi" else en or vi
    key = "cluster_named" if name else "cluster_unnamed"
    return CLAUSES[key][language].format(name=name, id=cluster_id)


def period_span(period: Period, language: str) -> str:
    """Word a cluster's period as far as it is known ("từ 26/05/2023 đến 31/12/2024 (suy đoán)").

    A bound whose day is not reported is worded as the days it may be ("from a day between
    2009-06-16 and 2021-06-16"), never as one of them.
    """
    since, until, both, neither = _PERIOD_WORDS[language]
    first = _bound(period.start, language)
    last = _bound(period.end, language)
    if first and last:
        return both.format(start=first, end=last)
    return since.format(start=first) if first else until.format(end=last) if last else neither


def _bound(bound: ReportedDate | None, language: str) -> str:
    """Word a period's bound (empty when open): its day, or the days it may be."""
    if bound is None:
        return ""
    words = _BOUND_WORDS[language]
    if bound.earliest is not None and bound.earliest == bound.latest:
        inferred = {"vi": " (suy đoán)", "en": " (inferred)"}[language] if bound.inferred else ""
        return format_date(bound.earliest, language) + inferred
    if bound.earliest is not None and bound.latest is not None:
        return words["between"].format(
            first=format_date(bound.earliest, language), last=format_date(bound.latest, language)
        )
    if bound.latest is not None:
        return words["by"].format(last=format_date(bound.latest, language))
    if bound.earliest is not None:
        return words["after"].format(first=format_date(bound.earliest, language))
    if bound.month is not None and bound.day is not None:
        return words["yearless"].format(day=bound.day, month=bound.month)
    return words["unknown"]


#: How a period is worded: from a start, until an end, both, neither.
_PERIOD_WORDS = {
    "vi": ("từ {start}", "đến {end}", "từ {start} đến {end}", "không rõ"),
    "en": ("from {start}", "until {end}", "from {start} to {end}", "unknown"),
}
#: How a bound not known to the day is worded.
_BOUND_WORDS = {
    "vi": {
        "between": "một ngày trong khoảng {first} – {last}",
        "by": "một ngày không muộn hơn {last}",
        "after": "một ngày không sớm hơn {first}",
        "yearless": "ngày {day:02d}/{month:02d} của một năm không rõ",
        "unknown": "một ngày không rõ",
    },
    "en": {
        "between": "a day between {first} and {last}",
        "by": "a day no later than {last}",
        "after": "a day no earlier than {first}",
        "yearless": "{day:02d}/{month:02d} of an unknown year",
        "unknown": "an unknown day",
    },
}


def _uncertain_clause(cluster: Cluster, language: str) -> str:
    """Say that the cluster's reported dates cannot tell whether it ran that day."""
    return CLAUSES["period_uncertain"][language].format(
        period=period_span(cluster.period, language)
    )


def standing_notice(cluster: Cluster) -> str | None:
    """Say, Vietnamese / English, what a cluster's decisions stand on (None: nothing to say).

    A carried cluster: lapsed, it decides nothing, and why; proposed, its decisions are
    proposals to confirm; confirmed, from when. A cluster of districts in its own units:
    its decisions from the day district police ceased are reviewed. For a map or a page that
    shows the cluster without a sentence.
    """
    if not cluster.decides:
        return " / ".join(lapsed_sentences(cluster))
    if cluster.police_ceased_from is not None:
        day = {lang: format_date(cluster.police_ceased_from, lang) for lang in ("vi", "en")}
        return " / ".join(
            CLAUSES["police_ceased_map"][lang].format(date=day[lang]) for lang in ("vi", "en")
        )
    vi, en = _standing(cluster, "vi").strip(), _standing(cluster, "en").strip()
    return f"{vi} / {en}" if vi else None


def _not_member_clause(detector: Any, territory: ClusterTerritory, language: str) -> str:
    """Say why a detector counts as no member: none, or a name several members share."""
    shared = () if _missing(detector) else territory.table.namesakes(str(detector))
    if not shared:
        return CLAUSES["not_member"][language]
    codes = territory.table.codes
    named = [f"{territory.unit_name(codes[k], language)} ({codes[k]})" for k in shared]
    last = {"vi": " và ", "en": " and "}[language]
    members = last.join([", ".join(named[:-1]), named[-1]])
    return CLAUSES["namesake"][language].format(members=members)


def _ceased_clause(cluster: Cluster, language: str) -> str:
    """Say that the members' police units had ceased (district police, from 1 March 2025)."""
    ceased_from = cluster.police_ceased_from
    if ceased_from is None:
        return ""
    return CLAUSES["police_ceased"][language].format(date=format_date(ceased_from, language))


def _partial_clause(holder: Any, territory: ClusterTerritory, language: str, name: Any) -> str:
    """Say that the member holding the point is a partial one (empty for any other)."""
    k = territory.table.holders.get(holder) if isinstance(holder, str) else None
    if k is None or not territory.table.partial[k]:
        return ""
    return CLAUSES["partial_holder"][language].format(holder=name(holder))


def _lapsed_clause(cluster: Cluster, language: str) -> str:
    """Return why a lapsed carried cluster decides nothing (empty for any other cluster)."""
    if cluster.decides:
        return ""
    ended = cluster.original_period.end if cluster.original_period else None
    when = CLAUSES["unknown"][language]
    if ended is not None and ended.latest is not None:
        when = format_date(ended.latest, language)
        if ended.inferred:
            when += {"vi": " (suy đoán)", "en": " (inferred)"}[language]
    original = cluster_named(cluster, language, original=True)
    return CLAUSES["lapsed"][language].format(cluster=original, end=when, carried=cluster.id)


def _standing(cluster: Cluster, language: str) -> str:
    """Return the clause on a carried cluster's standing (empty for an original one)."""
    status, start = cluster.carry_status, cluster.period.start
    if status in (None, "lapsed") or start is None or start.exact is None:
        return ""
    since = format_date(start.exact, language)
    if status == "confirmed":
        return CLAUSES["confirmed"][language].format(date=since)
    key = "proposed_district" if cluster.carried_from_level == "district" else "proposed"
    return CLAUSES[key][language].format(date=since)
