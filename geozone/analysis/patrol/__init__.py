"""Patrol zones: what a drawn zone covers, and zones suggested from significant hotspot cells.

A planner draws a polygon over a cluster; :func:`coverage` tells what it covers: its area, the
share of the cluster's border zone (địa bàn giáp ranh) inside it, the share of the cluster's
significant hot cells (by area), the share of the given incidents, and the units it touches.

:func:`suggest_patrol_zones` gives planners a starting point: significant hot cells of a
hotspot result (Getis-Ord Gi*, ``kind == "hot"``) are grouped when they touch or when their
patrol buffers would overlap; a group is kept when it straddles a member boundary (a
meaningful part of it in two members) or lies within the border-zone width W of a boundary two
members share; it is buffered, clipped to the members' territory and assigned to the members
it touches, with a sentence in Vietnamese and English.

All metric work (areas, distances, buffers) is done in the cluster's UTM zone (that of its
border zones, :attr:`geozone.clusters.zones.BorderZones.utm_epsg`); inputs and outputs are
EPSG:4326.

Coverage (with the check of a drawn zone) is in :mod:`~geozone.analysis.patrol.coverage`, the
suggestions in :mod:`~geozone.analysis.patrol.suggestions`, and what both use (the cluster in
metres, the check of hot cells) in the private ``_common``.
"""

from geozone.analysis.patrol._common import HOT_CELL_COLUMNS, MIN_UNIT_SHARE
from geozone.analysis.patrol.coverage import Coverage, check_within_set, check_zone, coverage
from geozone.analysis.patrol.suggestions import (
    CONTACT_M,
    MAX_BUFFER_M,
    STRADDLE_MIN_SHARE,
    SUGGESTION_COLUMNS,
    suggest_patrol_zones,
)

__all__ = [
    "CONTACT_M",
    "HOT_CELL_COLUMNS",
    "MAX_BUFFER_M",
    "MIN_UNIT_SHARE",
    "STRADDLE_MIN_SHARE",
    "SUGGESTION_COLUMNS",
    "Coverage",
    "check_within_set",
    "check_zone",
    "coverage",
    "suggest_patrol_zones",
]
