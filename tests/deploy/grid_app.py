"""An app factory over the test grid for ``uvicorn --factory`` (the deployment's command).

``api.app:create_app`` loads the built boundary sets; the deployment test serves the test
grid instead, with the settings (store URL…) from the environment, as in production.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from api.settings import ApiSettings
from tests.served import grid_context


def create() -> FastAPI:
    """Return the app over the test grid, configured from the ``GEOZONE_*`` environment."""
    return create_app(ApiSettings(), context=grid_context())
