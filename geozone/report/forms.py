"""The forms of a cluster a report covers, the days each applies, and the notes on them.

A cluster named in the pre-2025 units is carried into the 2025 units from 1 July 2025 under
the id ``<id>-vn2025`` (:func:`geozone.assignment.territories`). A report covers the
cluster's whole family: the original *and* every form carried from it, each on the days it applies
(the store holds each incident's decision under the form in force on its date), so a review
of 2025 of ``hoa-do-phuc-vi`` counts the incidents before and after the reorganisation.
Asking for the carried id (``hoa-do-phuc-vi-vn2025``) gives the same report under that name,
as the cluster maps do (``maps.layers.cluster_on``): restrict the period to restrict the
form. The ``cluster_forms`` table lists the forms, their sets and their days; per-member
tables keep the forms apart (a code such as 00160 names different wards in the two sets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from geozone.assignment.rules import CLAUSES
from geozone.errors import (
    DataNotFoundError,
    InvalidParameterError,
    UnknownClusterError,
    UnknownUnitError,
)
from geozone.vntime import VIETNAM_TZ

if TYPE_CHECKING:
    from geozone.assignment import ClusterTerritory
    from geozone.boundaries.sets import BoundarySet
    from geozone.clusters.model import Cluster, Member
    from geozone.context import Context


# -- the forms of a cluster ------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterForm:
    """One form of a cluster: the original or a form carried into a newer boundary set.

    Attributes
    ----------
    cluster
        The definition (members named in ``set_id``).
    set_id
        The boundary set the members are named in.
    bset
        That set, when loaded.
    territory
        The cluster placed on its set; None when its members have no geometry there (a ward
        cluster named in the legacy register): no incident is judged under this form.
    applies_from, applies_to
        The days the form can judge incidents: the cluster's period within the set's
        validity (None: open).
    """

    cluster: Cluster
    set_id: str
    bset: BoundarySet | None
    territory: ClusterTerritory | None
    applies_from: date | None
    applies_to: date | None

    @property
    def id(self) -> str:
        """The form's cluster id."""
        return self.cluster.id

    def member_name(self, member: Member) -> str:
        """Return a member's full unit name in the form's set ("Phường Quan Hoa"), else its name."""
        code = member.territory_code
        if self.bset is None or code is None or member.historical:
            return member.name
        try:
            return self.bset.get(code).full_name
        except UnknownUnitError:
            return member.name

    def overlaps(self, start: date, end: date) -> bool:
        """Tell whether the form applies on any day from ``start`` to ``end``."""
        return (self.applies_from is None or self.applies_from <= end) and (
            self.applies_to is None or start <= self.applies_to
        )


def cluster_forms(context: Context, cluster_id: str) -> list[ClusterForm]:
    """Return the forms of the cluster ``cluster_id`` names (see the module notes).

    A cluster and the forms carried from it into newer units are one family: the original id
    and a carried id (``hoa-do-phuc-vi`` and ``hoa-do-phuc-vi-vn2025``) give the same forms.

    Parameters
    ----------
    context
        Loaded sets, clusters and territories.
    cluster_id
        A committed cluster id, or the id of a placed cluster (carried or defined elsewhere).

    Returns
    -------
    list of ClusterForm
        The original first, then the carried forms by the date they apply from.

    Raises
    ------
    UnknownClusterError
        When no committed or placed cluster has the id (the known ids are listed).
    """
    placed = {t.cluster.id: t for t in context.territories}
    if cluster_id in placed:
        root = placed[cluster_id].cluster.carried_from or cluster_id
    elif cluster_id in context.clusters:
        root = cluster_id
    else:
        known = sorted({*context.clusters, *placed})
        raise UnknownClusterError(f"no cluster {cluster_id!r}; known: {', '.join(known)}")
    original = context.clusters.get(root)
    if original is None and root in placed:
        original = placed[root].cluster
    chosen: list[tuple[Cluster, ClusterTerritory | None]] = []
    if original is not None:
        chosen.append((original, placed.get(root)))
    chosen += [
        (t.cluster, t)
        for t in context.territories
        if t.cluster.carried_from == root and t.cluster.id != root
    ]
    forms = [_form(context, cluster, territory) for cluster, territory in chosen]
    return forms[:1] + sorted(forms[1:], key=lambda f: (f.applies_from or date.min, f.id))


def _form(context: Context, cluster: Cluster, territory: ClusterTerritory | None) -> ClusterForm:
    bset: BoundarySet | None
    if territory is not None:
        bset = territory.bset
    else:
        try:
            bset = context.boundary_set(cluster.boundary_set)
        except DataNotFoundError:
            bset = None
    first = cluster.period.start.earliest if cluster.period.start else None
    last = cluster.period.end.latest if cluster.period.end else None
    if bset is not None:
        first = max(first or date.min, bset.info.valid_from)
        if bset.info.valid_to is not None:
            last = min(last or date.max, bset.info.valid_to)
    return ClusterForm(cluster, cluster.boundary_set, bset, territory, first, last)


# -- periods ---------------------------------------------------------------------------------


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """Return the instants ``[start 00:00, end + 1 day 00:00)`` in Vietnam time.

    Raises
    ------
    InvalidParameterError
        When a bound is not a date or ``start`` is after ``end``.
    """
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise InvalidParameterError(f"{name} must be a date (YYYY-MM-DD), got {value!r}")
    if start > end:
        raise InvalidParameterError(
            f"the period is reversed: start {start.isoformat()} is after end {end.isoformat()}"
        )
    return (
        datetime.combine(start, time(0), VIETNAM_TZ),
        datetime.combine(end + timedelta(days=1), time(0), VIETNAM_TZ),
    )


# -- notes -----------------------------------------------------------------------------------


def form_notes(forms: Sequence[ClusterForm], start: date, end: date) -> list[str]:
    """Return the report's notes on the forms: which ran when, how zones were derived.

    Parameters
    ----------
    forms
        The forms of the cluster (:func:`cluster_forms`).
    start, end
        First and last day of the period, inclusive.

    Returns
    -------
    list of str
        Bilingual notes (Vietnamese / English): the forms when there are several, the
        snapshot notice of a set used in the period outside its snapshot
        (:func:`snapshot_notes`), forms that judge nothing or judge without member
        geometry, a carried form's zone, and the days of the period no form applies.
    """
    notes = []
    if len(forms) > 1:
        parts_vi, parts_en = [], []
        for form in forms:
            days = f"{form.applies_from or '…'} – {form.applies_to or '…'}"
            parts_vi.append(f"{form.id} ({form.set_id}, {days})")
            parts_en.append(f"{form.id} ({form.set_id}, {days})")
        notes.append(
            "Báo cáo gồm các dạng của cụm trước và sau sắp xếp đơn vị hành chính: "
            + "; ".join(parts_vi)
            + " / The report covers the cluster before and after the reorganisation of units: "
            + "; ".join(parts_en)
            + "."
        )
    notes += snapshot_notes(forms, start, end)
    for form in forms:
        if not form.overlaps(start, end):
            continue
        days = f"{form.applies_from or '…'} – {form.applies_to or '…'}"
        level = form.cluster.level  # "ward": the English side names it as it is
        level_vi = CLAUSES[f"level_{level}"]["vi"]  # "phường, xã"
        if form.territory is None:
            notes.append(
                f"{form.id}: các thành viên được đặt tên theo đơn vị của {form.set_id}, bộ này "
                f"không có ranh giới cấp {level_vi}; vụ việc trong {days} không được "
                f"tính theo dạng này / its members are named in {form.set_id}, which has no "
                f"{level} geometry: no incident in {days} is judged under this form."
            )
        elif not form.territory.decides:
            notes.append(_lapsed_note(form, days))
        elif form.territory.geometric and form.territory.sides.carried:
            notes.append(_carried_zone_note(form))
        elif not form.territory.geometric:
            areas = ", ".join(form.territory.unit_name(c) for c in form.territory.area_codes)
            notes.append(
                f"{form.id}: bộ {form.set_id} không có ranh giới cấp {level_vi} của các thành "
                f"viên; vụ việc trong {days} tại {areas} được ghi nhận để xem xét nhưng không "
                f"xác định được đơn vị chủ trì; nhập lớp ranh giới {level_vi} cũ để có quyết "
                f"định / {form.set_id} has no {level} geometry of its members: incidents in "
                f"{days} in {areas} are recorded for review without a lead unit (rule "
                f"no_member_geometry); import an old {level} layer (geozone data import … "
                f"--register {form.set_id}) to decide them."
            )
    if not any(f.overlaps(start, end) for f in forms):
        notes.append(
            "Cụm không hoạt động trong kỳ báo cáo / The cluster did not run in the period."
        )
    else:
        gaps = "; ".join(f"{a} – {b}" for a, b in uncovered_days(forms, start, end))
        if gaps:
            notes.append(
                f"Cụm không hoạt động (ngoài giai đoạn của cụm hoặc của bộ ranh giới) trong: "
                f"{gaps} / The cluster did not run (outside its period or its boundary set's) "
                f"on: {gaps}."
            )
    return notes


def snapshot_notes(forms: Sequence[ClusterForm], start: date, end: date) -> list[str]:
    """Return the snapshot notice of each set a form uses in the period outside its snapshot.

    A form's days in the period (the period within the days it applies) that its set's
    snapshot does not show (:meth:`~geozone.boundaries.sets.SetInfo.outside_snapshot`: a
    2024 review of a cluster on vn-legacy-districts, a snapshot of about February 2023) give
    :func:`~geozone.assignment.explain.snapshot_notice`, the words ``GET /locate`` says for
    each of those days; each set's once.
    """
    from geozone.assignment.explain import snapshot_notice

    notes: list[str] = []
    for form in forms:
        if form.bset is None or not form.overlaps(start, end):
            continue
        first = max(start, form.applies_from or start)
        last = min(end, form.applies_to or end)
        said = snapshot_notice(form.bset.info, first, last)
        if said is not None and said not in notes:
            notes.append(said)
    return notes


def _lapsed_note(form: ClusterForm, days: str) -> str:
    """Say that a lapsed carried form decides nothing in the period, and why."""
    from geozone.assignment.explain import lapsed_sentences

    why_vi, why_en = lapsed_sentences(form.cluster)
    return (
        f"{form.id}: vụ việc trong {days} được ghi nhận để xem xét nhưng không có đơn vị chủ "
        f"trì và không xác định vùng giáp ranh. {why_vi} / {form.id}: incidents in {days} are "
        f"recorded for review without a lead unit or a border-zone standing. {why_en}"
    )


def _carried_zone_note(form: ClusterForm) -> str:
    """Say how a carried form's zone was derived, with its area and the original's."""
    territory = form.territory
    assert territory is not None
    carried = float(territory.zones.area_summary()["union_km2"])
    original = territory.original_zone_km2() or 0.0
    sides = territory.sides
    drawn = territory.drawn is not None
    how_vi = " Vùng giáp ranh do cán bộ vẽ khi xác nhận." if drawn else sides.basis_vi
    how_en = " The border zone drawn by a planner at confirmation." if drawn else sides.basis_en
    return (
        f"{form.id}:{how_vi} Diện tích vùng giáp ranh {_vi_decimal(carried)} km² (theo ranh "
        f"giới ban đầu {_vi_decimal(original)} km²) /{how_en} Border zone area {carried:,.2f} "
        f"km² (by the original lines {original:,.2f} km²)."
    )


def _vi_decimal(value: float) -> str:
    from geozone.text import format_number

    whole, _, part = f"{value:.2f}".partition(".")
    return f"{format_number(int(whole), 'vi')},{part}"


def uncovered_days(forms: Sequence[ClusterForm], start: date, end: date) -> list[tuple[date, date]]:
    """Return the stretches of the period on which none of ``forms`` applies.

    Parameters
    ----------
    forms
        Forms of a cluster (all of them, or those with a territory).
    start, end
        First and last day of the period, inclusive.

    Returns
    -------
    list of tuple of date
        ``(first, last)`` of each stretch, inclusive, in order.
    """
    spans = sorted(
        (max(start, f.applies_from or start), min(end, f.applies_to or end))
        for f in forms
        if f.overlaps(start, end)
    )
    gaps, day = [], start
    for first, last in spans:
        if first > day:
            gaps.append((day, first - timedelta(days=1)))
        day = max(day, last + timedelta(days=1))
    if day <= end:
        gaps.append((day, end))
    return gaps
