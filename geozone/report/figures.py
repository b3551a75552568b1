"""The headline figures of a review ("31/35 criminal cases solved") and its headline."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from geozone.report.tables import ratio
from geozone.text import format_number

#: Rules under which nobody can tell whether an incident is in the border zone: the cluster
#: makes no decision (lapsed) or its members have no geometry in the set (coarse mode).
ZONE_UNKNOWN_RULES = frozenset({"no_decision", "no_member_geometry"})


def headline_figures(frame: pd.DataFrame, start: date, end: date) -> dict[str, Any]:
    """Return the headline figures of a review and its sentences in both languages.

    Parameters
    ----------
    frame
        The report's incidents (:func:`geozone.report.incidents.prepare_incidents`).
    start, end
        First and last day of the period, inclusive.

    Returns
    -------
    dict
        Counts (``cases``, ``criminal_cases``, ``in_zone_criminal_solved``…), solved
        ratios as "31/35" text, ``zone_unknown`` (incidents whose border-zone standing
        cannot be told, see :data:`ZONE_UNKNOWN_RULES`: the in-zone counts leave them out and
        the headline says how many), ``days``, and ``headline_vi`` / ``headline_en``. The
        headline's border-area clause gives border-area figures only (``in_zone_*``); the
        figure for all the cluster's incidents (``jointly_handled``) follows, labelled so.
    """
    crim = frame["kind"].eq("criminal")
    adm = frame["kind"].eq("administrative")
    zone = frame["in_zone"]
    solved = frame["solved"]
    subjects = frame["subjects"]

    def count(mask: pd.Series[bool]) -> int:
        return int(mask.sum())

    figures: dict[str, Any] = {
        "cases": len(frame),
        "subjects": int(subjects.sum()),
        "solved": count(solved),
        "solved_ratio": ratio(count(solved), len(frame)),
    }
    for name, mask in (("criminal", crim), ("administrative", adm)):
        figures[f"{name}_cases"] = count(mask)
        figures[f"{name}_subjects"] = int(subjects[mask].sum())
        figures[f"{name}_solved"] = count(mask & solved)
        figures[f"{name}_solved_ratio"] = ratio(count(mask & solved), count(mask))
    figures["in_zone_cases"] = count(zone)
    figures["in_zone_subjects"] = int(subjects[zone].sum())
    figures["in_zone_solved"] = count(zone & solved)
    figures["in_zone_solved_ratio"] = ratio(count(zone & solved), count(zone))
    for name, mask in (("criminal", crim), ("administrative", adm)):
        figures[f"in_zone_{name}_cases"] = count(zone & mask)
        figures[f"in_zone_{name}_solved"] = count(zone & mask & solved)
        figures[f"in_zone_{name}_solved_ratio"] = ratio(
            count(zone & mask & solved), count(zone & mask)
        )
    figures["jointly_handled"] = count(frame["jointly_handled"])
    figures["in_zone_jointly_handled"] = count(zone & frame["jointly_handled"])
    figures["zone_unknown"] = count(frame["rule"].isin(ZONE_UNKNOWN_RULES))
    figures["review"] = count(frame["review"])
    figures["synthetic_incidents"] = count(frame["synthetic"])
    figures["days"] = (end - start).days + 1
    f = figures
    if not len(frame):
        f["headline_vi"] = "Không có vụ việc nào của cụm trong kỳ báo cáo."
        f["headline_en"] = "No incidents of the cluster in the period."
        return figures
    f["headline_vi"] = (
        f"{format_number(f['criminal_cases'])} vụ phạm pháp hình sự, "
        f"{format_number(f['criminal_subjects'])} đối tượng; "
        f"{format_number(f['administrative_cases'])} vụ vi phạm hành chính, "
        f"{format_number(f['administrative_subjects'])} đối tượng; "
        f"ở địa bàn giáp ranh: làm rõ {format_number(f['in_zone_criminal_solved'])}/"
        f"{format_number(f['in_zone_criminal_cases'])} vụ phạm pháp hình sự, phối hợp xử lý "
        f"{format_number(f['in_zone_jointly_handled'])} vụ; mọi địa bàn của cụm: phối hợp xử lý "
        f"{format_number(f['jointly_handled'])} vụ."
    )
    if f["zone_unknown"]:
        f["headline_vi"] += (
            f" {format_number(f['zone_unknown'])} vụ chưa xác định được có ở địa bàn giáp "
            "ranh hay không (không tính ở trên, xem ghi chú)."
        )
    f["headline_en"] = (
        f"{f['criminal_cases']:,} criminal cases, {f['criminal_subjects']:,} subjects; "
        f"{f['administrative_cases']:,} administrative violations, "
        f"{f['administrative_subjects']:,} subjects; in the border area: solved "
        f"{f['in_zone_criminal_solved']:,}/{f['in_zone_criminal_cases']:,} criminal cases, "
        f"{f['in_zone_jointly_handled']:,} handled jointly; all areas of the cluster: "
        f"{f['jointly_handled']:,} handled jointly."
    )
    if f["zone_unknown"]:
        f["headline_en"] += (
            f" For {f['zone_unknown']:,} incidents it cannot be told whether they are in the "
            "border area (not counted above; see the notes)."
        )
    return figures
