"""Members of an uncompressed .npz mapped from the file equal numpy's own read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geozone.boundaries._mapped import mapped_npz


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
    assert isinstance(mapped["coarse"], np.memmap)  # mapped, not read
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
        assert not isinstance(mapped[name], np.memmap)
        np.testing.assert_array_equal(mapped[name], array)
