#!/usr/bin/env bash
# Set up geozone on a fresh machine: uv (pinned) and the locked Python environment in .venv.
#   bash scripts/setup.sh          the service and CLI
#   bash scripts/setup.sh --test   the same plus what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

if ! python3 -m uv --version 2>/dev/null | grep -q "uv ${UV_VERSION}"; then
  python3 -m pip install --quiet "uv==${UV_VERSION}"
fi

if [[ "${1:-}" == "--test" ]]; then
  python3 -m uv sync --frozen --quiet
else
  python3 -m uv sync --frozen --quiet --no-dev
fi
