"""Incidents: the schema, reading and writing files, the synthetic generator, the import.

- :mod:`~geozone.incidents.fields`: the one table of the incident fields (rules, defaults,
  store columns, wording) that the model, the file check and the store derive from;
- :mod:`~geozone.incidents.schema`: the incident model, categories, the plausible time range;
- :mod:`~geozone.incidents.io`: incident files in and out (CSV, GeoJSON, GPKG, Parquet),
  validated row by row (``read``, ``validate``, ``frame``, ``write``);
- :mod:`~geozone.incidents.synthetic`: the seeded generator of SYNTHETIC incidents;
- :mod:`~geozone.incidents.pipeline`: a file into the store, judged, resumable.
"""
