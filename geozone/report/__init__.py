"""Reports: the cluster review (sơ kết) and the exports of layers and tables.

- :mod:`~geozone.report.review`: the review of a cluster over a period, its tables and
  figures;
- :mod:`~geozone.report.exports`: layers to GeoPackage and friends, with the attribution.
"""
