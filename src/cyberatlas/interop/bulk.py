"""Plain-row writes for large imports.

The ORM's ``bulk_create`` builds a model instance and prepares every value through each field
(about 30 µs an object here); an import of a million objects needs a tenth of that. Rows are
tuples in the order of ``columns``, holding database values already, except for datetimes, which
their field adapts. SQLite takes them through ``executemany``; PostgreSQL through ``COPY``
(several times faster than ``INSERT``), or, where a row may already exist, ``COPY`` into a
temporary table and one ``INSERT … SELECT … ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction
from django.db.models.expressions import RawSQL
from django.db.models.fields import DateTimeField

from cyberatlas.core.ids import ordered_uuids

Adapter = Callable[[Any], Any]


def db_uuids(count: int, *, postgres: bool) -> list[str]:
    """``count`` new time-ordered ids (``core.ids``) in the form the database column takes."""
    hexes = [f"{value:032x}" for value in ordered_uuids(count)]
    if not postgres:
        return hexes  # Django stores UUIDs as 32 hex digits on SQLite
    return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexes]


def any_of(values: Collection[str]) -> RawSQL:
    """``column__in=any_of(values)``: one parameter, however many values (the ORM prepares
    each member of an ``__in`` list one by one, which costs more than the query)."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::text[])", (list(values),))
    return RawSQL("SELECT value FROM json_each(%s)", (orjson.dumps(list(values)).decode(),))


class RowWriter:
    def __init__(
        self,
        model: type[models.Model],
        columns: Sequence[str],
        *,
        ignore_conflicts: bool = False,
        adapt_dates: bool = True,  # False: the caller gives datetimes as the database takes them
    ) -> None:
        meta = model._meta
        fields = [meta.get_field(name) for name in columns]
        quote = connection.ops.quote_name
        self.columns = ", ".join(quote(str(f.column)) for f in fields)  # type: ignore[union-attr]
        self.table = quote(meta.db_table)
        self.incoming = quote(f"{meta.db_table}_incoming")
        self.ignore_conflicts = ignore_conflicts
        placeholders = ", ".join(["%s"] * len(fields))
        insert = f"INSERT INTO {self.table} ({self.columns}) VALUES ({placeholders})"
        self.ignoring_sql = f"{insert} ON CONFLICT DO NOTHING"
        self.sql = self.ignoring_sql if ignore_conflicts else insert
        self.dates = [
            n for n, f in enumerate(fields) if adapt_dates and isinstance(f, DateTimeField)
        ]
        self.key = quote(str(fields[0].column))  # type: ignore[union-attr]
        types = [f.db_type(connection) for f in fields]  # type: ignore[union-attr]
        arrays = ", ".join(f"%s::{db_type}[]" for db_type in types)
        self.missing_sql = (  # PostgreSQL: one statement, saying what it inserted
            f"INSERT INTO {self.table} ({self.columns}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT DO NOTHING RETURNING {self.key}"
        )

    def insert_missing(self, rows: Sequence[tuple[Any, ...]]) -> set[Any]:
        """Insert the rows whose key (the first column) is free; return the keys of those
        inserted (one look-up of each key, where a check first would make two)."""
        if not rows:
            return set()
        db = connections[DEFAULT_DB_ALIAS]
        with db.cursor() as cursor:
            if db.vendor == "postgresql":
                cursor.execute(self.missing_sql, [list(c) for c in zip(*rows, strict=True)])
                return {key for (key,) in cursor.fetchall()}
            # SQLite: new rows take the rowids after the last one (no AUTOINCREMENT, and the
            # transaction writes alone), so those after it are the ones this inserted.
            cursor.execute(f"SELECT coalesce(max(rowid), 0) FROM {self.table}")
            (last,) = cursor.fetchone()
            cursor.executemany(self.ignoring_sql, rows)
            cursor.execute(f"SELECT {self.key} FROM {self.table} WHERE rowid > %s", [last])
            return {key for (key,) in cursor.fetchall()}

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        db = connections[DEFAULT_DB_ALIAS]
        if self.dates:
            rows = self._adapted(rows, db)
        if db.vendor == "postgresql":
            self._copy(rows, db)
            return
        with db.cursor() as cursor:
            cursor.executemany(self.sql, rows)

    def _adapted(self, rows: Sequence[tuple[Any, ...]], db: Any) -> list[tuple[Any, ...]]:
        adapt = db.ops.adapt_datetimefield_value
        cache: dict[Any, Any] = {None: None}  # rows of a batch share their timestamps
        out = []
        for row in rows:
            values = list(row)
            for n in self.dates:
                value = values[n]
                found = cache.get(value, cache)
                if found is cache:
                    found = cache[value] = adapt(value)
                values[n] = found
            out.append(tuple(values))
        return out

    def _copy(self, rows: Sequence[tuple[Any, ...]], db: Any) -> None:
        if self.ignore_conflicts:
            # Rows the caller found missing are nearly always still missing: copied straight
            # in, unless a concurrent transaction wrote one meanwhile (then through a table).
            try:
                with transaction.atomic(using=db.alias):
                    self._copy_into(self.table, rows, db)
                return
            except (IntegrityError, db.Database.IntegrityError):  # Django's, or from psycopg's copy
                pass
        self._copy_into(self.incoming if self.ignore_conflicts else self.table, rows, db)

    def _copy_into(self, target: str, rows: Sequence[tuple[Any, ...]], db: Any) -> None:
        with db.cursor() as wrapper:
            cursor = wrapper.cursor  # psycopg's own cursor: Django's wrapper has no copy()
            if target == self.incoming:
                cursor.execute(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS {target} ON COMMIT DROP "
                    f"AS SELECT {self.columns} FROM {self.table} WITH NO DATA"
                )
                cursor.execute(f"TRUNCATE {target}")
            with cursor.copy(f"COPY {target} ({self.columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            if target == self.incoming:
                cursor.execute(
                    f"INSERT INTO {self.table} ({self.columns}) "
                    f"SELECT {self.columns} FROM {target} ON CONFLICT DO NOTHING"
                )
