#!/usr/bin/env bash
# Set up geozone on a fresh machine.
#   bash scripts/setup.sh          the service and CLI: pinned uv, the Python environment in
#                                  .venv from requirements.lock (exact versions, sha256
#                                  hashes), the map libraries from maps/package-lock.json
#   bash scripts/setup.sh --test   the same plus what the tests need: Debian's PostgreSQL
#                                  with PostGIS (a throw-away server is started by the tests),
#                                  Chromium (browser tests) and QGIS's Python package (the
#                                  OGC client tests), when run as root
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

if ! python3 -m uv --version 2>/dev/null | grep -q "uv ${UV_VERSION}"; then
  python3 -m pip install --quiet "uv==${UV_VERSION}"
fi

lock=requirements.lock
[[ "${1:-}" == "--test" ]] && lock=requirements-dev.lock
[[ -x .venv/bin/python ]] || python3 -m uv venv --quiet --python python3 .venv
# Bytecode compiled once here: a first `geozone serve` then starts without compiling pandas & co.
python3 -m uv pip sync --quiet --compile-bytecode --python .venv/bin/python --require-hashes "${lock}"
python3 -m uv pip install --quiet --python .venv/bin/python --no-deps --editable .

if [[ "${1:-}" == "--test" ]]; then
  missing=()
  # The PostGIS extension itself (postgresql-15-postgis-3 on Debian 12), not just its tools.
  ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 ||
    missing+=(postgresql postgresql-15-postgis-3)
  dpkg -s chromium >/dev/null 2>&1 || missing+=(chromium)
  # QGIS's OAPIF provider is one of the real clients the OGC tests drive (system Python).
  dpkg -s python3-qgis >/dev/null 2>&1 || missing+=(python3-qgis)
  # deploy/nginx.conf is run in front of the service (tests/deploy/test_nginx.py).
  command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
  if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "note: not root; install ${missing[*]} yourself or the tests that need them are skipped" >&2
    fi
  fi
fi

# Leaflet and its plugins for the offline map pages (maps/node_modules, never committed).
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix maps --no-audit --no-fund --silent
else
  echo "note: npm not found; the map pages need it (apt-get install npm)" >&2
fi
