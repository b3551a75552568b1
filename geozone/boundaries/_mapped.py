"""Arrays of an uncompressed ``.npz`` mapped from the file rather than read into memory.

``numpy.load`` reads every member of an ``.npz`` into fresh memory (it cannot map one). The
derived index files next to a built set are written uncompressed (``numpy.savez``), so each
member's bytes lie as they are in the archive: mapping them costs no copy, and a lookup touches
only the pages it reads. On a machine where the first touch of fresh memory is dear (a virtual
machine's page faults), a large grid costs its reader the pages it uses, not its size.

The pages read stay resident in the process until it lets them go: a long batch run calls
:func:`release_mapped_pages` between pieces, so that its resident memory holds what the piece
at hand reads, not every page the run ever read (at 10 M rows over both boundary sets, some
150 MB).
"""

from __future__ import annotations

import mmap
import struct
import threading
import weakref
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

#: Size of a ZIP local file header before its name and extra field.
_LOCAL_HEADER = 30

#: Every mapping made by :func:`mapped_npz` still in use (see :func:`release_mapped_pages`).
_MAPPINGS: weakref.WeakSet[mmap.mmap] = weakref.WeakSet()
#: Guards :data:`_MAPPINGS` (a set may be loaded on one thread while another releases).
_MAPPINGS_LOCK = threading.Lock()


def mapped_npz(path: Path) -> dict[str, NDArray[Any]]:
    """Return each member of an uncompressed ``.npz`` as a read-only memory-mapped array.

    Parameters
    ----------
    path
        An archive written by ``numpy.savez`` (stored, not deflated).

    Returns
    -------
    dict
        Member name (without ``.npy``) to array. A compressed member, or one holding Python
        objects, is read the ordinary way.
    """
    arrays: dict[str, NDArray[Any]] = {}
    with zipfile.ZipFile(path) as archive, path.open("rb") as file:
        whole: mmap.mmap | None = None  # the whole archive, mapped once for its members
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            mapped = None
            if info.compress_type == zipfile.ZIP_STORED:
                if whole is None:
                    whole = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
                    with _MAPPINGS_LOCK:
                        _MAPPINGS.add(whole)
                mapped = _mapped_member(whole, file, _data_start(file, info))
            arrays[name] = mapped if mapped is not None else _read_member(archive, info)
    return arrays


def release_mapped_pages() -> None:
    """Drop the pages of every mapped archive from this process's resident memory.

    The pages stay in the system's file cache: the next lookup that reads one maps it again
    (a minor fault, no disk read). A long batch run calls this between pieces, so that its
    resident memory holds the pages its current piece reads, not every page read so far.
    """
    if not hasattr(mmap, "MADV_DONTNEED"):  # (no madvise: Windows)
        return
    with _MAPPINGS_LOCK:
        mappings = list(_MAPPINGS)
    for whole in mappings:
        # A shared read-only file mapping: dropping its pages loses nothing.
        whole.madvise(mmap.MADV_DONTNEED)


def _data_start(file: Any, info: zipfile.ZipInfo) -> int:
    """Return where a stored member's bytes begin (after its local header)."""
    file.seek(info.header_offset)
    header = file.read(_LOCAL_HEADER)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return int(info.header_offset + _LOCAL_HEADER + name_length + extra_length)


def _mapped_member(whole: mmap.mmap, file: Any, start: int) -> NDArray[Any] | None:
    """Return the ``.npy`` that begins at ``start`` over the archive's mapping ``whole``.

    None if it cannot be mapped.
    """
    file.seek(start)
    version = np.lib.format.read_magic(file)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(file)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(file)
    if dtype.hasobject:
        return None
    order: Literal["F", "C"] = "F" if fortran else "C"
    if int(np.prod(shape)) == 0:
        empty: NDArray[Any] = np.zeros(shape, dtype=dtype, order=order)
        return empty
    mapped: NDArray[Any] = np.ndarray(
        shape, dtype=dtype, buffer=whole, offset=int(file.tell()), order=order
    )
    return mapped


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> NDArray[Any]:
    with archive.open(info) as member:
        array: NDArray[Any] = np.lib.format.read_array(member, allow_pickle=False)
    return array
