#!/usr/bin/env bash
# Re-pin every dependency after editing pyproject.toml: resolves with uv and writes the
# committed lock files (exact versions and sha256 hashes, no download addresses).
# uv.lock is committed too: `uv lock` keeps every version it holds and resolves only what
# pyproject.toml adds or changes (`python3 -m uv lock --upgrade-package NAME` to move one).
#   requirements.lock      what the service and CLI need (the core and every extra)
#   requirements-dev.lock  the same plus tests, lint and type checking
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m uv lock --quiet
python3 -m uv export --frozen --quiet --format requirements-txt --no-emit-project --no-dev \
  --all-extras --output-file requirements.lock
python3 -m uv export --frozen --quiet --format requirements-txt --no-emit-project --all-groups \
  --all-extras --output-file requirements-dev.lock
