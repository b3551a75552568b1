"""The errors of the web service: authentication, roles, limits, jobs and API keys.

Each derives from :class:`geozone.errors.GeozoneError`, so the service answers it as every
geozone error: problem+json with the status :data:`api.problems.STATUS_OF` gives its class.
"""

from __future__ import annotations

from geozone.errors import GeozoneError


class AuthenticationError(GeozoneError):
    """A request needs an API key and gave none, an unknown one or a revoked one."""


class PermissionDeniedError(GeozoneError):
    """An API key's role is below the role the request needs."""


class PayloadTooLargeError(GeozoneError):
    """A request body or a batch is larger than the configured limit (the limit is named)."""


class UnknownJobError(GeozoneError):
    """No background job has the given id."""


class UnknownApiKeyError(GeozoneError):
    """No API key has the given name."""


class DuplicateApiKeyError(GeozoneError):
    """An API key with the given name exists already."""


class LastAdminKeyError(GeozoneError):
    """Revoking this key would leave no admin key to manage the others."""
