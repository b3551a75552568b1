"""The tables of the cluster review, their titles and their bilingual column labels.

Counting rules
--------------
- *Cases* are events: the reports of one event by two members (linked on import, one
  ``event_id``) count once, by the event's lead report (the earliest detection);
  *subjects* the sum of their ``subjects`` (đối tượng); *solved* those
  whose status is ``solved`` at the time of the report ("31/35": solved / cases).
- *Criminal* and *administrative* follow :data:`geozone.incidents.schema.CATEGORIES`.
- *In the border area* is the stored ``in_zone`` flag of the cluster's decision (inside a
  pair or junction zone, or on a boundary between members).
- *Jointly handled* is the incident's ``jointly_handled`` flag.
- Per member: ``in_territory`` counts incidents in the member's territory, ``detected``
  those it detected (``detected_by`` names it: its code, member id or name, as the decisions
  read it), ``led`` those it leads
  under the regulation (the stored ``lead_unit`` is its code); ``solved``, ``subjects`` and
  ``jointly_handled`` are of the cases it leads, ``solved_ratio`` solved / led.
- Incidents no member leads are never counted as led: ``led`` is a member's only, so its
  total is the sum of the members'. They are counted in ``not_led`` (with their
  ``solved``, ``subjects`` and ``jointly_handled``; ``solved_ratio`` is then solved /
  not led) on rows of their own, after the members:

  - "Ngoài địa bàn các thành viên / Outside the members' territory" (``member_kind``
    ``outside``): ``in_territory`` the incidents that lie outside every member's territory
    (the decision holds no member: rule ``outside_members`` or ``outside_every_unit``, or a
    lapsed cluster's ``no_decision`` outside them); ``not_led`` those a unit that is no
    member leads (rule ``outside_members``: handed over to the police of the unit holding
    the point at the members' level, see :func:`geozone.assignment.decide._hand_over`);
  - "Không có đơn vị chủ trì (…) / No lead unit (…)" (``member_kind`` ``no_lead``), one row
    per rule (the reason, in ``rule`` and in the row's name): ``not_led`` the incidents whose
    decision names no lead unit (``no_decision``: the cluster does not apply, e.g. a carried
    cluster not confirmed; ``no_member_geometry``: the members have no geometry in the set;
    ``outside_every_unit``: at sea or abroad). Their place stays where it is known (a
    member's territory, or outside the members); under ``no_member_geometry`` it cannot be
    told, and ``in_territory`` counts them on their rule's row, not outside the members.

  So ``in_territory``, ``led`` + ``not_led``, ``solved``, ``subjects`` and
  ``jointly_handled`` each sum to the cluster's total.
- Months are calendar months in Vietnam time; every month of the period is listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geozone.assignment.rules import BY_NAME, RULE_NAMES
from geozone.clusters.migrate import CARRIED_FROM, CARRIED_PARTIAL
from geozone.incidents.schema import CATEGORIES
from geozone.labels import (
    AREA_LABELS,
    KIND_LABELS,
    KINDS,
    NO_LEAD,
    OUTSIDE_MEMBERS,
    bilingual,
)
from geozone.report._common import _names
from geozone.report.forms import ClusterForm

if TYPE_CHECKING:
    from geozone.clusters.dates import ReportedDate


#: Tables in report order: name → (Vietnamese title, English title).
TABLES: dict[str, tuple[str, str]] = {
    "by_category": ("Vụ việc theo loại", "Incidents by category"),
    "border_zone": ("Địa bàn giáp ranh và ngoài giáp ranh", "In and outside the border area"),
    "by_member": ("Theo đơn vị thành viên", "By member unit"),
    "by_period": ("Theo tháng", "By month"),
    "membership": ("Thay đổi thành viên trong kỳ", "Membership changes in the period"),
    "cluster_forms": (
        "Phạm vi cụm theo bộ ranh giới",
        "Forms of the cluster by boundary set",
    ),
    "hotspots": ("Điểm nóng thống kê (Gi*)", "Statistical hotspots (Gi*)"),
    "named_hotspots": ("Điểm nóng đã biết", "Named hotspots"),
    "border_effect": ("Hiệu ứng giáp ranh", "Border effect"),
}

#: Column name → (Vietnamese label, English label), for headers of every table.
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "category": ("Mã loại", "Category code"),
    "label_vi": ("Loại vụ việc", "Category (Vietnamese)"),
    "label_en": ("Loại (tiếng Anh)", "Category"),
    "kind": ("Nhóm", "Kind"),
    "kind_vi": ("Nhóm", "Kind (Vietnamese)"),
    "kind_en": ("Nhóm (tiếng Anh)", "Kind"),
    "cases": ("Số vụ", "Cases"),
    "subjects": ("Đối tượng", "Subjects"),
    "solved": ("Làm rõ", "Solved"),
    "solved_ratio": ("Tỷ lệ làm rõ", "Solved / cases"),
    "jointly_handled": ("Phối hợp xử lý", "Jointly handled"),
    "in_zone": ("Ở địa bàn giáp ranh", "In the border area"),
    "in_zone_solved": ("Làm rõ ở giáp ranh (vụ)", "Solved in the border area (cases)"),
    "in_zone_solved_ratio": ("Làm rõ ở giáp ranh", "Solved in the border area"),
    "review": ("Cần xem xét", "For review"),
    "area": ("Mã địa bàn", "Area code"),
    "area_vi": ("Địa bàn", "Area (Vietnamese)"),
    "area_en": ("Địa bàn (tiếng Anh)", "Area"),
    "cluster_id": ("Mã cụm", "Cluster id"),
    "member_id": ("Mã thành viên", "Member id"),
    "member_code": ("Mã đơn vị", "Unit code"),
    "member_name": ("Đơn vị", "Member unit"),
    "member_kind": ("Loại thành viên", "Member kind"),
    "partial": ("Một phần", "Partial"),
    "joined": ("Tham gia", "Joined"),
    "left": ("Rời cụm", "Left"),
    "in_territory": ("Trên địa bàn", "In its territory"),
    "detected": ("Phát hiện", "Detected"),
    "led": ("Chủ trì", "Led"),
    "not_led": ("Không do thành viên chủ trì", "Not led by a member"),
    "rule": ("Quy tắc", "Rule"),
    "month": ("Tháng", "Month"),
    "criminal_cases": ("Hình sự: số vụ", "Criminal: cases"),
    "criminal_subjects": ("Hình sự: đối tượng", "Criminal: subjects"),
    "criminal_solved": ("Hình sự: số vụ làm rõ", "Criminal: cases solved"),
    "criminal_solved_ratio": ("Hình sự: làm rõ", "Criminal: solved"),
    "administrative_cases": ("Hành chính: số vụ", "Administrative: cases"),
    "administrative_subjects": ("Hành chính: đối tượng", "Administrative: subjects"),
    "administrative_solved": ("Hành chính: số vụ làm rõ", "Administrative: cases solved"),
    "administrative_solved_ratio": ("Hành chính: làm rõ", "Administrative: solved"),
    "date": ("Ngày", "Date"),
    "change": ("Thay đổi", "Change"),
    "text_vi": ("Nội dung", "Description (Vietnamese)"),
    "text_en": ("Nội dung (tiếng Anh)", "Description"),
    "set_id": ("Bộ ranh giới", "Boundary set"),
    "carried_from": ("Chuyển từ", "Carried from"),
    "applies_from": ("Áp dụng từ", "Applies from"),
    "applies_to": ("Áp dụng đến", "Applies to"),
    "placed": ("Có ranh giới", "Has territory"),
    "members": ("Số thành viên", "Members"),
    "cell_id": ("Ô lưới", "Grid cell"),
    "count": ("Số vụ", "Incidents"),
    "gi_z": ("Gi* z", "Gi* z-score"),
    "p_sim": ("p (hoán vị)", "Permutation p"),
    "q_value": ("q (FDR)", "FDR q-value"),
    "confidence": ("Độ tin cậy", "Confidence"),
    "lon": ("Kinh độ", "Longitude"),
    "lat": ("Vĩ độ", "Latitude"),
    "place": ("Địa điểm", "Place"),
    "n_incidents": ("Số vụ", "Incidents"),
    "share": ("Tỷ trọng", "Share"),
    "n_criminal": ("Hình sự", "Criminal"),
    "n_administrative": ("Hành chính", "Administrative"),
    "top_category": ("Loại nhiều nhất", "Top category"),
    "density_km2": ("Mật độ (vụ/km²)", "Density (per km²)"),
    "overall_density_km2": ("Mật độ chung (vụ/km²)", "Overall density (per km²)"),
    "hot_cell": ("Trùng ô điểm nóng", "On a hot cell"),
    "scope": ("Phạm vi", "Scope"),
    "pair": ("Cặp đơn vị (mã)", "Member pair (codes)"),
    "pair_name": ("Cặp đơn vị", "Member pair"),
    "code_a": ("Đơn vị A", "Unit A"),
    "code_b": ("Đơn vị B", "Unit B"),
    "n_in_zone": ("Ở giáp ranh", "In the zone"),
    "incident_share": ("Tỷ trọng vụ việc ở giáp ranh", "Share of incidents in the zone"),
    "zone_area_km2": ("Diện tích giáp ranh (km²)", "Zone area (km²)"),
    "area_km2": ("Diện tích (km²)", "Area (km²)"),
    "area_share": ("Tỷ trọng diện tích giáp ranh", "Zone share of the area"),
    "expected_in_zone": ("Kỳ vọng ở giáp ranh", "Expected in the zone"),
    "ratio": ("Hệ số", "Ratio"),
    "ratio_ci_low": ("Hệ số: cận dưới 95%", "Ratio: 95% low"),
    "ratio_ci_high": ("Hệ số: cận trên 95%", "Ratio: 95% high"),
    "share_ci_low": ("Tỷ trọng: cận dưới 95%", "Share: 95% low"),
    "share_ci_high": ("Tỷ trọng: cận trên 95%", "Share: 95% high"),
    "p_value": ("Giá trị p", "p-value"),
    "reason": ("Lý do thiếu", "Why missing"),
}


def label(column: object) -> tuple[str, str]:
    """Return the (Vietnamese, English) header of a report column (the name when unknown)."""
    name = str(column)
    return COLUMN_LABELS.get(name, (name, name))


def ratio(solved: Any, cases: Any) -> Any:
    """Return the solved ratio text "31/35" of scalars or aligned arrays/Series."""
    if isinstance(solved, pd.Series | np.ndarray):
        left = pd.Series(np.asarray(solved, dtype=np.int64)).astype(str)
        right = pd.Series(np.asarray(cases, dtype=np.int64)).astype(str)
        out = (left + "/" + right).to_numpy(dtype=object)
        return pd.Series(out, index=solved.index) if isinstance(solved, pd.Series) else out
    return f"{int(solved)}/{int(cases)}"


# -- the tables ------------------------------------------------------------------------------

_TALLY = {
    "cases": ("external_id", "size"),
    "subjects": ("subjects", "sum"),
    "solved": ("solved", "sum"),
    "jointly_handled": ("jointly_handled", "sum"),
    "in_zone": ("in_zone", "sum"),
    "in_zone_solved": ("zone_solved", "sum"),
    "review": ("review", "sum"),
}


def _tally(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Cases, subjects, solved, jointly handled, in zone, in-zone solved, review per group."""
    grouped = frame.groupby(keys, sort=False, dropna=False, observed=True)
    out: pd.DataFrame = grouped.agg(**_TALLY).astype(np.int64)
    return out


def _by_category(frame: pd.DataFrame) -> pd.DataFrame:
    columns = _names(
        "category label_vi label_en kind cases subjects solved solved_ratio jointly_handled "
        "in_zone in_zone_solved in_zone_solved_ratio review"
    )
    if not len(frame):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    out = _tally(frame, ["category"]).reset_index()
    out["label_vi"] = out["category"].map(lambda c: CATEGORIES[c].vi if c in CATEGORIES else c)
    out["label_en"] = out["category"].map(lambda c: CATEGORIES[c].en if c in CATEGORIES else c)
    out["kind"] = out["category"].map(lambda c: CATEGORIES[c].kind if c in CATEGORIES else "other")
    out["solved_ratio"] = ratio(out["solved"], out["cases"])
    out["in_zone_solved_ratio"] = ratio(out["in_zone_solved"], out["in_zone"])
    rank = out["kind"].map({k: i for i, k in enumerate(KINDS)}).fillna(len(KINDS))
    out = out.assign(_rank=rank).sort_values(
        ["_rank", "cases", "category"], ascending=[True, False, True]
    )
    return out[columns].reset_index(drop=True)


def _border_zone(frame: pd.DataFrame) -> pd.DataFrame:
    tallies = [
        _tally(frame.assign(area=frame["in_zone"]), ["area", "kind"]),
        _tally(frame.assign(area=frame["in_zone"], kind="all"), ["area", "kind"]),
    ]
    counts = pd.concat(tallies)
    index = pd.MultiIndex.from_product([[True, False], [*KINDS, "all"]], names=["area", "kind"])
    counts = counts.reindex(index, fill_value=0).reset_index()
    counts["area"] = np.where(counts["area"].astype(bool), "in_zone", "outside_zone")
    counts["area_vi"] = counts["area"].map(lambda a: AREA_LABELS[a][0])
    counts["area_en"] = counts["area"].map(lambda a: AREA_LABELS[a][1])
    counts["kind_vi"] = counts["kind"].map(lambda k: KIND_LABELS[k][0])
    counts["kind_en"] = counts["kind"].map(lambda k: KIND_LABELS[k][1])
    counts["solved_ratio"] = ratio(counts["solved"], counts["cases"])
    return counts[
        _names(
            "area area_vi area_en kind kind_vi kind_en cases subjects solved solved_ratio "
            "jointly_handled review"
        )
    ]


def _members_of(form: ClusterForm, start: date, end: date) -> pd.DataFrame:
    """Return the members of a form during the period (none when the form does not apply)."""
    rows = []
    if form.overlaps(start, end):
        first = max(start, form.applies_from or start)
        last = min(end, form.applies_to or end)
        for member in form.cluster.members:  # a handful of members
            if (member.joined is None or member.joined <= last) and (
                member.left is None or first < member.left
            ):
                rows.append(
                    {
                        "cluster_id": form.id,
                        "member_id": member.id,
                        "member_code": member.territory_code or member.id,
                        "member_name": form.member_name(member),
                        "member_kind": member.kind,
                        "partial": member.partial,
                        "joined": member.joined.isoformat() if member.joined else None,
                        "left": member.left.isoformat() if member.left else None,
                    }
                )
    return pd.DataFrame(
        rows,
        columns=_names(
            "cluster_id member_id member_code member_name member_kind partial joined left"
        ),
    )


_MEMBER_COUNTS = _names(
    "in_territory in_zone detected led not_led solved solved_ratio subjects jointly_handled"
)
#: Rules under which the decision cannot tell which member's territory holds the incident
#: (the members have no geometry in the set): it is not said to be outside the members.
_MEMBER_UNKNOWN_RULES = frozenset({"no_member_geometry"})
#: Row keys of the incidents outside every member and of those nobody leads (+ the rule).
_EXTRA = "\x00"  # sorts before every member code: the extra rows' keys start with it
_OUTSIDE_KEY = f"{_EXTRA}outside"
_NO_LEAD_KEY = f"{_EXTRA}no_lead:"


def _detecting_members(form: ClusterForm, given: pd.Series, ids: dict[Any, Any]) -> dict[Any, Any]:
    """Map each distinct ``detected_by`` to the member code it names (as the decisions do).

    By the territory's own lookup (a member's id, code or name, see
    ``_MemberTable.detector_of``) when the form has one, else by id or code.
    """
    values = pd.unique(given.dropna())
    if form.territory is None:
        return {value: ids[value] for value in values if value in ids}
    table = form.territory.table
    found = {value: table.detector_of(value) for value in values}
    return {value: table.codes[k] for value, k in found.items() if k >= 0 and table.codes[k] in ids}


def _extra_row(form: ClusterForm, key: str) -> dict[str, Any]:
    """Return the metadata of a row that is no member: outside the members, or a no-lead rule."""
    row: dict[str, Any] = {
        "cluster_id": form.id,
        "member_id": None,
        "member_code": None,
        "partial": False,
        "joined": None,
        "left": None,
        "rule": None,
    }
    if key == _OUTSIDE_KEY:
        return {**row, "member_name": bilingual(OUTSIDE_MEMBERS), "member_kind": "outside"}
    rule = key.removeprefix(_NO_LEAD_KEY) or None
    vi, en = NO_LEAD
    if rule in BY_NAME:
        vi, en = f"{vi} ({BY_NAME[rule].label_vi})", f"{en} ({BY_NAME[rule].label_en})"
    elif rule:
        vi, en = f"{vi} ({rule})", f"{en} ({rule})"
    return {**row, "member_name": f"{vi} / {en}", "member_kind": "no_lead", "rule": rule}


def _extra_order(key: object) -> tuple[int, str]:
    """Sort the extra rows: outside the members first, then the no-lead rules in table order."""
    text = str(key)
    if text == _OUTSIDE_KEY:
        return (-1, "")
    rule = text.removeprefix(_NO_LEAD_KEY)
    return (RULE_NAMES.index(rule) if rule in RULE_NAMES else len(RULE_NAMES), rule)


def _by_member(
    frame: pd.DataFrame, forms: Sequence[ClusterForm], start: date, end: date
) -> pd.DataFrame:
    """Return the per-member table of each form (see the module notes, "Per member").

    Every incident is counted once on the place side (``in_territory``, ``in_zone``: the
    member holding it, else "outside the members", else, when its member cannot be told, the
    row of its no-lead rule) and once on the lead side (``led`` by a member, else
    ``not_led`` on the "outside the members" row when a non-member unit leads, else on the
    "no lead unit" row of its rule; ``solved``, ``subjects`` and ``jointly_handled`` go with
    the lead side).
    """
    parts = []
    for form in forms:  # one or two forms
        members = _members_of(form, start, end)
        rows = frame[frame["cluster_id"] == form.id]
        if not len(members) and not len(rows):
            continue
        codes = set(members["member_code"])
        ids = {
            **dict(zip(members["member_id"], members["member_code"], strict=True)),
            **{code: code for code in codes},
        }
        no_lead = _NO_LEAD_KEY + rows["rule"].fillna("").astype(str)
        member = rows["member_code"].isin(codes)
        unknown = rows["member_code"].isna() & rows["rule"].isin(_MEMBER_UNKNOWN_RULES)
        place = rows["member_code"].where(member, no_lead.where(unknown, _OUTSIDE_KEY))
        leader = rows["lead_unit"]
        lead = leader.where(leader.isin(codes), no_lead.where(leader.isna(), _OUTSIDE_KEY))
        detected = rows["detected_by"].map(_detecting_members(form, rows["detected_by"], ids))
        territory = rows.assign(_m=place).groupby("_m")
        leads = rows.assign(_m=lead).groupby("_m")
        cases = leads.size()
        by_member = cases.index.isin(list(codes))
        counts = pd.DataFrame(
            {
                "in_territory": territory.size(),
                "in_zone": territory["in_zone"].sum(),
                "detected": rows.assign(_m=detected).groupby("_m").size(),
                "led": cases[by_member],
                "not_led": cases[~by_member],
                "solved": leads["solved"].sum(),
                "subjects": leads["subjects"].sum(),
                "jointly_handled": leads["jointly_handled"].sum(),
            }
        )
        table = members.assign(rule=None).set_index("member_code", drop=False)
        extra = sorted((k for k in counts.index if str(k).startswith(_EXTRA)), key=_extra_order)
        if extra:
            added = pd.DataFrame([_extra_row(form, k) for k in extra], index=extra)
            table = pd.concat([table, added[table.columns]]) if len(table) else added
        counts = counts.reindex(table.index).fillna(0).astype(np.int64)
        table = pd.concat([table, counts], axis=1)
        table["rule"] = table["rule"].astype(object).where(table["rule"].notna(), None)
        table["solved_ratio"] = ratio(table["solved"], table["led"] + table["not_led"])
        parts.append(table.reset_index(drop=True))
    columns = [*_members_of(forms[0], start, end).columns, "rule", *_MEMBER_COUNTS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def _by_period(frame: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    months = pd.period_range(pd.Period(start, "M"), pd.Period(end, "M"), freq="M")
    counts = _tally(frame, ["month", "kind"])
    out = pd.DataFrame({"month": months.astype(str)}, index=months)
    for kind in KINDS:
        mine = (
            counts.xs(kind, level="kind")
            if len(counts) and kind in counts.index.get_level_values("kind")
            else pd.DataFrame(columns=list(_TALLY))
        )
        mine = mine.reindex(months, fill_value=0).astype(np.int64)
        out[f"{kind}_cases"] = mine["cases"]
        out[f"{kind}_subjects"] = mine["subjects"]
        out[f"{kind}_solved"] = mine["solved"]
        out[f"{kind}_solved_ratio"] = ratio(mine["solved"], mine["cases"])
    total = _tally(frame, ["month"]).reindex(months, fill_value=0).astype(np.int64)
    out["cases"] = total["cases"]
    out["in_zone"] = total["in_zone"]
    out["jointly_handled"] = total["jointly_handled"]
    return out.reset_index(drop=True)


def _in_period(reported: ReportedDate | None, start: date, end: date) -> bool:
    if reported is None:
        return False
    exact = reported.exact
    if exact is not None:
        return start <= exact <= end
    first, last = reported.earliest, reported.latest
    return first is not None and last is not None and first <= end and start <= last


def _date_text(reported: ReportedDate) -> str:
    exact = reported.exact
    return exact.isoformat() if exact is not None else str(reported)


def _date_text_vi(reported: ReportedDate) -> str:
    """Write a reported date in Vietnamese: "31/12/2024", "06/2024", "năm 2024", "suy đoán"."""
    year, month, day = reported.year, reported.month, reported.day
    if year is not None and month is not None and day is not None:
        text = f"{day:02d}/{month:02d}/{year}"
    elif year is not None:
        text = f"{month:02d}/{year}" if month is not None else f"năm {year}"
    elif month is not None:
        text = (f"{day:02d}/" if day is not None else "tháng ") + f"{month:02d} (không rõ năm)"
    else:
        text = "không rõ ngày"
    return text + (", suy đoán" if reported.inferred else "")


def _carried_text(notes: str | None) -> tuple[str, str]:
    """Vietnamese and English of a carried member's note ("From A (code), B (code).").

    The note is the migrator's, in English (:data:`geozone.clusters.migrate.CARRIED_FROM`,
    :data:`~geozone.clusters.migrate.CARRIED_PARTIAL`); its Vietnamese is written here.
    """
    english = notes or ""
    vietnamese = english
    if english.startswith(CARRIED_FROM[1]):
        vietnamese = CARRIED_FROM[0] + english.removeprefix(CARRIED_FROM[1])
        if vietnamese.endswith(CARRIED_PARTIAL[1]):
            vietnamese = vietnamese.removesuffix(CARRIED_PARTIAL[1]) + CARRIED_PARTIAL[0]
    return vietnamese, english


def _membership(forms: Sequence[ClusterForm], start: date, end: date) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []

    def add(day: str, form: ClusterForm, change: str, vi: str, en: str, member: Any = None) -> None:
        rows.append(
            {
                "date": day,
                "cluster_id": form.id,
                "change": change,
                "member_id": member.id if member is not None else None,
                "member_code": (member.territory_code or member.id) if member is not None else None,
                "member_name": form.member_name(member) if member is not None else None,
                "text_vi": vi,
                "text_en": en,
            }
        )

    for form in forms:  # a handful of forms, members and events
        cluster = form.cluster
        period = cluster.period
        carried_on = period.start.exact if cluster.carried_from and period.start else None
        event_days = {e.date.exact for e in cluster.events if e.date.exact is not None}
        if (
            period.start is not None
            and _in_period(period.start, start, end)
            and period.start.exact not in event_days
        ):
            add(
                _date_text(period.start),
                form,
                "period_start",
                f"Cụm bắt đầu hoạt động ({cluster.name}).",
                f"The cluster's period starts ({cluster.name_en}).",
            )
        for event in cluster.events:
            if event.kind in ("admitted", "left") or not _in_period(event.date, start, end):
                continue
            add(_date_text(event.date), form, event.kind, event.text, event.text_en or event.text)
        for member in cluster.members:
            if member.joined is not None and start <= member.joined <= end:
                if carried_on is not None and member.joined == carried_on:
                    vi, en = _carried_text(member.notes)
                    if member.partial:
                        vi, en = f"Một phần. {vi}", f"Partial member. {en}"
                    add(member.joined.isoformat(), form, "carried", vi, en, member)
                else:
                    add(
                        member.joined.isoformat(),
                        form,
                        "joined",
                        f"{form.member_name(member)} tham gia cụm.",
                        f"{form.member_name(member)} joins the cluster.",
                        member,
                    )
            if member.left is not None and start <= member.left <= end:
                add(
                    member.left.isoformat(),
                    form,
                    "left",
                    f"{form.member_name(member)} rời cụm.",
                    f"{form.member_name(member)} leaves the cluster.",
                    member,
                )
        if period.end is not None and _in_period(period.end, start, end):
            # The period's note is English; its Vietnamese (note_vi) goes on the Vietnamese
            # side, else the date alone (marked when it is inferred).
            ended = _date_text(period.end)
            note_vi = (period.note_vi or _date_text_vi(period.end)).rstrip(".")
            note_en = (period.note or ended).rstrip(".")
            add(
                ended,
                form,
                "period_end",
                f"Kết thúc giai đoạn của cụm ({note_vi}).",
                f"The cluster's period ends ({note_en}).",
            )
    columns = _names("date cluster_id change member_id member_code member_name text_vi text_en")
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values("date", kind="stable").reset_index(drop=True)


def _cluster_forms_table(
    forms: Sequence[ClusterForm], frame: pd.DataFrame, start: date, end: date
) -> pd.DataFrame:
    counts = frame.groupby("cluster_id").size()
    return pd.DataFrame(
        {
            "cluster_id": [f.id for f in forms],
            "set_id": [f.set_id for f in forms],
            "carried_from": [f.cluster.carried_from for f in forms],
            "applies_from": [f.applies_from.isoformat() if f.applies_from else None for f in forms],
            "applies_to": [f.applies_to.isoformat() if f.applies_to else None for f in forms],
            "placed": [f.territory is not None for f in forms],
            "members": [len(_members_of(f, start, end)) for f in forms],
            "cases": [int(counts.get(f.id, 0)) for f in forms],
        }
    )


def report_tables(
    frame: pd.DataFrame, forms: Sequence[ClusterForm], start: date, end: date
) -> dict[str, pd.DataFrame]:
    """Return the report's base tables, in report order (see the module notes).

    Parameters
    ----------
    frame
        The report's incidents (:func:`geozone.report.incidents.prepare_incidents`).
    forms
        The forms of the cluster (:func:`geozone.report.forms.cluster_forms`).
    start, end
        First and last day of the period, inclusive.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``by_category``, ``border_zone``, ``by_member``, ``by_period``, ``membership`` and
        ``cluster_forms``.
    """
    return {
        "by_category": _by_category(frame),
        "border_zone": _border_zone(frame),
        "by_member": _by_member(frame, forms, start, end),
        "by_period": _by_period(frame, start, end),
        "membership": _membership(forms, start, end),
        "cluster_forms": _cluster_forms_table(forms, frame, start, end),
    }
