"""The one access policy: who may read which statement, as a query filter.

Every read of knowledge data goes through the functions here, so that pages, API, search,
counts, history and exports give the same answer. The rule is the one of
``cyberatlas.core.tlp.may_read``; this module states it in SQL.

- CLEAR and GREEN: every vetted account of a vetted organization.
- AMBER: the contributing organization and the members of the statement's investigation.
- AMBER+STRICT: the contributing organization only.
- RED: the author only.
- AMBER and RED are also readable by users named in a grant (RED recipients, releases).
Pending or suspended accounts and organizations read nothing; roles give no bypass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.sql.compiler import SQLCompiler

from cyberatlas.accounts.models import User
from cyberatlas.core.tlp import Marking
from cyberatlas.investigations.models import Membership

from .models import Entity, Grant, Statement, StatementVersion
from .sql import ColumnCondition

_OPEN = (Marking.CLEAR, Marking.GREEN)
_GRANTABLE = (Marking.AMBER, Marking.RED)


@dataclass(frozen=True)
class _Paths:
    """Where a model keeps the fields the rule looks at."""

    marking: str
    organization: str
    author: str
    investigation: str
    statement: str


_STATEMENT = _Paths("marking", "organization_id", "author_id", "investigation_id", "id")
_VERSION = _Paths(
    "marking", "statement__organization_id", "statement__author_id", "investigation_id",
    "statement_id",
)  # fmt: skip

NOTHING = Q(pk__in=[])


def investigation_ids(user: User) -> list[int]:
    return list(
        Membership.objects.filter(user_id=user.pk).values_list("investigation_id", flat=True)
    )


def _rule(user: User | None, paths: _Paths) -> Q:
    """The TLP rule as a filter, over the fields named by ``paths``."""
    if user is None:
        return Q(**{f"{paths.marking}__in": _OPEN})
    if not user.may_read:
        return NOTHING
    assert user.organization_id is not None  # may_read: a vetted organization
    return Q(_Rule(user.pk, user.organization_id, paths))


class _Rule(ColumnCondition):
    """The rule for one reader, written straight as one SQL condition.

    The reader's investigations and grants are subqueries, not lists fetched beforehand, so a
    read costs no extra round trip, and the condition compiles in a few microseconds where the
    equivalent ``Q`` tree took most of a millisecond to build and compile on every read. Each
    branch is false, never NULL, where a column is NULL, so that the condition negates exactly.
    """

    def __init__(self, user_id: int, org_id: int, paths: _Paths) -> None:
        super().__init__(
            paths.marking, paths.organization, paths.author, paths.investigation, paths.statement
        )
        self.user_id = user_id
        self.org_id = org_id

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        marking, org, author, investigation, statement = self.compiled(compiler)
        q = connection.ops.quote_name
        members = (
            f"SELECT {q('policy_m')}.{q(_column(Membership, 'investigation'))} "
            f"FROM {q(Membership._meta.db_table)} {q('policy_m')} "
            f"WHERE {q('policy_m')}.{q(_column(Membership, 'user'))} = %s"
        )
        granted = (
            f"SELECT {q('policy_g')}.{q(_column(Grant, 'statement'))} "
            f"FROM {q(Grant._meta.db_table)} {q('policy_g')} "
            f"WHERE {q('policy_g')}.{q(_column(Grant, 'user'))} = %s"
        )
        clear, green, amber, strict, red = (
            f"{m:d}"
            for m in (
                Marking.CLEAR,
                Marking.GREEN,
                Marking.AMBER,
                Marking.AMBER_STRICT,
                Marking.RED,
            )
        )
        sql = (
            f"({marking} IN ({clear}, {green})"
            f" OR ({marking} = {amber} AND ({org} = %s"
            f" OR ({investigation} IS NOT NULL AND {investigation} IN ({members}))))"
            f" OR ({marking} = {strict} AND {org} = %s)"
            f" OR ({marking} = {red} AND {author} IS NOT NULL AND {author} = %s)"
            f" OR ({marking} IN ({amber}, {red}) AND {statement} IN ({granted})))"
        )
        return sql, (self.org_id, self.user_id, self.org_id, self.user_id, self.user_id)


def _column(model: type[Membership | Grant], field: str) -> str:
    column = model._meta.get_field(field).column  # type: ignore[union-attr]
    assert isinstance(column, str)
    return column


def readable(user: User | None) -> Q:
    """Filter for statements whose current version ``user`` may read (``None``: the system,
    which reads what every vetted account reads)."""
    return _rule(user, _STATEMENT)


def visible_statements(
    user: User | None, *, include_retracted: bool = False
) -> QuerySet[Statement]:
    """Statements whose current version the user may read; retracted ones only on request."""
    statements = Statement.objects.filter(readable(user))
    if not include_retracted:
        statements = statements.filter(retracted=False)
    return statements


def system_statements() -> QuerySet[Statement]:
    """Every current, unretracted statement, with no policy: only where no person reads."""
    return Statement.objects.filter(retracted=False)


def visible_versions(user: User | None, statement: Statement) -> list[StatementVersion]:
    """The versions of a statement the user may read, each judged under its own marking, oldest
    first.

    A statement's history is shown only where its current version is readable. A statement
    that was never changed has no version rows: its version 1 is the statement itself.
    """
    if not Statement.objects.filter(readable(user), pk=statement.pk).exists():
        return []
    versions = list(
        StatementVersion.objects.filter(_rule(user, _VERSION), statement_id=statement.pk)
        .select_related("edited_by")
        .order_by("number")
    )
    if statement.version == 1 and not versions:
        created = StatementVersion.Change.CREATED
        versions = [
            StatementVersion.of(statement, created, statement.author_id, statement.created_at)
        ]
    return versions


def visible_entities(user: User | None) -> QuerySet[Entity]:
    """Entities the user sees: those named by a statement they may read, as subject or object."""
    return entities_named_by(visible_statements(user))


def entities_named_by(statements: QuerySet[Statement]) -> QuerySet[Entity]:
    return Entity.objects.filter(named_by(statements, "pk"))


def named_by(statements: QuerySet[Statement], column: str) -> Q:
    """A condition on rows whose ``column`` holds an entity id: one of ``statements`` names
    it. Two index look-ups a row, where ``column__in=visible_entities(…)`` would list every
    entity the user sees first."""
    return Q(Exists(statements.filter(subject_id=OuterRef(column)))) | Q(
        Exists(statements.filter(object_id=OuterRef(column)))
    )


def sees_entity_in(user: User | None, column: str) -> Q:
    """A condition on rows whose ``column`` holds an entity id: the user sees that entity, as
    ``visible_entities`` says."""
    return named_by(visible_statements(user), column)


def can_see_entity(user: User | None, entity_id: str) -> bool:
    statements = visible_statements(user)
    return (
        statements.filter(subject_id=entity_id).exists()
        or statements.filter(object_id=entity_id).exists()
    )
