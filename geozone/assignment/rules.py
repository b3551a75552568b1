"""The lead-unit rules as one table: condition, lead, cooperating units, review, wording.

The rule is the Hoa–Đô–Phúc–Vị regulation's (../shared/DESIGN.md), applied to every cluster:
an incident inside one member's territory is led by that member (rule 1); one in the border
area is led by the member that detected it first (rule 2). Every other row of the table is
a case the regulation leaves open and a person must review.

Each :class:`LeadRule` says, in one place:

- ``condition``: when it applies, as a function of the :class:`Facts` of the incidents (numpy
  boolean arrays, or numpy booleans for one incident); rules are tried in table order and
  the first whose condition holds applies (the last one always holds);
- ``lead``: who leads — the member holding the point (``"holder"``), the detecting member
  (``"detector"``), the unit of the boundary set holding the point at the hand-over level
  (``"unit"``: the detecting member's level, else the territorial members'; see
  :func:`geozone.assignment.decide._hand_over`) or nobody (``"none"``: the answer cannot be
  given);
- ``cooperating``: nobody, the other members of the zone, or the detecting member;
- ``review``: whether a person must confirm the decision;
- ``vi`` / ``en``: the sentence, one template per language with named parameters only
  (see :data:`PARAMETERS`), and a short ``label_vi`` / ``label_en`` for maps and tables.

The fast path (:mod:`geozone.assignment`) and the explanations read this table; so do the
API's
schema (the rule values), the maps (labels) and the assignment stamp (:data:`RULES_VERSION`,
a hash of the table's content: any change of wording makes stored decisions stale).
"""

from __future__ import annotations

import hashlib
import inspect
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Lead = Literal["holder", "detector", "unit", "none"]
Cooperating = Literal["none", "zone_others", "detector"]


@dataclass(frozen=True)
class Facts:
    """What the rules are decided on, per incident (arrays) or for one incident (scalars).

    Attributes
    ----------
    lapsed
        The cluster makes no decision: a carried cluster whose original had ended before the
        reform, not confirmed by a planner (:attr:`geozone.clusters.model.Cluster.decides`).
    unresolved
        The members' territories have no geometry in the set in force, and the incident lies
        in the units standing in for them (their districts): nobody can tell which member
        holds it or whether it is in the border zone.
    held
        A member holds the point.
    in_unit
        Some unit of the boundary set holds the point (False at sea, abroad, or where the set
        has no geometry).
    boundary
        The point lies on the boundary between two or more members (within the tolerance).
    in_zone
        The point lies in the border zone (the band of width W along the members' shared
        boundaries, or a junction disc).
    territorial_detector
        A member holding territory detected it.
    detector_on_line
        The detecting member is one of the members on whose boundary the point lies.
    organisation_detector
        A member without territory (a company) detected it.
    detector_known
        The incident names a detecting unit.
    """

    lapsed: Any
    unresolved: Any
    held: Any
    in_unit: Any
    boundary: Any
    in_zone: Any
    territorial_detector: Any
    detector_on_line: Any
    organisation_detector: Any
    detector_known: Any


@dataclass(frozen=True)
class LeadRule:
    """One row of the rule table (see the module notes)."""

    name: str
    condition: Callable[[Facts], Any]
    lead: Lead
    cooperating: Cooperating
    review: bool
    label_vi: str
    label_en: str
    vi: str
    en: str

    @property
    def label(self) -> str:
        """The bilingual label, Vietnamese first."""
        return f"{self.label_vi} / {self.label_en}"

    def parameters(self) -> set[str]:
        """Return the named parameters the two templates use."""
        return {
            name
            for template in (self.vi, self.en)
            for _, name, _, _ in string.Formatter().parse(template)
            if name
        }


_REVIEW_VI = " Cần xem xét lại."
_REVIEW_EN = " Review."

#: The rules, in the order they are tried.
RULES: tuple[LeadRule, ...] = (
    LeadRule(
        name="no_decision",
        condition=lambda f: f.lapsed,
        lead="none",
        cooperating="none",
        review=True,
        label_vi="Cụm chưa áp dụng – không có quyết định",
        label_en="Cluster does not apply – no decision",
        vi="{place}{detected}. {lapsed}" + _REVIEW_VI,
        en="{place}{detected}. {lapsed}" + _REVIEW_EN,
    ),
    LeadRule(
        name="no_member_geometry",
        condition=lambda f: f.unresolved,
        lead="none",
        cooperating="none",
        review=True,
        label_vi="Thiếu ranh giới thành viên – chưa xác định được",
        label_en="Member boundaries missing – cannot be decided",
        vi=(
            "Vụ việc thuộc {unit}{detected}; cụm đang có hiệu lực nhưng bộ ranh giới {set} "
            "không có ranh giới của {missing}, nên chưa xác định được vụ việc thuộc địa bàn "
            "thành viên nào hay thuộc vùng giáp ranh, chưa xác định được đơn vị chủ trì. "
            "Cần nhập lớp ranh giới {level} cũ (geozone data import … --register {set})."
            + _REVIEW_VI
            + "{default_rule}{zone_basis}{standing}"
        ),
        en=(
            "In {unit}{detected}; the cluster is in force but boundary set {set} has no "
            "boundaries for {missing}, so it cannot be told which member's territory holds "
            "the incident or whether it is in the border zone, and no lead unit can be "
            "given. Import a layer of the old {level} (geozone data import … --register "
            "{set})." + _REVIEW_EN + "{default_rule}{zone_basis}{standing}"
        ),
    ),
    LeadRule(
        name="outside_every_unit",
        condition=lambda f: ~f.held & ~f.in_unit,
        lead="none",
        cooperating="detector",
        review=True,
        label_vi="Ngoài mọi đơn vị hành chính – cần xem xét",
        label_en="Outside every administrative unit – review",
        vi=(
            "Vụ việc ngoài địa bàn các thành viên và ngoài mọi đơn vị hành chính có ranh giới "
            "trong bộ {set} (trên biển, ngoài biên giới hoặc nơi chưa có ranh giới); thành "
            "viên {detector} phát hiện, cần xác định đơn vị có thẩm quyền."
            + _REVIEW_VI
            + "{standing}"
        ),
        en=(
            "Outside every member's territory and outside every unit with boundaries in set "
            "{set} (at sea, abroad or where no boundary is known); member {detector} "
            "detected it; the competent unit must be found." + _REVIEW_EN + "{standing}"
        ),
    ),
    LeadRule(
        name="outside_members",
        condition=lambda f: ~f.held,
        lead="unit",
        cooperating="detector",
        review=True,
        label_vi="Ngoài địa bàn các thành viên – cần xem xét",
        label_en="Outside the members – review",
        vi=(
            "Vụ việc ngoài địa bàn các thành viên, thuộc {within}; thành viên {detector} phát "
            "hiện và bàn giao cho {receiver}." + _REVIEW_VI + "{standing}"
        ),
        en=(
            "Outside every member's territory, in {within}; member {detector} detected it and "
            "hands it over to {receiver}." + _REVIEW_EN + "{standing}"
        ),
    ),
    LeadRule(
        name="on_boundary",
        condition=lambda f: f.boundary & ~(f.territorial_detector & f.detector_on_line),
        lead="holder",
        cooperating="zone_others",
        review=True,
        label_vi="Nằm trên ranh giới – cần xem xét",
        label_en="On the boundary – review",
        vi=(
            "Vụ việc nằm trên ranh giới giữa {boundary} (trong dung sai {tolerance}); không đơn "
            "vị nào trong số này phát hiện trước nên {holder} (gần nhất) tạm chủ "
            "trì{cooperating}." + _REVIEW_VI + "{default_rule}{zone_basis}{standing}"
        ),
        en=(
            "On the boundary between {boundary} (within the {tolerance} tolerance); none of "
            "them detected it first, so {holder}, the nearest, leads for now{cooperating}."
            + _REVIEW_EN
            + "{default_rule}{zone_basis}{standing}"
        ),
    ),
    LeadRule(
        name="territory",
        condition=lambda f: ~f.in_zone & ~f.boundary,
        lead="holder",
        cooperating="none",
        review=False,
        label_vi="Theo địa bàn (nguyên tắc 1)",
        label_en="By territory (rule 1)",
        vi=(
            "Vụ việc trên địa bàn {holder}{distance}, ngoài vùng giáp ranh {width}: {holder} "
            "chủ trì theo địa bàn (nguyên tắc 1); các đơn vị khác phối hợp khi được yêu "
            "cầu.{default_rule}{zone_basis}{standing}"
        ),
        en=(
            "In {holder}{distance}, outside the {width} border zone: {holder} leads by "
            "territory (rule 1); the other members assist if asked."
            "{default_rule}{zone_basis}{standing}"
        ),
    ),
    LeadRule(
        name="border_detector",
        condition=lambda f: f.territorial_detector,
        lead="detector",
        cooperating="zone_others",
        review=False,
        label_vi="Giáp ranh: đơn vị phát hiện trước chủ trì (nguyên tắc 2)",
        label_en="Border zone: first detector leads (rule 2)",
        vi=(
            "Vụ việc trên địa bàn {holder}, trong vùng giáp ranh {width} ({zone}){distance}; "
            "{detector} phát hiện trước nên chủ trì (nguyên tắc 2){cooperating}."
            "{default_rule}{zone_basis}{standing}"
        ),
        en=(
            "In {holder}, in the {width} border zone ({zone}){distance}; {detector} detected "
            "it first and leads (rule 2){cooperating}.{default_rule}{zone_basis}{standing}"
        ),
    ),
    LeadRule(
        name="border_organisation_detector",
        condition=lambda f: f.organisation_detector,
        lead="holder",
        cooperating="zone_others",
        review=True,
        label_vi="Giáp ranh, thành viên không quản lý địa bàn phát hiện – cần xem xét",
        label_en="Border zone, detected by a member without territory – review",
        vi=(
            "Vụ việc trên địa bàn {holder}, trong vùng giáp ranh {width} ({zone}){distance}; "
            "{detector} (thành viên không quản lý địa bàn) phát hiện nên {holder} (nơi xảy "
            "ra) chủ trì{cooperating}." + _REVIEW_VI + "{default_rule}{zone_basis}{standing}"
        ),
        en=(
            "In {holder}, in the {width} border zone ({zone}){distance}; it was detected by "
            "{detector}, a member without territory, so {holder}, which holds the point, "
            "leads{cooperating}." + _REVIEW_EN + "{default_rule}{zone_basis}{standing}"
        ),
    ),
    LeadRule(
        name="border_unknown_detector",
        condition=lambda f: ~f.detector_known,
        lead="holder",
        cooperating="zone_others",
        review=True,
        label_vi="Giáp ranh, chưa rõ đơn vị phát hiện – cần xem xét",
        label_en="Border zone, detector unknown – review",
        vi=(
            "Vụ việc trên địa bàn {holder}, trong vùng giáp ranh {width} ({zone}){distance}; "
            "chưa rõ đơn vị phát hiện trước nên {holder} (nơi xảy ra) tạm chủ "
            "trì{cooperating}." + _REVIEW_VI + "{default_rule}{zone_basis}{standing}"
        ),
        en=(
            "In {holder}, in the {width} border zone ({zone}){distance}; the unit that "
            "detected it is unknown, so {holder}, which holds the point, leads until "
            "confirmed{cooperating}." + _REVIEW_EN + "{default_rule}{zone_basis}{standing}"
        ),
    ),
    LeadRule(
        name="border_non_member_detector",
        condition=lambda f: np.ones_like(f.held, dtype=bool),
        lead="holder",
        cooperating="zone_others",
        review=True,
        label_vi="Giáp ranh, đơn vị ngoài cụm phát hiện – cần xem xét",
        label_en="Border zone, detected by a non-member – review",
        vi=(
            "Vụ việc trên địa bàn {holder}, trong vùng giáp ranh {width} ({zone}){distance}; "
            "{detector} phát hiện nhưng {not_member} nên {holder} (nơi xảy "
            "ra) chủ trì{cooperating}." + _REVIEW_VI + "{default_rule}{zone_basis}{standing}"
        ),
        en=(
            "In {holder}, in the {width} border zone ({zone}){distance}; it was detected by "
            "{detector}, {not_member}, so {holder}, which holds the point, "
            "leads{cooperating}." + _REVIEW_EN + "{default_rule}{zone_basis}{standing}"
        ),
    ),
)

#: Named parameters a template may use, with what each stands for.
PARAMETERS: dict[str, str] = {
    "holder": "the member holding the point (full unit name)",
    "unit": "the unit of the boundary set holding the point (full name)",
    "within": "where a handed-over point lies: the finest unit holding it, then its parents up "
    "to the unit it is handed over to ('Huyện Giồng Riềng (…), Tỉnh Kiên Giang (91)')",
    "receiver": "the police it is handed over to, at the hand-over level, and that level "
    "('Công an tỉnh Kiên Giang (91), công an cấp tỉnh nơi xảy ra'); when the set has no unit "
    "of that level there, also why a coarser one receives it",
    "place": "where the point is: 'In <unit>', or outside every unit of the set (at sea, "
    "abroad or where no boundary is known)",
    "detector": "the detecting unit: a member's or unit's name, or the text given",
    "detected": "'; <detector> detected it' when a detector is named, else empty",
    "zone": "the members of the border zone, joined by ' – '",
    "boundary": "the members on whose boundary the point lies (within the tolerance), by ' – '",
    "distance": "', <metres> m from its boundary with <member>' (empty when unknown)",
    "width": "the border-zone width W ('200 m')",
    "tolerance": "the boundary tolerance ('10 m')",
    "cooperating": "'; <members> cooperate' (empty when none)",
    "set": "the boundary set's id",
    "missing": "the members without geometry in the set",
    "level": "the level whose old boundaries are missing (in the sentence's language)",
    "lapsed": "why a lapsed carried cluster decides nothing: its original, when it ended, how "
    "to confirm it",
    "default_rule": "a sentence saying the regulation states no lead rule (else empty)",
    "zone_basis": "how a carried cluster's zone was derived (empty for an ordinary cluster)",
    "standing": "a sentence on a carried cluster's standing (unconfirmed, confirmed; else empty)",
    "not_member": "why the detector counts as no member: it is none, or its name is several "
    "members' (named), so which one detected it is not known",
    "uncertain": "a sentence saying the cluster's reported dates cannot tell whether it ran "
    "that day (a start or end not known to the day), so the decision is reviewed (else empty)",
    "ceased": "a sentence saying the members' police units had ceased that day (district "
    "police from 1 March 2025), so the decision is reviewed (else empty)",
    "event": "a sentence saying the report is a cooperating report of a linked event, judged "
    "with the event's first detector (empty for any other report); every sentence ends with it",
}

#: The clauses that fill the templates' parameters, per language (``vi``, ``en``).
CLAUSES: dict[str, dict[str, str]] = {
    "distance": {
        "vi": ", cách ranh giới với {across} {metres} m",
        "en": ", {metres} m from its boundary with {across}",
    },
    "distance_original": {
        "vi": ", cách ranh giới cũ giữa {own} và {across} {metres} m",
        "en": ", {metres} m from the old boundary between {own} and {across}",
    },
    "cooperating": {"vi": "; {members} phối hợp", "en": "; cooperating: {members}"},
    "detected": {"vi": "; {detector} phát hiện", "en": "; detected by {detector}"},
    "event": {
        "vi": (
            " Báo cáo này của {reporter} là báo cáo phối hợp của cùng một sự việc với báo cáo "
            "{report} (phát hiện sớm nhất): vụ việc được xét theo lần phát hiện đó."
        ),
        "en": (
            " This report by {reporter} is a cooperating report of the same event as report "
            "{report} (the earliest detection): the event is judged by that detection."
        ),
    },
    "unnamed_reporter": {"vi": "đơn vị không rõ", "en": "an unnamed unit"},
    "default_rule": {
        "vi": " Quy chế của cụm không quy định đơn vị chủ trì; áp dụng nguyên tắc mặc định.",
        "en": " The cluster's regulation states no lead rule; the default rule is applied.",
    },
    "proposed": {
        "vi": " Cụm được chuyển sang các đơn vị hành chính áp dụng từ {date} nhưng chưa được "
        "xác nhận: quyết định này là đề xuất, cần xác nhận.",
        "en": " The cluster was carried into the units in force from {date} but is not "
        "confirmed: this decision is a proposal to be confirmed.",
    },
    "proposed_district": {
        "vi": " Công an cấp huyện thôi hoạt động từ 01/03/2025; cụm chuyển sang các xã, phường "
        "mới từ {date} là đề xuất, chưa được xác nhận.",
        "en": " District police ceased on 1 March 2025; the cluster carried into the new "
        "communes and wards from {date} is a proposal, not confirmed.",
    },
    "not_member": {"vi": "không phải thành viên của cụm", "en": "which is not a member"},
    "namesake": {
        "vi": "đây là tên chung của {members}, không xác định được là thành viên nào,",
        "en": "a name that {members} share (which of them is not known)",
    },
    "period_uncertain": {
        "vi": " Thời gian áp dụng của cụm chỉ biết là {period}: chưa chắc cụm đã áp dụng vào "
        "ngày này, cần xem xét.",
        "en": " The cluster's period is known only as {period}: it may not have applied on "
        "this day; review.",
    },
    "police_ceased": {
        "vi": " Công an cấp huyện thôi hoạt động từ {date}: đơn vị chủ trì theo quy chế của "
        "cụm không còn là đơn vị công an, quyết định này cần xem xét.",
        "en": " District police ceased on {date}: the lead unit under the cluster's regulation "
        "is no longer a police unit; review this decision.",
    },
    "police_ceased_map": {
        "vi": "Công an cấp huyện thôi hoạt động từ {date}: các quyết định chủ trì của cụm từ "
        "ngày đó cần xem xét.",
        "en": "District police ceased on {date}: the cluster's lead decisions from that day "
        "are reviewed.",
    },
    "confirmed": {
        "vi": " Cụm chuyển sang các đơn vị hành chính mới đã được xác nhận áp dụng từ {date}.",
        "en": " The carried cluster was confirmed to apply from {date}.",
    },
    "partial_holder": {
        "vi": " {holder} chỉ là thành viên một phần (chỉ một phần địa bàn kế thừa từ đơn vị "
        "đã ký quy chế): điểm này có thể nằm ngoài phần đó, cần xem xét.",
        "en": " {holder} is a partial member (only part of its territory comes from a unit "
        "that signed the regulation): this point may lie outside that part; review.",
    },
    "cluster_named": {"vi": "{name} ({id})", "en": "{name} ({id})"},
    "cluster_unnamed": {"vi": "cụm {id}", "en": "cluster {id}"},
    "out_of_period": {
        "vi": "{cluster} không áp dụng ngày {day}, nên không có quyết định chủ trì của cụm "
        "cho vụ việc này; thời gian áp dụng của cụm: {period}.",
        "en": "{cluster} does not apply on {day}, so it makes no lead decision for this "
        "incident; it runs {period}.",
    },
    "lapsed": {
        "vi": "Không có quyết định chủ trì: {cluster} kết thúc ngày {end}, trước khi sắp xếp "
        "đơn vị hành chính; dạng chuyển sang đơn vị mới ({carried}) chưa được xác nhận nên "
        "không áp dụng (xác nhận bằng: geozone clusters confirm {carried} --from NGÀY).",
        "en": "No lead decision: {cluster} ended on {end}, before the reorganisation of "
        "units; its carried form ({carried}) is not confirmed and does not apply (confirm it "
        "with: geozone clusters confirm {carried} --from DATE).",
    },
    "in_unit": {"vi": "Vụ việc thuộc {unit}", "en": "In {unit}"},
    "outside_units": {
        "vi": "Vụ việc ở ngoài mọi đơn vị hành chính của Việt Nam có ranh giới trong bộ {set} "
        "(trên biển, ngoài biên giới hoặc nơi chưa có ranh giới)",
        "en": "Outside every administrative unit of Vietnam with boundaries in set {set} (at "
        "sea, abroad or where no boundary is known)",
    },
    "unknown": {"vi": "không rõ", "en": "unknown"},
    "police": {"vi": "Công an {unit}", "en": "the police of {unit}"},
    "hand_over": {
        "vi": "{police}, công an cấp {tier} nơi xảy ra",
        "en": "{police}, the {tier}-level police where it occurred",
    },
    "hand_over_above": {
        "vi": "{police}, công an cấp {tier} nơi xảy ra (bộ ranh giới {set} không có ranh giới "
        "{level} tại đây)",
        "en": "{police}, the {tier}-level police where it occurred (boundary set {set} has no "
        "boundaries of {level} there)",
    },
    "tier_province": {"vi": "tỉnh", "en": "province"},
    "tier_district": {"vi": "huyện", "en": "district"},
    "tier_ward": {"vi": "xã", "en": "commune"},
    "level_ward": {"vi": "phường, xã", "en": "wards and communes"},
    "level_district": {"vi": "quận, huyện", "en": "districts"},
    "level_province": {"vi": "tỉnh, thành phố", "en": "provinces"},
}

RULE_NAMES: tuple[str, ...] = tuple(rule.name for rule in RULES)
BY_NAME: dict[str, LeadRule] = {rule.name: rule for rule in RULES}
#: The rule of an incident in the territory of a cluster that makes no decision (lapsed).
NO_DECISION = "no_decision"

#: Rules whose decisions a person must confirm.
REVIEW_RULES: frozenset[str] = frozenset(rule.name for rule in RULES if rule.review)
#: Bilingual labels by rule name (maps, tables).
RULE_LABELS: dict[str, str] = {rule.name: rule.label for rule in RULES}
RuleName = Literal[
    "no_decision",
    "no_member_geometry",
    "outside_every_unit",
    "outside_members",
    "on_boundary",
    "territory",
    "border_detector",
    "border_organisation_detector",
    "border_unknown_detector",
    "border_non_member_detector",
]


def choose(facts: Facts) -> Any:
    """Return the index into :data:`RULES` of the first rule whose condition holds.

    Works on arrays (one index per incident) and on the scalars of one incident.
    """
    conditions = [np.asarray(rule.condition(facts), dtype=bool) for rule in RULES[:-1]]
    shape = np.broadcast_shapes(*(c.shape for c in conditions))
    chosen = np.select(
        [np.broadcast_to(c, shape) for c in conditions],
        np.arange(len(RULES) - 1),
        default=len(RULES) - 1,
    )
    return chosen if shape else int(chosen)


def _content() -> str:
    """Return the table's content as text: names, conditions, leads, review, wording."""
    parts = []
    for rule in RULES:
        source = inspect.getsource(rule.condition).strip()
        parts.append(
            "|".join(
                [
                    rule.name,
                    source,
                    rule.lead,
                    rule.cooperating,
                    str(rule.review),
                    rule.vi,
                    rule.en,
                    rule.label_vi,
                    rule.label_en,
                ]
            )
        )
    clauses = [
        f"{key}|{lang}|{text}" for key, texts in CLAUSES.items() for lang, text in texts.items()
    ]
    return "\n".join(parts + clauses)


#: Changes whenever the table changes (conditions, leads, wording): part of the assignment
#: stamp, so stored decisions are recomputed after any change.
RULES_VERSION = "rules-" + hashlib.sha256(_content().encode("utf-8")).hexdigest()[:12]

__all__ = [
    "BY_NAME",
    "CLAUSES",
    "NO_DECISION",
    "PARAMETERS",
    "REVIEW_RULES",
    "RULES",
    "RULES_VERSION",
    "RULE_LABELS",
    "RULE_NAMES",
    "Facts",
    "LeadRule",
    "RuleName",
    "choose",
]
