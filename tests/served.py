"""Serve the app over the hand-built test grid on loopback, in its own process.

Used by the abuse tests (which measure the server's memory from outside) and by the
schemathesis run of ``.ci/run``::

    python -m tests.served --port 8765 --store sqlite:////tmp/s.sqlite --keys /tmp/keys.json

It creates one key per role (names ``viewer-key`` … ``admin-key``), writes them as JSON to
``--keys``, and serves until stopped. Only loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn

from api.app import create_app
from api.auth_store import create_key
from api.settings import ApiSettings
from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from tests.fixtures.clusters import grid_cluster
from tests.fixtures.grid import GRID_INFO, grid_units

ROLES = ("viewer", "analyst", "planner", "admin")


def grid_context() -> Context:
    """The test grid with its centre cluster (zone width 100 m)."""
    grid = BoundarySet.from_units(GRID_INFO, grid_units())
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    return Context([grid], {"grid-centre": territory.cluster}, [territory], {"grid": "test"})


def main() -> None:
    """Parse the arguments, make the keys and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "localhost"])
    parser.add_argument("--store", required=True, help="store URL")
    parser.add_argument("--keys", type=Path, required=True, help="where to write the keys")
    parser.add_argument("--max-body-bytes", type=int, default=16 * 1024 * 1024)
    args = parser.parse_args()
    settings = ApiSettings(
        cache_dir=Path(args.keys).parent / "cache",
        store_url=args.store,
        api_max_body_bytes=args.max_body_bytes,
        api_max_upload_bytes=4 * args.max_body_bytes,
    )
    keys = {role: create_key(args.store, f"{role}-key", role) for role in ROLES}
    args.keys.write_text(json.dumps(keys), encoding="utf-8")
    app = create_app(settings, context=grid_context())
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
