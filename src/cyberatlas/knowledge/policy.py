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

from django.db.models import Exists, OuterRef, Q, QuerySet

from cyberatlas.accounts.models import User
from cyberatlas.core.tlp import Marking
from cyberatlas.investigations.models import Membership

from .models import Entity, Grant, Statement, StatementVersion

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
    org_id = user.organization_id
    granted = Grant.objects.filter(user_id=user.pk).values("statement_id")
    return (
        Q(**{f"{paths.marking}__in": _OPEN})
        | Q(
            Q(**{f"{paths.organization}": org_id})
            | Q(**{f"{paths.investigation}__in": investigation_ids(user)}),
            **{paths.marking: Marking.AMBER},
        )
        | Q(**{paths.marking: Marking.AMBER_STRICT, paths.organization: org_id})
        | Q(**{paths.marking: Marking.RED, paths.author: user.pk})
        | Q(**{f"{paths.marking}__in": _GRANTABLE, f"{paths.statement}__in": granted})
    )


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


def visible_versions(user: User | None, statement: Statement) -> QuerySet[StatementVersion]:
    """The versions of a statement the user may read, each judged under its own marking.

    A statement's history is shown only where its current version is readable.
    """
    if not Statement.objects.filter(readable(user), pk=statement.pk).exists():
        return StatementVersion.objects.none()
    return StatementVersion.objects.filter(_rule(user, _VERSION), statement_id=statement.pk)


def visible_entities(user: User | None) -> QuerySet[Entity]:
    """Entities the user sees: those named by a statement they may read, as subject or object."""
    return entities_named_by(visible_statements(user))


def entities_named_by(statements: QuerySet[Statement]) -> QuerySet[Entity]:
    return Entity.objects.filter(
        Exists(statements.filter(subject_id=OuterRef("pk")))
        | Exists(statements.filter(object_id=OuterRef("pk")))
    )


def can_see_entity(user: User | None, entity_id: str) -> bool:
    statements = visible_statements(user)
    return (
        statements.filter(subject_id=entity_id).exists()
        or statements.filter(object_id=entity_id).exists()
    )
