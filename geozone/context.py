"""Everything a judgement needs, loaded once: boundary sets, clusters, their territories.

The CLI, the API and the benchmarks use :func:`load_context` so that they judge incidents the
same way: every built boundary set (chosen per incident by date), the committed clusters, each
placed on the set its members are named in and carried into the current set's units.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from geozone import vntime
from geozone.assignment import ClusterTerritory, territories
from geozone.boundaries._mapped import release_mapped_pages
from geozone.boundaries.build import META_FILE
from geozone.boundaries.sets import BoundarySet, available_sets
from geozone.clusters.files import load_clusters
from geozone.clusters.model import Cluster, Confirmation
from geozone.errors import DataNotFoundError
from geozone.settings import Settings, get_settings

if TYPE_CHECKING:
    from geozone.store.base import IncidentStore


@dataclass
class Context:
    """Loaded boundary sets, clusters and cluster territories."""

    sets: list[BoundarySet]
    clusters: dict[str, Cluster]
    territories: list[ClusterTerritory]
    build_stamps: dict[str, str] = field(default_factory=dict)

    @property
    def current(self) -> BoundarySet:
        """The set in force today."""
        today = vntime.today()
        live = [bset for bset in self.sets if bset.info.in_force(today)]
        return max(live or self.sets, key=lambda bset: bset.info.valid_from)

    @property
    def attribution(self) -> str:
        """The loaded sets' attributions (each once), for maps and exports."""
        return " | ".join(dict.fromkeys(bset.info.attribution for bset in self.sets))

    def territory(self, cluster_id: str) -> ClusterTerritory:
        """Return the territory of a cluster id (an original or a carried ``<id>-<set>`` one)."""
        for placed in self.territories:
            if placed.cluster.id == cluster_id:
                return placed
        known = ", ".join(t.cluster.id for t in self.territories)
        raise DataNotFoundError(f"no cluster territory {cluster_id!r}; known: {known}")

    def why_undrawn(self, territory: ClusterTerritory) -> str | None:
        """Say why a cluster has no map nor zones in its set (None: it has them).

        Its members are named in units without polygons (the pre-2025 set's wards are a
        register, not a layer): the message names the carried versions that are drawn, and
        how to import a ward layer. One wording for the CLI, the map pages and the index.
        """
        if territory.geometric:
            return None
        cluster = territory.cluster
        carried = self.carried_versions(cluster.id)
        why = (
            f"cluster {cluster.id!r} has no map nor zones in {territory.bset.id}: its members' "
            "units there have no polygons"
        )
        if carried:
            return (
                f"{why}; use its carried version: {', '.join(carried)}, which is drawn (or "
                f"import a ward layer: geozone data import … --register {territory.bset.id})"
            )
        return why

    def carried_versions(self, cluster_id: str) -> list[str]:
        """Return the ids of the placed versions of a cluster carried into new units."""
        return [t.cluster.id for t in self.territories if t.cluster.carried_from == cluster_id]

    def boundary_set(self, set_id: str) -> BoundarySet:
        """Return a loaded set by id."""
        for bset in self.sets:
            if bset.id == set_id:
                return bset
        raise DataNotFoundError(f"boundary set {set_id!r} is not loaded")


def prepare_for(context: Context, points: int, tolerance_m: float | None = None) -> None:
    """Make now what judging a batch of ``points`` incidents would make on first use.

    The set in force today gets its point-location index: for a batch of at least
    :data:`~geozone.boundaries._locate.CORE_MIN_POINTS`, everything such batches use (the
    cores' grid, the outline pieces, the distance indexes); for a smaller one, the polygon
    tree alone (a point located now builds it; the few polygons a small batch measures are
    projected when used). The cluster territories on that set get their lookups. A command
    may call this on a thread of its own while it reads its input, so that the work
    overlaps; nothing else may use the context until it returns.
    """
    import numpy as np

    from geozone.boundaries._locate import CORE_MIN_POINTS

    current = context.current
    if points >= CORE_MIN_POINTS:
        current.prepare_index(tolerance_m, large_batches=True)
    else:
        current.locate_arrays(np.zeros(1), np.zeros(1), tolerance_m)
    for placed in context.territories:
        if placed.bset.id == current.id and placed.decides and placed.applies:
            placed.prepare()
    release_memory()


def release_memory(*, heap: bool = True) -> None:
    """Hand the memory freed so far back to the system, and the boundary index pages read.

    Loading a set and making its index leave hundreds of MB of freed temporaries that glibc's
    allocator keeps (``malloc_trim`` returns them; some 120 MB after the context, 250 MB
    after the outline pieces), and Arrow's pool keeps what reading Parquet freed. The pages
    of the mapped index files a lookup read stay resident too
    (:func:`~geozone.boundaries._mapped.release_mapped_pages`: the file cache keeps them).
    A long streamed run calls this after each piece, so that its resident memory stays what
    the live data needs; ``heap=False`` lets go of the index pages only (cheap enough for
    every piece). Elsewhere than on glibc, the heap is not trimmed.
    """
    release_mapped_pages()
    if not heap:
        return
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)


#: glibc's ``mallopt`` parameters (malloc.h): the most arenas, the mmap threshold.
_M_ARENA_MAX, _M_MMAP_THRESHOLD = -8, -3

#: Blocks of this many bytes or more are mapped on their own in a batch run (see below).
BATCH_MMAP_THRESHOLD = 1 << 20


def tune_malloc_for_batch(arenas: int) -> None:
    """Set glibc's allocator for a long batch run from now on (nothing elsewhere than glibc).

    - At most ``arenas`` arenas: each thread that meets a busy arena gets one of its own (up
      to 8 per core), and memory freed in one arena is not reused by the others; a run that
      judges its pieces on threads kept about 90 MB more at its peak than on one.
    - Blocks of :data:`BATCH_MMAP_THRESHOLD` bytes or more are mapped on their own, so that
      freeing one hands it back at once. glibc's own threshold rises to the largest block
      freed (up to 32 MB), after which each piece's column arrays come from the heap and
      leave it in fragments: a 10 M-row run grew by some 100 MB over its length (1 M rows:
      ~60 MB lower peak), for ~2 s of system time per million rows (pages mapped afresh).

    Call before the threads start.
    """
    function = _libc_function("mallopt")
    if function is not None:
        function(_M_ARENA_MAX, max(1, arenas))
        function(_M_MMAP_THRESHOLD, BATCH_MMAP_THRESHOLD)


def freeze_long_lived() -> None:
    """Spare the objects alive now from the cycle collector's passes, for the process's life.

    For a batch command, once its judging context is loaded: the context and the imported
    modules (~170,000 objects, 0.06 s a full pass) live as long as the process, yet every
    full pass of the collector walked them again (an import of 1 M rows: ~45 passes, 4.5 s
    of its 46 s; 0.5 s once frozen). Garbage is collected first so that none is kept.
    Not for the service: a context it replaces would stay frozen, never freed.
    """
    gc.collect()
    gc.freeze()


@lru_cache(maxsize=4)
def _libc_function(name: str) -> Callable[..., int] | None:
    """Return the C library's function ``name`` (glibc; None elsewhere)."""
    import ctypes

    try:
        function: Callable[..., int] = getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    return function


def load_context(
    settings: Settings | None = None,
    clusters_dir: Path | None = None,
    confirmations: Iterable[Confirmation] = (),
    *,
    private: bool = False,
) -> Context:
    """Load every built set, the clusters and their territories (cached per cache folder).

    Parameters
    ----------
    settings
        Where the built sets are (default: the settings).
    clusters_dir
        The cluster definitions (default: the committed ones).
    confirmations
        Planners' confirmations of carried clusters (``geozone clusters confirm``, kept in
        the store: :func:`stored_confirmations`); a carried cluster without one is a proposal
        or, when its original had ended before the reform, lapsed.
    private
        Load a context of the caller's own instead of the cached one: no other code of the
        process sees its sets, so their location indexes use the sets' own polygons,
        unprepared, not prepared copies
        (:meth:`~geozone.boundaries.sets.BoundarySet.index_alone`; some 160 MB less for the
        2025 wards, and some 300 MB less once a long run has reached every ward). For a
        one-shot command, which judges on its own threads only (``geozone incidents
        assign``, ``import``); a service shares the cached context.
    """
    settings = settings or get_settings()
    confirmed = tuple(sorted(confirmations, key=lambda c: c.cluster_id))
    if private:
        return _load(settings.cache_dir, clusters_dir, confirmed, private=True)
    return _cached(settings.cache_dir, clusters_dir, confirmed)


def judging_context(settings: Settings | None = None, *, private: bool = False) -> Context:
    """Return the context every command judges with.

    The committed clusters and the store's confirmations of carried ones (see
    :func:`stored_confirmations`); ``private``: a context of the caller's own (see
    :func:`load_context`).
    """
    settings = settings or get_settings()
    return load_context(settings, confirmations=stored_confirmations(settings), private=private)


def store_context(store: IncidentStore, *, private: bool = False) -> Context:
    """Return the context to judge a store's incidents with: that store's confirmations.

    A command given another store than the configured one (``--store``) judges as that
    store's planners confirmed its carried clusters; ``private``: see :func:`load_context`.
    """
    return load_context(confirmations=store.confirmations(), private=private)


def stored_confirmations(settings: Settings | None = None) -> tuple[Confirmation, ...]:
    """Return the confirmations held by the configured store (none when it does not exist yet).

    The CLI judges with these, as the service does, so that one incident gets one answer
    whichever way it is judged.
    """
    from geozone.store import open_store
    from geozone.store.sql import store_exists

    settings = settings or get_settings()
    if not store_exists(settings):
        return ()
    with open_store(settings=settings) as store:
        return tuple(store.confirmations())


def _load(
    cache_dir: Path,
    clusters_dir: Path | None,
    confirmations: tuple[Confirmation, ...],
    private: bool = False,
) -> Context:
    settings = get_settings().model_copy(update={"cache_dir": cache_dir})
    infos = available_sets(settings)
    if not infos:
        raise DataNotFoundError(
            f"no boundary set is built in {settings.boundary_cache}; run `geozone data build`"
        )
    sets = [BoundarySet.load(info.id, settings, fresh=private) for info in infos]
    for bset in sets if private else ():
        bset.index_alone()  # no other code sees these sets
    clusters = load_clusters(clusters_dir)
    today = vntime.today()
    current = max(
        (b for b in sets if b.info.in_force(today)), key=lambda b: b.info.valid_from, default=None
    )
    by_id = {confirmation.cluster_id: confirmation for confirmation in confirmations}
    placed = territories(clusters.values(), sets, carry_into=current, confirmations=by_id)
    stamps = {}
    for bset in sets:
        meta = json.loads((settings.boundary_cache / bset.id / META_FILE).read_text("utf-8"))
        stamps[bset.id] = f"{meta.get('sha256')}:{meta.get('build_format')}"
    return Context(sets, clusters, placed, stamps)


_cached = lru_cache(maxsize=4)(_load)
