"""Lists of keys as one bound value: ``column IN`` a JSON array (SQLite) or ``= ANY`` (PostGIS).

SQLAlchemy's expanding ``IN`` binds one parameter per value and processes each in Python
(about 10 µs a value: half a second for a piece of 50,000 ids), and SQLite caps the
parameters of one statement. A list bound as one value costs the driver one string or one
array: SQLite reads it with ``json_each`` (the column's index is probed per value), PostgreSQL
with ``= ANY(text[])``. The statements are cached (one shape whatever the list's length).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

#: Values per statement: bounds the memory of one list, not the parameters.
LIST_CHUNK = 100_000


def among(column: sa.ColumnElement[Any], dialect: str, name: str) -> sa.ColumnElement[bool]:
    """Return ``column`` is one of the values bound as ``name`` (see :func:`bound`)."""
    if dialect == "sqlite":
        each = sa.func.json_each(sa.bindparam(name, type_=sa.String)).table_valued("value")
        return column.in_(sa.select(each.c.value))
    return column == sa.any_(sa.bindparam(name, type_=ARRAY(column.type)))


def bound(dialect: str, values: Sequence[Any]) -> Any:
    """Return ``values`` as the one value :func:`among` binds."""
    if dialect == "sqlite":
        return orjson.dumps(list(values)).decode()
    return list(values)


def chunks(values: Iterable[Any], size: int = LIST_CHUNK) -> Iterator[list[Any]]:
    """Yield ``values`` in lists of at most ``size``."""
    items = list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


__all__ = ["LIST_CHUNK", "among", "bound", "chunks"]
