"""The clusters geozone judges with: the committed ones and those planners define.

The committed clusters (``data/clusters/*.toml``, loaded by
:func:`geozone.context.load_context`) are **read-only** here: each is traced to the report
it comes from and changes by review in the repository, so defining or replacing a cluster
with one of their ids (or the id of their carried ``<id>-<set>`` version) is refused with
:class:`~geozone.errors.ClusterConflictError`.

Planners add clusters (:meth:`ClusterRegistry.create`; the web service's ``POST /clusters``)
and replace them (:meth:`ClusterRegistry.update`; ``PUT /clusters/{id}``). A definition is
checked against its boundary set (:func:`geozone.clusters.files.validate_cluster`: an unknown
member or a name that does not match its code is a
:class:`~geozone.errors.ClusterDefinitionError` naming the member), placed on that set and
carried into the current set's units like a committed cluster
(:func:`geozone.assignment.territories`), stored in the store (table ``cluster_definitions``,
migration 0003, through :class:`geozone.store.planner.PlannerStore`) so that it survives a
restart, and added to the registry's :attr:`ClusterRegistry.context`.

The context is replaced, never changed in place: a caller keeps the one it started with.
The assignment stamp (:func:`geozone.incidents.pipeline.context_stamp`) covers every cluster
definition, so a new context makes every stored incident stale; the caller recomputes them
with the newest context, one reassignment at a time (:attr:`ClusterRegistry.reassign_lock`),
so that an older context never overwrites a newer one's decisions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from geozone.assignment import ClusterTerritory, territories
from geozone.clusters.files import validate_cluster
from geozone.clusters.model import Cluster, Confirmation
from geozone.context import Context
from geozone.errors import (
    ClusterConflictError,
    ClusterDefinitionError,
    ClusterIdChangeError,
    DataNotFoundError,
    GeozoneError,
    InvalidParameterError,
)

if TYPE_CHECKING:
    from geozone.store.base import IncidentStore
    from geozone.store.planner import PlannerStore

_log = logging.getLogger("geozone.api")  # the service's log, where these warnings went before


def confirmation_of(
    context: Context,
    cluster_id: str,
    from_date: date,
    by: str | None = None,
    note: str | None = None,
    zone: str | None = None,
) -> Confirmation:
    """Check a planner's confirmation of a carried committed cluster and return it.

    The CLI (``geozone clusters confirm``) and the service (``POST /clusters/{id}/confirm``)
    both check through here: ``cluster_id`` must be a committed cluster's carried version
    (``<id>-<set>``) and ``from_date`` no earlier than the day the set it is carried into
    began. ``zone`` is a border zone drawn instead of the derived one (WKT, EPSG:4326).

    Raises
    ------
    DataNotFoundError
        When ``cluster_id`` is no carried cluster (the carried ones are named).
    InvalidParameterError
        When ``from_date`` is before the reform date.
    """
    start = carried_cluster(context, cluster_id).period.start
    earliest = start.exact if start is not None else None
    if earliest is not None and from_date < earliest:
        raise InvalidParameterError(
            f"{cluster_id} can apply from {earliest} at the earliest (the reform date), "
            f"not {from_date}"
        )
    return Confirmation(cluster_id, from_date, by, note, zone)


def carried_cluster(context: Context, cluster_id: str) -> Cluster:
    """Return a committed cluster's carried version by id.

    Raises
    ------
    DataNotFoundError
        When ``cluster_id`` is no carried cluster (the carried ones are named).
    """
    carried = carried_clusters(context)
    if cluster_id not in carried:
        raise DataNotFoundError(
            f"{cluster_id!r} is not a carried cluster; carried: {', '.join(sorted(carried))}"
        )
    return carried[cluster_id]


def carried_clusters(context: Context) -> dict[str, Cluster]:
    """Return the committed clusters' carried versions (``<id>-<set>``) by id."""
    return {
        t.cluster.id: t.cluster
        for t in context.territories
        if t.cluster.carried_from is not None and t.cluster.carried_from in context.clusters
    }


@dataclass(frozen=True)
class Defined:
    """A cluster a planner defined, as placed on the loaded sets."""

    cluster: Cluster
    territories: tuple[ClusterTerritory, ...]
    record: dict[str, Any]

    @property
    def ids(self) -> set[str]:
        """The ids of its placed versions (the cluster's own and the carried ones)."""
        return {t.cluster.id for t in self.territories}


class ClusterRegistry:
    """Committed clusters plus the clusters planners defined, and the context of both.

    Parameters
    ----------
    base
        The context of the committed clusters (as :func:`geozone.context.load_context`
        returns it; never changed).
    planner_store
        Where the defined clusters are stored; they are read and placed now. One that no
        longer validates (its boundary set was rebuilt without a member, say) is skipped and
        listed in :attr:`problems`; it can still be replaced (:meth:`update`).
    """

    def __init__(self, base: Context, planner_store: PlannerStore) -> None:
        self.base = base
        self.planner_store = planner_store
        self._lock = threading.Lock()
        #: Held while stored incidents are reassigned after a write: one reassignment at a time.
        self.reassign_lock = threading.Lock()
        self._committed = set(base.clusters) | {t.cluster.id for t in base.territories}
        self._defined: dict[str, Defined] = {}
        self._stored: set[str] = set()
        #: Stored definitions that could not be placed at start-up, with the reason.
        self.problems: list[str] = []
        for row in planner_store.list_clusters():
            self._stored.add(row["id"])
            try:
                cluster = Cluster.model_validate(row["definition"])
                if row["id"] in self._committed:
                    raise ClusterDefinitionError("a committed cluster now has this id")
                placed = self._place(cluster, taken=self._taken())
            except (GeozoneError, ValidationError) as exc:
                self.problems.append(f"stored cluster {row['id']!r} is not loaded: {exc}")
                _log.warning(self.problems[-1])
                continue
            self._defined[cluster.id] = Defined(cluster, placed, row)
        self.context = self._build()

    # -- reading -------------------------------------------------------------------------------

    def is_defined(self, cluster_id: str) -> bool:
        """Tell whether ``cluster_id`` is a cluster a planner defined (editable)."""
        return cluster_id in self._defined

    def source(self, territory_id: str) -> str:
        """Return ``"api"`` for a placed version of a defined cluster, else ``"file"``."""
        return "api" if any(territory_id in d.ids for d in self._defined.values()) else "file"

    def record(self, cluster_id: str) -> dict[str, Any] | None:
        """Return the stored row of a defined cluster (times and keys), or None."""
        found = self._defined.get(cluster_id)
        return found.record if found else None

    # -- confirmations of carried clusters ------------------------------------------------------

    def confirm(self, store: IncidentStore, confirmation: Confirmation) -> Context:
        """Store a confirmation (checked by :func:`confirmation_of`); return the new context.

        The committed clusters are placed again with every stored confirmation, so that the
        carried cluster applies from the confirmed date (with the drawn zone, if any).
        """
        with self._lock:
            store.confirm_cluster(confirmation)
            return self._rebase(store.confirmations())

    def withdraw(self, store: IncidentStore, cluster_id: str) -> bool:
        """Withdraw a carried cluster's confirmation; tell whether there was one.

        Raises
        ------
        DataNotFoundError
            When ``cluster_id`` is no carried cluster.
        """
        carried_cluster(self.base, cluster_id)
        with self._lock:
            found = store.withdraw_confirmation(cluster_id)
            self._rebase(store.confirmations())
            return found

    def _rebase(self, confirmations: Iterable[Confirmation]) -> Context:
        by_id = {confirmation.cluster_id: confirmation for confirmation in confirmations}
        placed = territories(
            self.base.clusters.values(),
            self.base.sets,
            carry_into=self.base.current,
            confirmations=by_id,
        )
        self.base = Context(
            list(self.base.sets), dict(self.base.clusters), placed, dict(self.base.build_stamps)
        )
        self.context = self._build()
        return self.context

    # -- writing -------------------------------------------------------------------------------

    def create(self, cluster: Cluster, by: str | None) -> Defined:
        """Validate, place, store and add a new cluster; return it placed.

        Raises
        ------
        ClusterConflictError
            The id is a committed cluster's or is taken.
        ClusterDefinitionError
            The definition does not hold against its boundary set.
        """
        with self._lock:
            self._refuse_committed(cluster.id)
            if cluster.id in self._defined or cluster.id in self._stored:
                raise ClusterConflictError(
                    f"cluster {cluster.id!r} exists; replace it with PUT /clusters/{cluster.id}"
                )
            return self._save(cluster, by, replacing=None)

    def update(self, cluster_id: str, cluster: Cluster, by: str | None) -> Defined:
        """Replace a defined cluster with a new definition; return it placed.

        Raises
        ------
        ClusterConflictError
            ``cluster_id`` is a committed cluster or a carried version.
        ClusterIdChangeError
            The definition's id is not ``cluster_id``.
        DataNotFoundError
            No cluster has that id.
        ClusterDefinitionError
            The definition does not hold against its boundary set.
        """
        with self._lock:
            self._refuse_committed(cluster_id)
            if cluster_id not in self._defined and cluster_id not in self._stored:
                carried = [d.cluster.id for d in self._defined.values() if cluster_id in d.ids]
                if carried:
                    raise ClusterConflictError(
                        f"cluster {cluster_id!r} is the version of {carried[0]!r} carried into "
                        f"new units; change it with PUT /clusters/{carried[0]}"
                    )
                raise DataNotFoundError(
                    f"no cluster {cluster_id!r} defined through the API; create it with "
                    "POST /clusters"
                )
            if cluster.id != cluster_id:
                raise ClusterIdChangeError(
                    f"the body's id {cluster.id!r} differs from the URL's {cluster_id!r}; a "
                    "cluster's id cannot change"
                )
            return self._save(cluster, by, replacing=cluster_id)

    # -- internals -----------------------------------------------------------------------------

    def _refuse_committed(self, cluster_id: str) -> None:
        if cluster_id in self._committed:
            carried = [
                t.cluster.carried_from
                for t in self.base.territories
                if t.cluster.id == cluster_id and t.cluster.carried_from
            ]
            source = carried[0] if carried else cluster_id
            raise ClusterConflictError(
                f"cluster {cluster_id!r} is committed (data/clusters/{source}.toml, traced to "
                "its report) and read-only through the API; define a cluster with another id"
            )

    def _taken(self, except_id: str | None = None) -> set[str]:
        taken = set(self._committed)
        for cluster_id, defined in self._defined.items():
            if cluster_id != except_id:
                taken |= defined.ids | {cluster_id}
        return taken

    def _place(self, cluster: Cluster, taken: set[str]) -> tuple[ClusterTerritory, ...]:
        if cluster.carried_from is not None:
            raise ClusterDefinitionError(
                f"cluster {cluster.id}: carried_from is set by geozone when it carries a "
                "cluster into new units; leave it out"
            )
        sets = {bset.id: bset for bset in self.base.sets}
        bset = sets.get(cluster.boundary_set)
        if bset is None:
            raise ClusterDefinitionError(
                f"cluster {cluster.id}: boundary_set {cluster.boundary_set!r} is not loaded "
                f"(loaded: {', '.join(sets)})"
            )
        validate_cluster(cluster, bset)
        placed = tuple(territories([cluster], self.base.sets, carry_into=self.base.current))
        if not placed:
            raise ClusterDefinitionError(
                f"cluster {cluster.id}: fewer than two of its members hold territory with a "
                f"polygon in {bset.id} at {cluster.level} level, so it has no shared boundary "
                "to judge"
            )
        clash = sorted(t.cluster.id for t in placed if t.cluster.id in taken)
        if clash:
            raise ClusterConflictError(
                f"cluster {cluster.id}: the id {clash[0]!r} of a placed version is taken"
            )
        return placed

    def _save(self, cluster: Cluster, by: str | None, *, replacing: str | None) -> Defined:
        placed = self._place(cluster, taken=self._taken(except_id=replacing))
        record = self.planner_store.save_cluster(
            cluster.id, cluster.model_dump(mode="json", exclude_none=True), by
        )
        defined = Defined(cluster, placed, record)
        self._defined[cluster.id] = defined
        self._stored.add(cluster.id)
        self.context = self._build()
        return defined

    def _build(self) -> Context:
        defined = [self._defined[cluster_id] for cluster_id in sorted(self._defined)]
        return Context(
            sets=list(self.base.sets),
            clusters={**self.base.clusters, **{d.cluster.id: d.cluster for d in defined}},
            territories=[*self.base.territories, *(t for d in defined for t in d.territories)],
            build_stamps=dict(self.base.build_stamps),
        )
