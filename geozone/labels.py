"""The one catalogue of the labels geozone shows in Vietnamese and English.

Maps, reports and the API show the same coded values to people: incident categories and their
kinds, lead rules, border zones, member kinds, membership changes, Gi* cells and emerging hot
spots, and the mark of synthetic data. Their
wording lives here, once; the outputs import it.

A label is a ``(Vietnamese, English)`` pair; :func:`bilingual` writes it as one text, "vi /
en", as the maps do. The rule labels are that text already, from the rule table
(:data:`geozone.assignment.rules.RULE_LABELS`), and the category labels come from the incident
schema (:data:`geozone.incidents.schema.CATEGORIES`): this module names them, it copies
neither.

Synthetic data is marked in one spelling per use:

- :data:`SYNTHETIC_BANNER` ("DỮ LIỆU MÔ PHỎNG / SYNTHETIC"): the badge of the maps;
- :data:`SYNTHETIC_LABEL` ("Dữ liệu mô phỏng / Synthetic data"): the label of a report (its
  JSON ``synthetic_label``; the printed report shows it in capitals, ``.upper()``);
- :data:`SYNTHETIC_LABEL_TEXT`: the same label in lower case, as the Gi* GeoJSON property
  ``synthetic_label`` of the maps and the API carries it;
- :data:`SYNTHETIC_NOTE` ("SYNTHETIC data (dữ liệu mô phỏng)"): the opening of the messages
  of an analysis of synthetic incidents (``message``); :data:`SYNTHETIC_NOTE_LABEL` the
  opening of the same message in each language (``message_vi``: "DỮ LIỆU MÔ PHỎNG",
  ``message_en``: "SYNTHETIC data").

What a cluster's study counts is said in one phrase, :data:`STUDY_COUNT_BASIS` (one text:
:data:`STUDY_COUNT_BASIS_TEXT`), wherever a study's incident count is shown.

What an answer on a boundary set that is one snapshot rests on is said in one notice,
:data:`SNAPSHOT_NOTICE` (worded by :func:`geozone.assignment.explain.snapshot_notice`).
"""

from __future__ import annotations

from geozone.assignment.rules import RULE_LABELS  # rule name → "vi / en", the rule table's
from geozone.incidents.schema import CATEGORIES

#: A label: (Vietnamese, English).
Label = tuple[str, str]


def bilingual(label: Label) -> str:
    """Return a label as one text, Vietnamese first: "Vùng giáp ranh / Border zone".

    Parameters
    ----------
    label
        ``(Vietnamese, English)``.

    Returns
    -------
    str
        "vi / en".
    """
    return f"{label[0]} / {label[1]}"


# -- incidents ---------------------------------------------------------------------------------

#: Category code → label, from the incident schema.
CATEGORY_LABELS: dict[str, Label] = {code: (c.vi, c.en) for code, c in CATEGORIES.items()}
#: The kinds of category a review counts apart, in report order.
KINDS: tuple[str, ...] = ("criminal", "administrative")
#: Category kinds in the reviews' own terms ("31 of 35 criminal cases"), and their total.
KIND_LABELS: dict[str, Label] = {
    "criminal": ("Phạm pháp hình sự", "Criminal cases"),
    "administrative": ("Vi phạm hành chính", "Administrative violations"),
    "all": ("Tổng cộng", "All"),
}
#: The short form of the kinds on a map's incident legend, "other" included (what the map
#: showed before the catalogue; tests of the map legend assert it).
KIND_SHORT_LABELS: dict[str, Label] = {
    "criminal": ("Hình sự", "Criminal"),
    "administrative": ("Vi phạm hành chính", "Administrative"),
    "other": ("Khác", "Other"),
}

# -- places and members ------------------------------------------------------------------------

#: In or outside a cluster's border area (the stored ``in_zone`` flag).
AREA_LABELS: dict[str, Label] = {
    "in_zone": ("Địa bàn giáp ranh", "In the border area"),
    "outside_zone": ("Ngoài địa bàn giáp ranh", "Outside the border area"),
}
#: Where incidents outside every member's territory are counted.
OUTSIDE_MEMBERS: Label = ("Ngoài địa bàn các thành viên", "Outside the members' territory")
#: Where incidents nobody leads are counted (no lead unit in the decision), by rule.
NO_LEAD: Label = ("Không có đơn vị chủ trì", "No lead unit")
#: Border zones by kind: along a pair's shared boundary, or around a junction.
ZONE_KIND_LABELS: dict[str, Label] = {
    "pair": ("Vùng giáp ranh", "Border zone"),
    "junction": ("Vùng giao điểm", "Junction zone"),
}
#: Rows of the per-member table by kind: a unit with territory, an organisation without, the
#: incidents outside every member, and those nobody leads.
MEMBER_KIND_LABELS: dict[str, Label] = {
    "unit": ("Đơn vị", "Unit"),
    "organisation": ("Tổ chức", "Organisation"),
    "outside": ("Ngoài cụm", "Outside"),
    "no_lead": NO_LEAD,
}
#: Changes of a cluster's membership table (the review's ``membership``), by kind: every
#: event kind of a cluster (:data:`geozone.clusters.model.EventKind`; ``carried`` is also a
#: member carried into the new units) and the changes the table derives from the members and
#: the period.
CHANGE_LABELS: dict[str, Label] = {
    "joined": ("Tham gia", "Joined"),
    "left": ("Rời cụm", "Left"),
    "carried": ("Chuyển sang đơn vị mới", "Carried into new units"),
    "confirmed": ("Xác nhận áp dụng", "Confirmed to apply"),
    "period_start": ("Bắt đầu giai đoạn", "Period starts"),
    "period_end": ("Kết thúc giai đoạn", "Period ends"),
    "signed": ("Ký quy chế", "Regulation signed"),
    "launched": ("Ra mắt", "Launched"),
    "review": ("Sơ kết", "Review"),
    "agreed_to_admit": ("Đồng ý kết nạp", "Agreed to admit"),
    "admitted": ("Kết nạp", "Admitted"),
}
#: Emerging hot spots by category (``none`` is not shown).
EMERGING_LABELS: dict[str, Label] = {
    "new": ("Mới xuất hiện", "New"),
    "intensifying": ("Tăng dần", "Intensifying"),
    "persistent": ("Kéo dài", "Persistent"),
    "diminishing": ("Giảm dần", "Diminishing"),
    "sporadic": ("Lúc có lúc không", "Sporadic"),
}
#: Significant Gi* cells by kind.
SPOT_LABELS: dict[str, Label] = {
    "hot": ("Điểm nóng", "Hot spot"),
    "cold": ("Điểm lạnh", "Cold spot"),
}

# -- synthetic data ----------------------------------------------------------------------------

#: The badge of maps showing synthetic incidents.
SYNTHETIC_BANNER = "DỮ LIỆU MÔ PHỎNG / SYNTHETIC"
#: The label of a report on synthetic incidents (printed in capitals).
SYNTHETIC_LABEL = "Dữ liệu mô phỏng / Synthetic data"
#: The same label in lower case: the ``synthetic_label`` property of Gi* GeoJSON.
SYNTHETIC_LABEL_TEXT = SYNTHETIC_LABEL.lower()
#: The opening of an analysis message on synthetic incidents (its ``message``).
SYNTHETIC_NOTE = "SYNTHETIC data (dữ liệu mô phỏng)"
#: The same opening in each language (its ``message_vi`` and ``message_en``).
SYNTHETIC_NOTE_LABEL: Label = ("DỮ LIỆU MÔ PHỎNG", "SYNTHETIC data")

# -- counts ------------------------------------------------------------------------------------

#: What a cluster's study counts (:mod:`geozone.analysis.study`): every output that states a
#: study's incident count (hotspot notes and answers, map legends, coverage, the review's
#: Gi* note) names it, Vietnamese first.
STUDY_COUNT_BASIS: Label = (
    "Vụ việc được tính trong địa bàn của cụm vào ngày xảy ra từng vụ, theo sự việc (không "
    "theo báo cáo)",
    "Incidents counted in the cluster's territory as it stood on each incident's date, as "
    "events (not reports)",
)
#: The same as one text, "vi / en": the ``count_basis`` property of the API's answers.
STUDY_COUNT_BASIS_TEXT = bilingual(STUDY_COUNT_BASIS)

# -- boundary sets -----------------------------------------------------------------------------

#: The snapshot notice: an answer uses a boundary set that is one snapshot for a day outside
#: it (:meth:`geozone.boundaries.sets.SetInfo.outside_snapshot`). Filled by
#: :func:`geozone.assignment.explain.snapshot_notice` with the set's title and id, the snapshot
#: time (:data:`SNAPSHOT_TIME`) and the days the set is used for (:data:`SET_PERIOD`). Kept
#: here, not among the rule table's clauses: no decision's sentence says it, so rewording it
#: leaves ``RULES_VERSION`` (and the stored decisions) as they are.
SNAPSHOT_NOTICE: Label = (
    "Đơn vị hành chính xác định theo bộ ranh giới “{title}” ({set}), ranh giới là bản chụp "
    "{as_of} nhưng được dùng cho cả giai đoạn {period}: các thay đổi về địa giới, tên gọi và "
    "loại đơn vị hành chính trong giai đoạn này không được thể hiện, nên đơn vị nêu ở đây có "
    "thể khác với đơn vị thực tế vào ngày được xét.",
    "Units are found in the boundary set “{title}” ({set}), whose boundaries are a snapshot "
    "of {as_of} used for the whole period {period}: changes of boundaries, names and unit "
    "types within that period are not shown, so the units named here may differ from those "
    "in force on the day concerned.",
)
#: The snapshot time in the notice: known to the month ("khoảng tháng 02/2023", "about
#: February 2023"), or to the day.
SNAPSHOT_TIME: dict[str, Label] = {
    "month": ("khoảng tháng {month}", "about {month}"),
    "day": ("ngày {day}", "{day}"),
}
#: The days a set is used for in the notice: both ends, or open from its first day.
SET_PERIOD: dict[str, Label] = {
    "closed": ("{start} – {end}", "{start} – {end}"),
    "open": ("từ {start}", "from {start}"),
}
#: Month names in English (the Vietnamese side writes the month as mm/yyyy).
MONTHS_EN: tuple[str, ...] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

__all__ = [
    "AREA_LABELS",
    "CATEGORY_LABELS",
    "CHANGE_LABELS",
    "EMERGING_LABELS",
    "KINDS",
    "KIND_LABELS",
    "KIND_SHORT_LABELS",
    "MEMBER_KIND_LABELS",
    "MONTHS_EN",
    "NO_LEAD",
    "OUTSIDE_MEMBERS",
    "RULE_LABELS",
    "SET_PERIOD",
    "SNAPSHOT_NOTICE",
    "SNAPSHOT_TIME",
    "SPOT_LABELS",
    "STUDY_COUNT_BASIS",
    "STUDY_COUNT_BASIS_TEXT",
    "SYNTHETIC_BANNER",
    "SYNTHETIC_LABEL",
    "SYNTHETIC_LABEL_TEXT",
    "SYNTHETIC_NOTE",
    "SYNTHETIC_NOTE_LABEL",
    "ZONE_KIND_LABELS",
    "Label",
    "bilingual",
]
