"""Service health and version."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Response

from api.deps import ContextDep
from api.schemas import Health, Version

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, summary="Liveness probe")
def health() -> Health:
    """Return ``{"status": "ok"}`` while the service runs."""
    return Health(status="ok")


@router.get("/version", response_model=Version, summary="Service and data versions")
def get_version(context: ContextDep) -> Version:
    """Return the geozone version, the loaded boundary builds and the clusters."""
    try:
        package = version("geozone")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        package = "unknown"
    return Version(
        geozone=package,
        sets={bset.id: context.build_stamps.get(bset.id, "") for bset in context.sets},
        clusters=sorted(context.clusters),
        current_set=context.current.id,
    )


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """Answer the browser's icon request with no content (the map pages have no icon)."""
    return Response(status_code=204)
