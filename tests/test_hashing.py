"""File checksums: the one helper the import pipeline names its batches with."""

from __future__ import annotations

import hashlib
from pathlib import Path

from geozone.boundaries.build import file_sha256 as build_sha256
from geozone.hashing import file_sha256


def test_file_sha256_reads_in_blocks_and_agrees_with_the_build(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9_000  # more than one 1 MiB block
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(path) == build_sha256(path)  # archives and imports hash alike
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()
