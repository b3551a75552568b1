"""geozone: border-zone analysis for Vietnamese police coordination clusters.

The core library: boundary sets and their QA, unit search and point location. It imports no
web framework and no map library.
"""

from geozone.boundaries.sets import BoundarySet, Location
from geozone.errors import GeozoneError

__all__ = ["BoundarySet", "GeozoneError", "Location", "__version__"]
__version__ = "0.1.0"  # the one place: the package metadata reads it ([tool.hatch.version])
