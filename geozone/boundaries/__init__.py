"""Boundary sets: versioned administrative units, their build, QA and point location.

- :mod:`~geozone.boundaries.sets`: :class:`~geozone.boundaries.sets.BoundarySet` (units,
  search, location), set info and validity;
- :mod:`~geozone.boundaries.manifest`, :mod:`~geozone.boundaries.sources`,
  :mod:`~geozone.boundaries.build`: the manifest of sources and the build from the archives;
- :mod:`~geozone.boundaries.qa`: gaps, overlaps and invalid geometry;
- :mod:`~geozone.boundaries.importer`, :mod:`~geozone.boundaries.refine`: user layers, as a
  set of their own or refining a set with ward geometry;
- :mod:`~geozone.boundaries.lineage`: where a unit went across the 2025 reform;
- ``_locate`` and ``_coregrid``: the point-location index (interior cores and their grid).
"""
