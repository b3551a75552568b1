"""API keys, their roles and the audit log of the web service, in the store database.

Migration ``0002`` of the store (:mod:`geozone.store.migrations`) creates the tables
``api_keys`` and ``audit_log``; :func:`define_key_tables` describes them for queries and
:class:`KeyStore` reads and writes them over the store's engine
(:attr:`geozone.store.IncidentStore.engine`).

API keys are random 32-byte URL-safe tokens; only their SHA-256 is stored, and a presented
key is compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from api.errors import DuplicateApiKeyError, LastAdminKeyError, UnknownApiKeyError
from api.scopes import parse_scope
from geozone.errors import InvalidParameterError
from geozone.settings import Settings, get_settings

Role = Literal["viewer", "analyst", "planner", "admin"]
#: Roles from least to most allowed; a role may do what every lower role may.
ROLES: tuple[Role, ...] = get_args(Role)

_WRITE = "geozone_write"  # as geozone.store.sql: SQLite writes start with BEGIN IMMEDIATE


def define_key_tables(metadata: sa.MetaData) -> None:
    """Add the web service's tables: ``api_keys``, ``audit_log`` and ``api_key_scopes``.

    Migration 0002 makes the first two, 0006 the scopes.
    """
    # Here: the store's table types load on use.
    from geozone.store._tables import _ID, UTCDateTime

    sa.Table(
        "api_keys",
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.UniqueConstraint("name", name="uq_api_keys_name"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        sa.CheckConstraint(
            "role IN ('viewer', 'analyst', 'planner', 'admin')", name="ck_api_keys_role"
        ),
    )
    sa.Table(
        "audit_log",
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("key_name", sa.String(64)),
        sa.Column("role", sa.String(16)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Index("ix_audit_log_at", "at"),
    )
    sa.Table(  # migration 0006
        "api_key_scopes",
        metadata,
        sa.Column("key_name", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("key_name", "scope", name="pk_api_key_scopes"),
    )


def hash_key(key: str) -> str:
    """Return the hex SHA-256 of an API key, as stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_key_name(name: str) -> str:
    """Return a key name stripped, refusing one that is empty, too long or not plain text.

    Control and format characters (newlines, tabs, NUL, bidirectional marks) are refused:
    they could forge lines in ``geozone users list`` or the audit log.

    Raises
    ------
    InvalidParameterError
        Naming the problem.
    """
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise InvalidParameterError("a key name must be 1 to 64 characters")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise InvalidParameterError(
            "a key name may not hold control characters (newlines, tabs, NUL) or invisible "
            "format characters"
        )
    return name


def printable(text: str) -> str:
    """Return ``text`` with control and format characters escaped (for one-line output)."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char).startswith("C")
        else char
        for char in text
    )


def role_allows(role: str, needed: Role) -> bool:
    """Tell whether ``role`` may do what ``needed`` may (viewer < analyst < planner < admin)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


class KeyStore:
    """API keys and the audit log in the store database.

    Parameters
    ----------
    engine
        The engine of an incident store whose schema is migrated
        (:attr:`geozone.store.IncidentStore.engine` of a store
        :func:`geozone.store.open_store` opened).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata = sa.MetaData()
        define_key_tables(metadata)
        self._keys = metadata.tables["api_keys"]
        self._audit = metadata.tables["audit_log"]
        self._scopes = metadata.tables["api_key_scopes"]

    def _write(self) -> Connection:
        return self.engine.connect().execution_options(**{_WRITE: True})

    # -- API keys ----------------------------------------------------------------------------
    def create_key(self, name: str, role: str, scopes: Sequence[str] = ()) -> str:
        """Create a key named ``name`` with ``role``; return the key (shown once, not stored).

        ``scopes`` (``unit:CODE``, ``cluster:ID``, ``province:CODE``; see :mod:`api.scopes`)
        limit what the key reads; none: the whole country.

        Raises
        ------
        InvalidParameterError
            The name is empty, longer than 64 characters or holds control characters (see
            :func:`check_key_name`), the role is unknown, or a scope is malformed.
        DuplicateApiKeyError
            A key of that name exists (revoked or not).
        """
        name = check_key_name(name)
        if role not in ROLES:
            raise InvalidParameterError(f"role {role!r} is not one of {', '.join(ROLES)}")
        written = sorted({str(parse_scope(scope)) for scope in scopes})
        key = secrets.token_urlsafe(32)
        with self._write() as connection, connection.begin():
            exists = connection.execute(
                sa.select(self._keys.c.id).where(self._keys.c.name == name)
            ).first()
            if exists is not None:
                raise DuplicateApiKeyError(f"an API key named {name!r} exists already")
            connection.execute(
                self._keys.insert().values(
                    name=name, role=role, key_hash=hash_key(key), created_at=datetime.now(UTC)
                )
            )
            if written:
                connection.execute(
                    self._scopes.insert(), [{"key_name": name, "scope": s} for s in written]
                )
        return key

    def scopes_of(self, name: str) -> tuple[str, ...]:
        """Return the scopes of the key named ``name`` (empty: the whole country)."""
        table = self._scopes
        statement = sa.select(table.c.scope).where(table.c.key_name == name).order_by(table.c.scope)
        with self.engine.connect() as connection:
            return tuple(connection.execute(statement).scalars())

    def list_keys(self) -> list[dict[str, Any]]:
        """Return every key's name, role, scopes, created_at and revoked_at (never the hash)."""
        k = self._keys
        statement = sa.select(k.c.name, k.c.role, k.c.created_at, k.c.revoked_at).order_by(k.c.id)
        with self.engine.connect() as connection:
            rows = [row._asdict() for row in connection.execute(statement)]
            scoped: dict[str, list[str]] = {}
            for name, scope in connection.execute(sa.select(self._scopes)):
                scoped.setdefault(name, []).append(scope)
        return [{**row, "scopes": sorted(scoped.get(row["name"], []))} for row in rows]

    def active_admins(self) -> int:
        """Return how many admin keys are not revoked."""
        k = self._keys
        statement = sa.select(sa.func.count()).where(k.c.role == "admin", k.c.revoked_at.is_(None))
        with self.engine.connect() as connection:
            return int(connection.execute(statement).scalar_one())

    def revoke_key(self, name: str) -> dict[str, Any]:
        """Revoke the key named ``name`` (idempotent); return its record.

        Raises
        ------
        UnknownApiKeyError
            No key has that name.
        LastAdminKeyError
            It is the last admin key that is not revoked (create another admin key first).
        """
        k = self._keys
        with self._write() as connection, connection.begin():
            row = connection.execute(sa.select(k).where(k.c.name == name)).first()
            if row is None:
                raise UnknownApiKeyError(f"no API key named {printable(name)!r}")
            if row.revoked_at is None and row.role == "admin":
                # Locked (PostgreSQL; SQLite's write transaction is exclusive already), so two
                # admins revoking each other at once cannot both succeed.
                admins = connection.execute(
                    sa.select(k.c.id)
                    .where(k.c.role == "admin", k.c.revoked_at.is_(None))
                    .with_for_update()
                ).all()
                if len(admins) <= 1:
                    raise LastAdminKeyError(
                        f"{printable(name)!r} is the last admin key; create another admin key "
                        "before revoking it"
                    )
            if row.revoked_at is None:
                connection.execute(
                    k.update().where(k.c.name == name).values(revoked_at=datetime.now(UTC))
                )
            record = connection.execute(
                sa.select(k.c.name, k.c.role, k.c.created_at, k.c.revoked_at).where(
                    k.c.name == name
                )
            ).one()
        revoked: dict[str, Any] = record._asdict()
        return revoked

    def find_key(self, key: str) -> dict[str, Any] | None:
        """Return the record (name, role, revoked_at) of a presented key, or None if unknown."""
        digest = hash_key(key)
        k = self._keys
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(k.c.name, k.c.role, k.c.key_hash, k.c.revoked_at).where(
                    k.c.key_hash == digest
                )
            ).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        return {
            "name": row.name,
            "role": row.role,
            "revoked_at": row.revoked_at,
            "scopes": self.scopes_of(row.name),
        }

    # -- audit log ---------------------------------------------------------------------------
    def audit(
        self,
        *,
        key_name: str | None,
        role: str | None,
        method: str,
        path: str,
        status: int,
        summary: str = "",
    ) -> None:
        """Append one row to the audit log."""
        with self._write() as connection, connection.begin():
            connection.execute(
                self._audit.insert().values(
                    at=datetime.now(UTC),
                    key_name=key_name,
                    role=role,
                    method=method[:8],
                    path=path,
                    status=status,
                    summary=summary[:2_000],
                )
            )

    def audit_rows(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the newest audit rows, newest first."""
        a = self._audit
        statement = sa.select(a).order_by(a.c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [row._asdict() for row in connection.execute(statement)]


def create_key(
    store_url_or_engine: str | Engine,
    name: str,
    role: str,
    *,
    scopes: Sequence[str] = (),
    settings: Settings | None = None,
) -> str:
    """Create an API key in the store at a URL (migrated first) or over an engine.

    Returns
    -------
    str
        The key in plain text: show it once; only its SHA-256 is stored.
    """
    if isinstance(store_url_or_engine, Engine):
        return KeyStore(store_url_or_engine).create_key(name, role, scopes)
    from geozone.store.sql import create_store_engine, migrate

    settings = settings or get_settings()
    engine = create_store_engine(store_url_or_engine, busy_timeout_s=settings.store_busy_timeout_s)
    try:
        migrate(engine)
        return KeyStore(engine).create_key(name, role, scopes)
    finally:
        engine.dispose()
