"""Every exception geozone raises on purpose.

All derive from :class:`GeozoneError`, so callers (the CLI, the API) can turn them into a
clear message without catching unrelated bugs.
"""

from __future__ import annotations


class GeozoneError(Exception):
    """Base class of geozone's own errors; the message is meant for the user."""


class ConfigurationError(GeozoneError):
    """A setting is missing or wrong."""


class DataNotFoundError(GeozoneError):
    """A source archive or a built layer is not where the settings say."""


class ChecksumMismatchError(GeozoneError):
    """A source archive does not have the sha256 recorded in the manifest."""


class SourceFormatError(GeozoneError):
    """A source archive does not have the layout its manifest entry declares."""


class UnknownBoundarySetError(GeozoneError):
    """No boundary set has the requested id."""


class NoBoundarySetForDateError(GeozoneError):
    """No loaded boundary set is in force on the requested date."""


class UnknownUnitError(GeozoneError):
    """A unit code is not in the boundary set."""


class UnreadableAddressError(GeozoneError):
    """An address names a part no unit fits, or fits several units (the message says which)."""


class InvalidCoordinatesError(GeozoneError):
    """Longitude or latitude is not a finite number in range."""


class ClusterDefinitionError(GeozoneError):
    """A cluster definition is malformed, or does not fit the boundary set it names."""


class ClusterIdChangeError(ClusterDefinitionError):
    """A replacement cluster definition names another id than the cluster it replaces."""


class ClusterConflictError(GeozoneError):
    """A cluster id is taken: by a committed (read-only) cluster, a defined one or a carried one."""


class UnknownMemberError(ClusterDefinitionError):
    """A cluster member names a unit code that the boundary set lacks at the cluster's level."""


class MemberNameMismatchError(ClusterDefinitionError):
    """A cluster member's name does not match the unit its code names."""


class MigrationError(GeozoneError):
    """A cluster cannot be carried from one boundary set into another."""


class UnitLevelError(GeozoneError):
    """A level has no geometry in the set, or a unit is not of the level asked for."""


class NoGeometryError(GeozoneError):
    """A unit needed for geometric work has no geometry (it is known from a register only)."""


class InvalidParameterError(GeozoneError, ValueError):
    """A numeric or choice parameter (a tolerance, a width, a contact kind) is out of range."""


class BoundaryImportError(GeozoneError):
    """A user-supplied boundary file cannot be imported as it is (the message lists why)."""


class IncidentFileError(GeozoneError):
    """An incident file cannot be read or written as a whole (format, columns, CRS, flags).

    Problems of single rows are not errors: :func:`geozone.incidents.io.read_incidents` lists
    them as rejects and keeps the valid rows.
    """


class StoreError(GeozoneError):
    """The incident store cannot do what was asked (the message says what and why)."""


class StoreAccessError(StoreError):
    """The store cannot be reached, or its role lacks a right: one line naming the problem."""


class StoreBusyError(StoreError):
    """Another writer held the store past the wait allowed; nothing of the call was stored."""


class IncidentDataError(StoreError, ValueError):
    """An incident or assignment frame has missing columns or invalid values (named)."""


class UnknownIncidentError(StoreError):
    """An assignment names an incident external id that the store does not hold."""


class ImportBatchError(StoreError):
    """An import batch is unknown, already finished, reused for another file, or overfull."""


class UnknownPatrolZoneError(GeozoneError):
    """No patrol zone has the given id."""


class PatrolZoneGeometryError(GeozoneError, ValueError):
    """A patrol zone's geometry is not a usable polygon in Vietnam (the reason is named)."""


class AnalysisInputError(GeozoneError, ValueError):
    """An analysis input (incidents, hotspot cells) lacks columns or has bad values (named)."""


class PatrolZoneOutsideClusterError(PatrolZoneGeometryError):
    """A patrol zone covers no part of its cluster's members' territory."""


class UnknownClusterError(DataNotFoundError):
    """No cluster (committed, or carried into a newer boundary set) has the requested id."""
