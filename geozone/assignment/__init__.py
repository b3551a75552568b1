"""Assignment: an incident's jurisdiction and, in a cluster, its lead unit with the reason.

- :mod:`~geozone.assignment.rules`: the lead rules as one table (conditions, leads,
  cooperating units, review, vi/en wording);
- :mod:`~geozone.assignment.engine`: the vectorised path, one point or millions;
- :mod:`~geozone.assignment.reference`: a plain one-incident reference the engine is tested
  against.
"""
