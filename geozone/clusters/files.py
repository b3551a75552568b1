"""Cluster files: read ``data/clusters/<id>.toml`` and check a cluster against a boundary set.

:func:`load_clusters` reads every committed definition (an error names the file and the
key); :func:`validate_cluster` checks each member's code and name against the set the
cluster is named in (historical members by the unit they merged into) and says what it
substituted.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from geozone.boundaries.sets import BoundarySet, Unit
from geozone.clusters.model import Cluster
from geozone.errors import (
    ClusterDefinitionError,
    MemberNameMismatchError,
    UnknownMemberError,
    UnknownUnitError,
)
from geozone.resources import data_path
from geozone.text import TYPE_ABBREVIATIONS, UNIT_TYPES, fold, strip_accents

#: Folder of the committed cluster definitions (``data/clusters``, or a wheel's copy).
DEFAULT_CLUSTERS_DIR = data_path("clusters")


@dataclass(frozen=True)
class MemberCheck:
    """How one member was checked against the boundary set.

    ``checked_code`` is the code looked up (``merged_into`` for historical members, then
    ``substituted`` is True and ``note`` says so); organisations have no code.
    """

    member_id: str
    kind: str
    name: str
    unit_code: str | None
    checked_code: str | None
    full_name: str | None
    province_code: str | None
    has_geometry: bool
    substituted: bool
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class ClusterCheck:
    """The result of :func:`validate_cluster` (only produced when every member passed)."""

    cluster_id: str
    set_id: str
    members: tuple[MemberCheck, ...]

    @property
    def substitutions(self) -> tuple[MemberCheck, ...]:
        """Historical members checked through the unit they merged into."""
        return tuple(check for check in self.members if check.substituted)

    @property
    def province_codes(self) -> tuple[str, ...]:
        """Provinces of the territorial members, in member order."""
        codes = (check.province_code for check in self.members)
        return tuple(dict.fromkeys(code for code in codes if code))

    @property
    def without_geometry(self) -> tuple[MemberCheck, ...]:
        """Territorial members whose unit is in the register only (no polygon)."""
        return tuple(c for c in self.members if c.checked_code and not c.has_geometry)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "cluster_id": self.cluster_id,
            "set_id": self.set_id,
            "members": [check.to_dict() for check in self.members],
        }


def names_match(given: str, unit: Unit) -> bool:
    """Tell whether ``given`` names ``unit``, ignoring case, diacritics and the type word.

    Any type word may open ``given`` ("Thị xã Từ Sơn" names Thành phố Từ Sơn: units change
    type over the years, codes do not).
    """
    key = fold(given)
    bare = fold(unit.name)
    prefixes = [fold(t) for t in UNIT_TYPES]
    prefixes += [abbr for abbrs in TYPE_ABBREVIATIONS.values() for abbr in abbrs]
    return key == bare or any(key == prefix + bare for prefix in prefixes)


def validate_cluster(cluster: Cluster, bset: BoundarySet) -> ClusterCheck:
    """Check every unit member of ``cluster`` against the boundary set it is named in.

    A unit member's code must exist in ``bset`` at the cluster's level, and its name must
    match the unit after folding diacritics and the type word. A historical member is checked
    through ``merged_into`` instead (its own old code, when given, must not still name it in
    the set), and the substitution is recorded. Geometry is not required: the legacy set
    lists pre-2025 wards in its register only, which is enough to check codes and names.

    Parameters
    ----------
    cluster
        The cluster definition.
    bset
        The set named by ``cluster.boundary_set``.

    Returns
    -------
    ClusterCheck
        One :class:`MemberCheck` per member.

    Raises
    ------
    ClusterDefinitionError
        When ``bset`` is not the cluster's boundary set.
    UnknownMemberError
        When a code is absent from the set or names a unit of another level (the message
        lists every bad member).
    MemberNameMismatchError
        When a code names a unit whose name differs from the member's (naming both).
    """
    if cluster.boundary_set != bset.id:
        raise ClusterDefinitionError(
            f"cluster {cluster.id} is defined in boundary set {cluster.boundary_set!r}, "
            f"not {bset.id!r}"
        )
    unknown: list[str] = []
    mismatched: list[str] = []
    checks: list[MemberCheck] = []
    for member in cluster.members:  # a handful of members: no hot path
        if member.kind == "organisation":
            checks.append(
                MemberCheck(
                    member.id,
                    member.kind,
                    member.name,
                    None,
                    None,
                    None,
                    None,
                    False,
                    False,
                    "organisation: no territory",
                )
            )
            continue
        code = member.territory_code
        assert code is not None
        what = "merged_into" if member.historical else "unit_code"
        try:
            unit = bset.get(code)
        except UnknownUnitError:
            unknown.append(
                f"member {member.id!r} ({member.name}): {what} {code} is not in {bset.id}"
            )
            continue
        if unit.level != cluster.level:
            unknown.append(
                f"member {member.id!r} ({member.name}): {what} {code} is {unit.full_name}, a "
                f"{unit.level}, but cluster {cluster.id} is at {cluster.level} level"
            )
            continue
        note = None
        if member.historical:
            if member.unit_code and _still_there(bset, member.unit_code, member.name):
                mismatched.append(
                    f"member {member.id!r} is marked historical, but {member.unit_code} still "
                    f"names {member.name} in {bset.id}; drop historical/merged_into"
                )
                continue
            old = f"{member.name} ({member.unit_code or 'old code not given'})"
            note = f"{old} merged into {unit.full_name} ({unit.code}); checked through it"
        elif not names_match(member.name, unit):
            mismatched.append(
                f"member {member.id!r}: code {code} is {unit.full_name} in {bset.id}, but the "
                f"cluster names it {member.name!r}"
            )
            continue
        checks.append(
            MemberCheck(
                member.id,
                member.kind,
                member.name,
                member.unit_code,
                unit.code,
                unit.full_name,
                unit.province_code,
                unit.has_geometry,
                member.historical,
                note,
            )
        )
    if unknown:
        raise UnknownMemberError(f"cluster {cluster.id}: " + "; ".join(unknown + mismatched))
    if mismatched:
        raise MemberNameMismatchError(f"cluster {cluster.id}: " + "; ".join(mismatched))
    return ClusterCheck(cluster.id, bset.id, tuple(checks))


def _still_there(bset: BoundarySet, code: str, name: str) -> bool:
    try:
        return names_match(name, bset.get(code))
    except UnknownUnitError:
        return False


def load_cluster(path: Path | str) -> Cluster:
    """Read one cluster definition from a TOML file named ``<id>.toml``.

    Raises
    ------
    ClusterDefinitionError
        When the file is missing, is not TOML, breaks the schema (the message names the file,
        the field and, for members, the member id) or its name differs from its ``id``.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClusterDefinitionError(f"cluster file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ClusterDefinitionError(f"{path}: not valid TOML ({exc})") from None
    try:
        cluster = Cluster.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe_error(error, data) for error in exc.errors())
        raise ClusterDefinitionError(f"{path}: {problems}") from None
    if cluster.id != path.stem:
        raise ClusterDefinitionError(
            f"{path}: the file of cluster {cluster.id!r} must be named {cluster.id}.toml"
        )
    return cluster


def _describe_error(error: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for step in error["loc"]:
        if isinstance(step, int):
            label = f"[{step}]"
            if isinstance(node, list) and step < len(node):
                node = node[step]
                if isinstance(node, dict) and "id" in node:
                    label += f" (id {node['id']!r})"
            parts.append(label)
        else:
            node = node.get(step) if isinstance(node, dict) else None
            parts.append(("." if parts else "") + str(step))
    where = "".join(parts) or "cluster"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


def load_clusters(folder: Path | str | None = None) -> dict[str, Cluster]:
    """Read every ``*.toml`` cluster in ``folder`` (default :data:`DEFAULT_CLUSTERS_DIR`).

    Returns
    -------
    dict
        Clusters by id, sorted by id.

    Raises
    ------
    ClusterDefinitionError
        When the folder does not exist or a file is invalid (naming the file).
    """
    root = Path(folder) if folder is not None else DEFAULT_CLUSTERS_DIR
    if not root.is_dir():
        raise ClusterDefinitionError(f"cluster folder {root} does not exist")
    clusters = {cluster.id: cluster for cluster in map(load_cluster, sorted(root.glob("*.toml")))}
    return dict(sorted(clusters.items()))


def slugify(text: str) -> str:
    """Return a slug for ids: folded letters and digits joined by hyphens.

    >>> slugify("Phường Nghĩa Đô")
    'phuong-nghia-do'
    """
    return "-".join(re.findall(r"[a-z0-9]+", strip_accents(text).lower()))
