"""Plain-row INSERTs for large imports.

The ORM's ``bulk_create`` builds a model instance and prepares every value through each field
(about 30 µs an object here); an import of a million objects needs a tenth of that. Rows are
tuples in the order of ``columns``; only the fields whose database form differs from the Python
value (UUIDs on SQLite, datetimes) are adapted, by the field itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, models
from django.db.models.fields import DateTimeField, UUIDField

Adapter = Callable[[Any], Any] | None


class RowWriter:
    def __init__(
        self, model: type[models.Model], columns: Sequence[str], *, ignore_conflicts: bool = False
    ) -> None:
        meta = model._meta
        fields = [meta.get_field(name) for name in columns]
        names = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)  # type: ignore[union-attr]
        placeholders = ", ".join(["%s"] * len(fields))
        conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
        table = connection.ops.quote_name(meta.db_table)
        self.sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders}){conflict}"
        self.adapters: list[Adapter] = [_adapter(f) for f in fields]
        self.adapted = [n for n, a in enumerate(self.adapters) if a is not None]

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.adapted:
            rows = [self._adapt(row) for row in rows]
        with connection.cursor() as cursor:
            cursor.executemany(self.sql, rows)

    def _adapt(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for n in self.adapted:
            adapter = self.adapters[n]
            assert adapter is not None
            values[n] = adapter(values[n])
        return tuple(values)


def _adapter(field: Any) -> Adapter:
    if field.is_relation:
        field = field.target_field  # a foreign key is stored as the key it points to
    if isinstance(field, UUIDField | DateTimeField):
        last: list[Any] = [object(), None]  # rows of a batch share timestamps: adapt each once

        def adapt(value: Any) -> Any:
            if value is None:
                return None
            if value is not last[0]:
                last[0], last[1] = value, field.get_db_prep_value(value, connection, prepared=False)
            return last[1]

        return adapt
    return None
