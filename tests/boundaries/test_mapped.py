"""Members of an uncompressed .npz mapped from the file equal numpy's own read; pages released."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest

from geozone.boundaries._mapped import mapped_npz, release_mapped_pages


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "coarse": rng.integers(-5, 3000, (37, 53)).astype(np.int32),
        "fine": rng.integers(-1, 30000, (11, 256)).astype(np.int16),
        "origin": np.array([102.125, 8.375, 2.0**-7]),
        "fortran": np.asfortranarray(rng.random((6, 4))),
        "empty": np.zeros((0, 2)),
        "scalar": np.array(7, dtype=np.int64),
    }


def test_mapped_members_equal_numpy_read(tmp_path: Path) -> None:
    path = tmp_path / "grid.npz"
    arrays = _arrays()
    with path.open("wb") as file:
        np.savez(file, **arrays)
    mapped = mapped_npz(path)
    assert sorted(mapped) == sorted(arrays)
    with np.load(path) as data:
        for name in arrays:
            assert mapped[name].dtype == data[name].dtype
            assert mapped[name].shape == data[name].shape
            np.testing.assert_array_equal(mapped[name], data[name])
    assert isinstance(mapped["coarse"].base, mmap.mmap)  # mapped, not read
    assert mapped["fortran"].flags.f_contiguous
    with pytest.raises(ValueError, match="read-only"):
        mapped["coarse"][0, 0] = 1


def test_compressed_members_are_read(tmp_path: Path) -> None:
    path = tmp_path / "packed.npz"
    arrays = _arrays()
    with path.open("wb") as file:
        np.savez_compressed(file, **arrays)
    mapped = mapped_npz(path)
    for name, array in arrays.items():
        assert not isinstance(mapped[name].base, mmap.mmap)
        np.testing.assert_array_equal(mapped[name], array)


def _resident_kb(path: Path) -> int:
    """Resident KB of this process's mappings of ``path`` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        first = line.split(maxsplit=1)[0]
        if not first.endswith(":"):  # a mapping's header line: address range … path
            inside = line.rstrip().endswith(str(path))
        elif inside and first == "Rss:":
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux's smaps")
def test_released_pages_leave_resident_memory_and_are_read_again(tmp_path: Path) -> None:
    path = tmp_path / "big.npz"
    values = np.arange(4 << 20, dtype=np.int64)  # 32 MB
    with path.open("wb") as file:
        np.savez(file, values=values)
    mapped = mapped_npz(path)["values"]
    assert int(mapped.sum()) == int(values.sum())  # every page read
    assert _resident_kb(path) >= 30_000
    release_mapped_pages()
    assert _resident_kb(path) < 1_000
    np.testing.assert_array_equal(mapped[:8], values[:8])  # mapped again from the file
    assert 0 < _resident_kb(path) < 1_000  # the pages read only (and the kernel's read-around)
    np.testing.assert_array_equal(mapped, values)
