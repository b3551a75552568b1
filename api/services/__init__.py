"""What the routes call: one module per resource, thin adapters between HTTP and the core.

Routes stay free of logic; these modules turn query parameters into geozone calls and
geozone results (data frames, dataclasses) into JSON-ready data. Each router
(:mod:`api.routers`) has its module here of the same name; :mod:`~api.services.common` holds
the JSON helpers they share.
"""
