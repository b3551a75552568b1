"""Addresses: old or new administrative addresses to units, on any date.

- :mod:`~geozone.address.resolve`: resolving an address text to the unit chain in force and
  today's successors;
- ``_parse``: reading the parts of an address; :mod:`~geozone.address.gazetteer`: the name
  index over the sets; :mod:`~geozone.address.sample`: generated addresses for measuring.
"""
