"""Incidents: the schema, reading and writing files, the synthetic generator, the import.

- :mod:`~geozone.incidents.schema`: the incident model, categories, the plausible time range;
- :mod:`~geozone.incidents.io`: incident files in and out (CSV, GeoJSON, GPKG, Parquet),
  validated row by row;
- :mod:`~geozone.incidents.synthetic`: the seeded generator of SYNTHETIC incidents;
- :mod:`~geozone.incidents.pipeline`: a file into the store, judged, resumable.
"""
