"""Assignment: an incident's jurisdiction and, in a cluster, its lead unit with the reason.

One vectorised code path serves one point or millions:

1. **Jurisdiction** (:mod:`~geozone.assignment.jurisdiction`): each incident is judged by the
   boundary set in force on its date; ``locate_many`` gives the unit chain, the on-boundary
   flag and the candidates. Dates no loaded set covers get ``locate_status = "no_set"``.
2. **Territory** (:mod:`~geozone.assignment.territory`): a cluster applies on the days it and
   its members are in force. For each pair of members (or, for a carried cluster, of its
   original members: :mod:`geozone.clusters.sides`) the shared boundary is measured; the
   border zone is the band within the cluster's width W of those lines plus a disc of radius
   W around each junction where three or more meet.
3. **Situation** (:mod:`~geozone.assignment.situation`): for every point at once, the member
   that holds it, its side, whether it is in the zone, the nearest boundary and junction.
4. **Decision** (:mod:`~geozone.assignment.decide`): the facts are judged by the rule table
   (:mod:`~geozone.assignment.rules`: conditions, lead, cooperating units, review, wording).
5. **Explanation** (:mod:`~geozone.assignment.explain`): one sentence in Vietnamese and one
   in English (which unit, how far from which boundary, which zone, which rule).

:mod:`~geozone.assignment.reference` is a plain one-incident reference the engine is tested
against.
"""

from geozone.assignment.decide import (
    CLUSTER_COLUMNS,
    Assignment,
    assign,
    assign_clusters,
    cluster_columns,
)
from geozone.assignment.explain import (
    cluster_named,
    explain,
    lapsed_sentences,
    situation_sentences,
    snapshot_notice,
    standing_notice,
)
from geozone.assignment.jurisdiction import (
    UNIT_COLUMNS,
    SetLocated,
    jurisdiction,
    locate_incidents,
)
from geozone.assignment.situation import side_facts
from geozone.assignment.territory import ClusterTerritory, territories

__all__ = [
    "CLUSTER_COLUMNS",
    "UNIT_COLUMNS",
    "Assignment",
    "ClusterTerritory",
    "SetLocated",
    "assign",
    "assign_clusters",
    "cluster_columns",
    "cluster_named",
    "explain",
    "jurisdiction",
    "lapsed_sentences",
    "locate_incidents",
    "side_facts",
    "situation_sentences",
    "snapshot_notice",
    "standing_notice",
    "territories",
]
