"""Clusters (cụm liên kết): the model and its files, adjacency, border zones, carrying.

- :mod:`~geozone.clusters.model`: clusters, members, regulations, events, confirmations;
- :mod:`~geozone.clusters.dates`: partial dates as the reports give them, periods;
- :mod:`~geozone.clusters.files`: the committed ``data/clusters/*.toml`` read and checked
  against a boundary set;
- :mod:`~geozone.clusters.adjacency`: units sharing a boundary, lengths, junctions (the
  vectorised contact search in :mod:`~geozone.clusters._contacts`);
- :mod:`~geozone.clusters.zones`: border zones along shared lines and at junctions;
- :mod:`~geozone.clusters.successors`: which new units succeed each old member, in what
  shares (the official correspondence: :mod:`geozone.boundaries.correspondence`);
- :mod:`~geozone.clusters.migrate`: a cluster carried into the 2025 units, proposed,
  confirmed or lapsed;
- :mod:`~geozone.clusters.sides`: whose lines a (carried) cluster's border zone runs along.
"""
