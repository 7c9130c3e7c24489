"""What an export contains: exactly the statements its reader may read, streamed.

Each entity carries the strictest marking of the statements that show it to the reader, so a
format that marks objects (STIX, MISP) marks each one no lower than what it was derived from.
Every export writes one row to the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.db.models import CharField, DateTimeField, Expression, F, Max, QuerySet
from django.db.models.sql.constants import MULTI

from cyberatlas.accounts.models import Organization, User
from cyberatlas.core.references import DOMAIN_TYPES
from cyberatlas.core.tlp import Marking
from cyberatlas.investigations.models import Investigation
from cyberatlas.knowledge import audit, entities, policy
from cyberatlas.knowledge.models import Statement

from .records import ExportEntity, ExportStatement

CHUNK = 2000

# The columns of a statement that make an export record, in the order ``to_record`` reads them.
RECORD_FIELDS = (
    "id",
    "subject_id",
    "predicate",
    "value",
    "object_id",
    "marking",
    "organization_id",
    "source",
    "confidence",
    "first_seen",
    "last_seen",
    "created_at",
    "updated_at",
)
# What a record row may carry after ``RECORD_FIELDS``: its subject's and object's type and key.
ENTITY_FIELDS = ("subject__type", "subject__key", "object__type", "object__key")
_MARKINGS = {int(m): m for m in Marking}


def exported_statements(
    actor: User | None, *, investigation: Investigation | None = None
) -> QuerySet[Statement]:
    statements = policy.visible_statements(actor)
    if investigation is not None:
        statements = statements.filter(investigation=investigation)
    return statements


def export_records(
    actor: User | None,
    *,
    investigation: Investigation | None = None,
    action: str = "export",
) -> Iterator[ExportStatement]:
    """Stream the reader's statements as export records, in keyset chunks: memory holds the
    entities (each made once), not the statements."""
    statements = exported_statements(actor, investigation=investigation)
    strict = statements.filter(marking__in=(Marking.AMBER_STRICT, Marking.RED)).count()
    audit.record(actor, action, "amber+strict,red" if strict else "", statements.count())
    markings = _entity_markings(statements)
    organizations = OrganizationNames(actor.organization_id if actor else None)
    known: dict[str, ExportEntity] = {}  # each entity as its reader sees it, made once
    last = None
    while True:
        chunk = statements.order_by("id")
        if last is not None:
            chunk = chunk.filter(id__gt=last)
        rows = record_rows(chunk, *ENTITY_FIELDS, limit=CHUNK)
        if not rows:
            return
        last = rows[-1][0]
        new: dict[str, tuple[str, str]] = {}
        for row in rows:
            if row[1] not in known:
                new[row[1]] = (row[13], row[14])
            if row[4] is not None and row[4] not in known:
                new[row[4]] = (row[15], row[16])
        # An observable shows as its key; only the others need a look-up of their names.
        named = [pk for pk, (type_, key) in new.items() if type_ in DOMAIN_TYPES or not key]
        shown = entities.named_labels(actor, named) if named else {}
        for pk, (type_, key) in new.items():
            known[pk] = ExportEntity(pk, type_, key, shown.get(pk, key), markings[pk])
        names = organizations.of(row[6] for row in rows)
        for row in rows:
            yield to_record(row, known, names)


def to_record(
    row: tuple[Any, ...], entities_by_id: dict[str, ExportEntity], organizations: dict[int, str]
) -> ExportStatement:
    """A statement (a row of ``RECORD_FIELDS`` first) as its reader may read it."""
    pk, subject, predicate, value, target, marking, org, source, confidence = row[:9]
    first_seen, last_seen, created, modified = row[9:13]
    return ExportStatement(
        id=str(pk),
        subject=entities_by_id[subject],
        predicate=predicate,
        value=value,
        object=entities_by_id[target] if target else None,
        marking=_MARKINGS[marking],
        organization=organizations[org],
        source=source,
        confidence=confidence,
        first_seen=first_seen,
        last_seen=last_seen,
        created=created,
        modified=modified,
    )


class OrganizationNames:
    """Contributing organizations as one reader sees them, each looked up once."""

    def __init__(self, viewer_org: int | None) -> None:
        self.viewer_org = viewer_org
        self.known: dict[int, str] = {}

    def of(self, ids: Iterable[int]) -> dict[int, str]:
        missing = set(ids) - self.known.keys()
        if missing:
            for found in Organization.objects.filter(pk__in=missing):
                self.known[found.pk] = found.shown_to(self.viewer_org)
        return self.known


def record_rows(
    statements: QuerySet[Statement], *extra: str, limit: int | None = None
) -> list[tuple[Any, ...]]:
    """The statements as tuples of ``RECORD_FIELDS`` then the ``extra`` field paths."""
    columns: dict[str, Any] = {}
    for n, path in enumerate((*RECORD_FIELDS, *extra)):
        column = _COLUMNS.get(path, F)(path)
        columns[f"record_{n}"] = column
    rows = statements.annotate(**columns).values_list(*columns)
    return fetch_rows(rows if limit is None else rows[:limit])


class _Column(Expression):
    """A column, read the way ``as_column`` writes it for a database."""

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column: Any = F(column)

    def get_source_expressions(self) -> list[Any]:
        return [self.column]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.column,) = exprs

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.column)
        return self.as_column(sql, connection.vendor), params

    def as_column(self, sql: str, vendor: str) -> str:
        return sql


class Timestamp(_Column):
    """A timestamp column, read as text and converted by ``fetch_rows`` once per distinct
    value: a page's statements share a few timestamps, which the drivers would convert one
    value at a time (SQLite's parses each one it reads; on PostgreSQL, Django's loader is
    Python code). SQLite gives the column as stored when read through a no-op ``+``;
    PostgreSQL writes it in UTC, in ISO 8601."""

    output_field = DateTimeField()

    def as_column(self, sql: str, vendor: str) -> str:
        if vendor == "postgresql":
            return f"to_char({sql} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        return f"+{sql}" if vendor == "sqlite" else sql

    @property
    def convert_value(self) -> Callable[..., Any]:
        return _utc_timestamp


def _utc_timestamp(value: Any, expression: Any, connection: Any) -> Any:
    """An ISO 8601 UTC time as text, as PostgreSQL gives it above (SQLite's is converted
    before, by Django)."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return value


class _Uuid(_Column):
    """A UUID column as text in its canonical form (``str(uuid)``), which is what its readers
    want: SQLite keeps 32 hex digits, PostgreSQL a ``uuid`` it writes canonically as text."""

    output_field = CharField()

    def as_column(self, sql: str, vendor: str) -> str:
        return f"{sql}::text" if vendor == "postgresql" else sql

    @property
    def convert_value(self) -> Callable[..., Any]:
        return _canonical_uuid


def _canonical_uuid(value: str | None, expression: Any, connection: Any) -> str | None:
    if value is None or len(value) != 32:
        return value
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


_COLUMNS: dict[str, type[_Column]] = {
    "id": _Uuid,
    "first_seen": Timestamp,
    "last_seen": Timestamp,
    "created_at": Timestamp,
    "updated_at": Timestamp,
}


def fetch_rows(rows: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The tuples of a ``values_list`` query set of plain columns and annotations, each
    distinct value converted once, a column at a time: Django converts every value of every
    row, and on SQLite that parses the same few timestamps thousands of times a page. The
    conversions are Django's own."""
    query = rows.query
    # Django selects plain columns first, then annotations in the order they were made.
    assert not query.extra_select
    compiler = query.get_compiler(rows.db)
    found = [row for chunk in compiler.execute_sql(MULTI) for row in chunk]
    converters = compiler.get_converters(
        [selected[0] for selected in compiler.select[: compiler.col_count]]
    )
    if not found or not converters:
        return found
    connection = compiler.connection
    columns = list(zip(*found, strict=True))
    for position, (converted, expression) in converters.items():
        memo = {}
        for value in set(columns[position]):
            original = value
            for convert in converted:
                value = convert(value, expression, connection)
            memo[original] = value
        columns[position] = tuple(map(memo.__getitem__, columns[position]))
    return list(zip(*columns, strict=True))


def _entity_markings(statements: QuerySet[Statement]) -> dict[str, Marking]:
    """Each entity's strictest marking among the exported statements naming it."""
    markings: dict[str, Marking] = {}
    for column in ("subject_id", "object_id"):
        strictest = statements.order_by().values(column).annotate(strictest=Max("marking"))
        for entity_id, marking in strictest.values_list(column, "strictest"):
            if entity_id is not None:
                markings[entity_id] = max(
                    markings.get(entity_id, Marking.CLEAR), _MARKINGS[marking]
                )
    return markings
