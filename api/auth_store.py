"""API keys, their roles and the audit log of the web service, in the store database.

Migration ``0002`` of the store (:mod:`geozone.store.migrations`) creates the tables
``api_keys`` and ``audit_log``; :func:`define_key_tables` describes them for queries and
:class:`KeyStore` reads and writes them over the store's engine
(:attr:`geozone.store.IncidentStore.engine`).

API keys are random 32-byte URL-safe tokens; only their SHA-256 is stored, and a presented
key is compared with :func:`hmac.compare_digest`.

Browser sessions (``/login``; migration ``0009``, table ``web_sessions``) live in the same
database, so every worker of the service answers the same cookie: a random session token
(only its SHA-256 stored), the key it was opened with, a CSRF token and an expiry. The key's
role and scopes are read again on every request, so revoking the key ends its sessions and a
scoped key's session keeps its scopes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    """Add the web service's tables: API keys, audit log, key scopes, browser sessions.

    Migration 0002 makes the first two, 0006 the scopes, 0009 the browser sessions.
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
    sa.Table(  # migration 0009
        "web_sessions",
        metadata,
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("key_name", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_web_sessions"),
        sa.Index("ix_web_sessions_expires_at", "expires_at"),
    )


@dataclass(frozen=True)
class WebSession:
    """A browser session as :meth:`KeyStore.open_session` made it (the token shown once)."""

    token: str
    csrf_token: str
    key_name: str
    expires_at: datetime


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
        self._sessions = metadata.tables["web_sessions"]

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

    # -- browser sessions --------------------------------------------------------------------
    def open_session(self, name: str, key: str, ttl: timedelta) -> WebSession | None:
        """Open a session for the holder of ``key`` if it is named ``name``; None otherwise.

        The key must be known, not revoked and named ``name`` (both compared in constant
        time); expired sessions are removed at the same time.
        """
        record = self.find_key(key)
        if record is None or record["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(record["name"].encode("utf-8"), name.strip().encode("utf-8")):
            return None
        now = datetime.now(UTC)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        table = self._sessions
        with self._write() as connection, connection.begin():
            connection.execute(table.delete().where(table.c.expires_at < now))
            connection.execute(
                table.insert().values(
                    token_hash=hash_key(token),
                    key_name=record["name"],
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
        return WebSession(token, csrf, record["name"], now + ttl)

    def find_session(self, token: str) -> dict[str, Any] | None:
        """Return the live session of a cookie's token with its key's record, or None.

        None when the token is unknown, the session has expired or its key is revoked. The
        record holds ``name``, ``role``, ``scopes`` (read now, from the key), ``csrf_token``
        and ``expires_at``.
        """
        s, k = self._sessions, self._keys
        statement = (
            sa.select(s.c.csrf_token, s.c.expires_at, k.c.name, k.c.role, k.c.revoked_at)
            .join(k, k.c.name == s.c.key_name)
            .where(s.c.token_hash == hash_key(token))
        )
        with self.engine.connect() as connection:
            row = connection.execute(statement).first()
        if row is None or row.revoked_at is not None or row.expires_at <= datetime.now(UTC):
            return None
        return {
            "name": row.name,
            "role": row.role,
            "scopes": self.scopes_of(row.name),
            "csrf_token": row.csrf_token,
            "expires_at": row.expires_at,
        }

    def close_session(self, token: str) -> bool:
        """End the session of a cookie's token; tell whether there was one."""
        table = self._sessions
        with self._write() as connection, connection.begin():
            result = connection.execute(table.delete().where(table.c.token_hash == hash_key(token)))
        return bool(result.rowcount)

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
