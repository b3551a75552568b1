"""Checksums of files: one place for the sha256 that archives, imports and layers record."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Bytes read at a time.
_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
