"""prepare_for: what a large batch would make on first use is made beforehand."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely

from geozone.assignment import jurisdiction
from geozone.boundaries import _locate
from geozone.boundaries._locate import CORE_MIN_POINTS
from geozone.context import load_context, prepare_for
from geozone.settings import Settings


def test_a_large_batch_after_prepare_for_makes_nothing(
    built_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = load_context(built_settings)
    prepare_for(context, _locate.CORE_MIN_POINTS, built_settings.boundary_tolerance_m)
    current = context.current
    made: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        made.append("outline pieces")
        raise AssertionError("outline pieces made after prepare_for")

    monkeypatch.setattr(_locate.OutlinePieces, "build", refuse)
    rng = np.random.default_rng(5)
    west, south, east, north = current.frame.total_bounds
    n = _locate.CORE_MIN_POINTS
    incidents = pd.DataFrame(
        {
            "external_id": [f"p{i}" for i in range(n)],
            "occurred_at": pd.Timestamp("2025-09-01", tz="Asia/Ho_Chi_Minh"),
            "lon": rng.uniform(west, east, n),
            "lat": rng.uniform(south, north, n),
        }
    )
    units = jurisdiction(incidents, [current], built_settings.boundary_tolerance_m)
    assert not made and (units["locate_status"] == "inside").any()
    for placed in context.territories:
        if placed.bset.id == current.id and placed.decides and placed.applies:
            ready = placed.__dict__
            assert "table" in ready and "reach" in ready
            if placed.geometric:
                assert "boundary_index" in ready and "junctions" in ready
                assert "member_tree" in ready or not placed.carried_sides


def test_a_private_context_is_its_own_and_indexes_the_sets_own_polygons(
    built_settings: Settings,
) -> None:
    shared = load_context(built_settings)
    private = load_context(built_settings, private=True)
    assert private is not shared and load_context(built_settings) is shared
    for mine, theirs in zip(private.sets, shared.sets, strict=True):
        assert mine is not theirs and mine.id == theirs.id
    current, other = private.current, shared.current
    index, _ = current._leaf
    leaves = current.frame[current._is_leaf].geometry.to_numpy()
    assert all(a is b for a, b in zip(index.geometries, leaves, strict=True))  # no copies
    assert not shapely.is_prepared(index.geometries).any()  # nor GEOS's indexes of them
    copied, _ = other._leaf
    theirs = other.frame[other._is_leaf].geometry.to_numpy()
    assert not any(a is b for a, b in zip(copied.geometries, theirs, strict=True))
    assert shapely.is_prepared(copied.geometries).all()
    rng = np.random.default_rng(11)
    west, south, east, north = current.frame.total_bounds
    lon, lat = rng.uniform(west, east, 3_000), rng.uniform(south, north, 3_000)
    # A large batch (the cores' grid, then the pairs it cannot place) mostly within 40 m of
    # ward outlines, where a point's polygon is tested rather than read from the grid.
    outline = shapely.get_coordinates(shapely.boundary(leaves[::7]))
    near = outline[rng.integers(0, len(outline), CORE_MIN_POINTS)]
    near += rng.uniform(-0.0004, 0.0004, near.shape)
    lon, lat = np.r_[lon, near[:, 0]], np.r_[lat, near[:, 1]]
    tolerance = built_settings.boundary_tolerance_m
    for points, within in ((1_000, tolerance), (3_000, tolerance), (len(lon), tolerance),
                           (len(lon), 0.0)):  # fmt: skip
        mine_found = current.locate_arrays(lon[:points], lat[:points], within)
        theirs_found = other.locate_arrays(lon[:points], lat[:points], within)
        assert mine_found.keys() == theirs_found.keys()
        for key, values in mine_found.items():
            assert repr(values.tolist()) == repr(theirs_found[key].tolist()), (points, within, key)
        inside = (mine_found["status"] == "inside").sum()  # (the first 3,000: the box's)
        assert inside > (CORE_MIN_POINTS // 2 if points > 3_000 else 0)
    # Most near points are left to the polygons by the grid: the path that differs was taken.
    assert (index.grid(tolerance).lookup(lon, lat) < 0).sum() > CORE_MIN_POINTS // 2


def test_mallopt_and_the_trim_are_found_where_glibc_is_the_c_library() -> None:
    from geozone.context import _libc_function, release_memory

    on_glibc = platform.libc_ver()[0] == "glibc"
    assert (_libc_function("mallopt") is not None) == on_glibc
    assert (_libc_function("malloc_trim") is not None) == on_glibc
    assert _libc_function("no_such_function") is None
    release_memory()


#: Run in a process of its own: how a 2 MB block is allocated after an 8 MB one was freed
#: (glibc's mallinfo2: bytes in blocks mapped on their own), with or without the tuning.
_MAPPED_AFTER_A_FREE = """
import ctypes, sys
from geozone.context import tune_malloc_for_batch
libc = ctypes.CDLL("libc.so.6")
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in "arena ordblks smblks hblks hblkhd "
                "usmblks fsmblks uordblks fordblks keepcost".split()]
if not hasattr(libc, "mallinfo2"):  # glibc before 2.33
    print(-1)
    sys.exit()
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "tuned":
    tune_malloc_for_batch(2)
libc.free(libc.malloc(8 << 20))  # glibc's own threshold rises to 8 MB
before = libc.mallinfo2().hblkhd
block = libc.malloc(2 << 20)
print(libc.mallinfo2().hblkhd - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_a_batch_maps_large_blocks_on_their_own_so_that_freeing_hands_them_back() -> None:
    # glibc's settings from the environment left out: dask's workers set MALLOC_TRIM_THRESHOLD_
    # in os.environ, and any setting of it fixes the threshold as the tuning does.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}

    def mapped(mode: str) -> int:
        run = [sys.executable, "-c", _MAPPED_AFTER_A_FREE, mode]
        return int(subprocess.run(run, capture_output=True, text=True, check=True, env=env).stdout)

    if mapped("default") < 0:
        pytest.skip("glibc before 2.33: no mallinfo2")
    assert mapped("default") == 0  # from the heap: it stays in the process when freed
    assert mapped("tuned") >= 2 << 20


#: Run in a process of its own (freezing is for the process's life): a cycle dropped before
#: the freeze is collected, one alive is frozen (no generation holds it), one made after is
#: collected as usual.
_FREEZE = """
import gc, weakref
from geozone.context import freeze_long_lived
class Node: pass
kept = Node(); kept.me = kept
lost = Node(); lost.me = lost; before = weakref.ref(lost); del lost
freeze_long_lived()
later = Node(); later.me = later; after = weakref.ref(later); del later
gc.collect()
frozen = not any(o is kept for o in gc.get_objects())
print(before() is None, frozen, gc.get_freeze_count() > 1000, after() is None)
"""


def test_freezing_keeps_what_is_alive_and_collects_the_rest() -> None:
    run = [sys.executable, "-c", _FREEZE]
    out = subprocess.run(run, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "True", "True"]
