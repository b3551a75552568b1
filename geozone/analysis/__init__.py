"""Analysis of a cluster's incidents: hotspots, the border effect, patrol coverage.

- :mod:`~geozone.analysis.study`: a cluster over a period (forms, study area, incidents) and
  the hotspot defaults every output uses;
- :mod:`~geozone.analysis.hotspots`: Gi* on grids and units, kernel density, emerging
  hotspots, named places;
- :mod:`~geozone.analysis.border_effect`: the border zone's share of incidents against its
  share of the area;
- :mod:`~geozone.analysis.patrol`: what a drawn patrol zone covers, suggested zones.
"""
