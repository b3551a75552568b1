"""Addresses: old or new administrative addresses to units, on any date.

- :mod:`~geozone.address.resolve`: resolving an address text to the unit chain in force and
  today's successors (:func:`resolve_address`, :func:`resolve_addresses`);
- :mod:`~geozone.address.result`: what an address resolves to;
- ``_parse`` reads the parts of an address, ``_reading`` chooses a reading, ``_answer``
  builds the answer; :mod:`~geozone.address.gazetteer`: the name index over the sets;
  :mod:`~geozone.address.sample`: generated addresses for measuring.
"""
