"""Seeded synthetic incidents for demonstrations, tests and benchmarks.

:func:`generate_incidents` draws ``n`` incidents that look like a police log around the five
clusters of the reports (../shared/seeds) and across the country. Every record says what it
is: ``synthetic = True``, a ``description`` opening with "SYNTHETIC", an ``external_id``
``SYN-<seed>-<k>``. The same seed gives the same frame; all work is vectorised numpy/shapely
(1,000,000 incidents in about ten seconds on two cores, most of it spent locating the points).

The mixture
-----------
``MIXTURE`` gives the shares of three components (rounded to whole counts):

15 % hotspots
    Dense points around the clusters' named hotspots (the T11 bridge, 105.8064 E 21.0387 N,
    ±150 m): a circular gaussian in metres with sigma = radius / 2, so 86 % of them fall
    within the radius; polygon hotspots are filled uniformly. Hotspots share the component
    equally.
35 % cluster borders
    Points along the boundaries shared by members of each cluster. The shared lines are the
    parts of each member's boundary within 2 m of another member (``SNAP_M``), computed in the
    cluster's UTM zone. A position is drawn uniformly along their length, then moved across
    the line by a Laplace offset (density decaying exponentially with the distance) whose
    scale is a quarter of the cluster's border-zone width: 50 m for ward clusters (200 m
    zone), 250 m for district clusters, 750 m for provinces; 98 % of the points lie within
    the zone width of the line. Clusters share the component equally, whatever their line
    length (the T11 cluster's 11 km gets as many points as the Gia Lâm cluster's 460 km).
50 % background
    Points uniformly inside wards drawn with weight ``area_km2 ** 0.3 × (8 if Phường else
    1)``: urban wards (phường) see far more incidents per km² than rural communes (xã), and
    a large commune only somewhat more than a small one. With the 2025 wards this puts about
    half of the background in phường. Multi-part wards choose a part by area; points are
    drawn in the part's bounding box and kept when inside (batched rejection sampling).

A component with nothing to draw passes its share on: without hotspots the hotspot share
goes to the borders; without shared lines the border share goes to the background. Hotspot
and border points that fall outside every unit (at sea beyond a coastal boundary) are drawn
again, up to ``REDRAW_ROUNDS`` times.

Attributes
----------
category
    Per context (``CATEGORY_MIX``), from the reports: the T11 area (hotspot and borders of
    the Hoa–Đô–Phúc–Vị cluster) drugs, prostitution, theft, pavement encroachment,
    sanitation; Việt Trì–Vĩnh Tường–Lập Thạch drugs, theft, loan-sharking; Sông Cầu–Quy Nhơn
    theft, robbery, drugs, gambling; Gia Lâm and Cần Thơ–An Giang general crime; background
    a national mix (theft first, then traffic, public order, drugs...). A cluster not listed
    uses its ``problems`` that are categories (70 %) and the national mix (30 %).
status
    ``solved`` with a probability per category (``SOLVED_PROBABILITY``: theft 60 %, drugs
    85 %, administrative violations 95 %...), so that a review such as "31 of 35 criminal
    cases solved" looks plausible.
subjects
    0 to 3, distribution per category (``SUBJECTS_PROBABILITY``): thefts often have no known
    subject, gambling usually several.
jointly_handled
    More likely near borders: 40 % at hotspots, 10 % + 50 % × exp(-d / s) on cluster borders
    (d the distance to the line, s the offset scale), 3 % in the background.
occurred_at
    A uniform day in [start, end] and an hour from the category's diurnal profile
    (``DIURNAL``): night for drugs, prostitution and gambling, daytime for pavement,
    sanitation and traffic, evening for theft, robbery and disorder, office hours for fraud
    and loan-sharking; Vietnam time (UTC+7), whole seconds.
detected_at
    ``occurred_at`` plus a lognormal delay (median per category, ``DETECTION_DELAY_MIN``,
    from 3 minutes for traffic to 12 hours for fraud; sigma 1), never after the moment the
    incidents are generated (a period ending now has no detection in the future).
detected_by
    Cluster points (hotspot and border): the member holding the point (58 %), the member
    across the boundary (30 %: the "detected first" case of the lead rule), unknown (6 %),
    a unit outside the cluster (4 %: the province police for ward and district clusters,
    the ward for province clusters) and, in clusters with a member without territory (the
    Bồ Sao company), that member's id (2 %; otherwise the share goes to the holder). The
    member across the boundary is the other member of the line the point was drawn from (for
    hotspots, the nearest other member to the hotspot). Background: the ward holding the
    point (85 %, from :meth:`BoundarySet.locate_many`) or unknown.

Dates and boundary sets
-----------------------
Codes come from ``boundaries`` (the 2025 units), and the clusters must be given in them
(``migrate_cluster(...).to_cluster()``). When ``legacy`` is given, incidents dated before
``boundaries`` came into force take their ``detected_by`` from ``legacy``, the set in force
then, as a log of that time would: the legacy unit holding the point (a district, or the
province for province clusters); the neighbour across the boundary is the legacy unit
holding the point mirrored across the line (or across the hotspot's centre).
"""

from geozone.incidents.synthetic.generate import generate_incidents
from geozone.incidents.synthetic.profile import MIXTURE

__all__ = ["MIXTURE", "generate_incidents"]
