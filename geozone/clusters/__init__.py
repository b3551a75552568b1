"""Clusters (cụm liên kết): the model and its files, adjacency, border zones, carrying.

- :mod:`~geozone.clusters.model`: clusters, members, periods and their checks, the files;
- :mod:`~geozone.clusters.adjacency`: units sharing a boundary, lengths, junctions;
- :mod:`~geozone.clusters.zones`: border zones along shared lines and at junctions;
- :mod:`~geozone.clusters.migrate`: carrying a cluster into the 2025 units by the official
  correspondence;
- :mod:`~geozone.clusters.sides`: whose lines a (carried) cluster's border zone runs along.
"""
