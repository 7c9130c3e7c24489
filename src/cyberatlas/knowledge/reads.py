"""Reading the knowledge base: entity pages, statement history and counts, through the policy."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from cyberatlas.accounts.models import User
from cyberatlas.core.tlp import Marking
from cyberatlas.errors import InvalidInput, NotFound

from . import audit, entities, policy
from .models import Entity, Statement


@dataclass(frozen=True)
class StatementView:
    id: str
    predicate: str
    direction: str  # "out": the entity is the subject; "in": it is the object
    value: str | None
    other_id: str | None
    other_label: str | None
    marking: Marking
    organization: str
    source: str
    confidence: int | None
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    version: int
    vetting: str
    investigation: str | None


def _views(
    actor: User | None, entity: Entity, rows: Sequence[Statement], *, policy_free: bool = False
) -> list[StatementView]:
    others = {s.object_id if s.subject_id == entity.pk else s.subject_id for s in rows}
    linked = {o for o in others if o}
    shown = entities.system_labels(linked) if policy_free else entities.labels(actor, linked)
    viewer_org = actor.organization_id if actor else None
    views = []
    for s in rows:
        outgoing = s.subject_id == entity.pk
        other = s.object_id if outgoing else s.subject_id
        views.append(
            StatementView(
                id=str(s.pk),
                predicate=s.predicate,
                direction="out" if outgoing else "in",
                value=s.value,
                other_id=other,
                other_label=shown.get(other) if other else None,
                marking=Marking(s.marking),
                organization=s.organization.shown_to(viewer_org),
                source=s.source,
                confidence=s.confidence,
                first_seen=s.first_seen,
                last_seen=s.last_seen,
                version=s.version,
                vetting=s.vetting,
                investigation=s.investigation.name if s.investigation else None,
            )
        )
    return views


@dataclass(frozen=True)
class EntityPage:
    """One page of what a reader sees of an entity, newest contributions last."""

    id: str
    type: str
    key: str
    label: str
    statements: list[StatementView]
    next: str | None


def _cursor(statement: Statement) -> str:
    raw = f"{statement.created_at.isoformat()}|{statement.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after(cursor: str) -> Q:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, key = raw.partition("|")
        at, pk = dt.datetime.fromisoformat(moment), uuid.UUID(key)
    except ValueError:
        raise InvalidInput("not a cursor this service issued", field="after") from None
    return Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk)


def _page(
    statements: QuerySet[Statement], entity_id: str, limit: int | None, after: str | None
) -> tuple[list[Statement], str | None]:
    rows = (
        statements.filter(Q(subject_id=entity_id) | Q(object_id=entity_id))
        .select_related("organization", "investigation")
        .order_by("created_at", "id")
    )
    if after:
        rows = rows.filter(_after(after))
    if limit is None:
        return list(rows), None
    found = list(rows[: limit + 1])
    return found[:limit], _cursor(found[limit - 1]) if len(found) > limit else None


def entity_page(
    actor: User | None, reference: str, *, limit: int | None = 50, after: str | None = None
) -> EntityPage:
    """What ``actor`` may see of an entity: its label and the readable statements naming it,
    ``limit`` at a time (``None``: all). Reads of strict data are audited."""
    entity = entities.resolve(actor, reference)
    rows, following = _page(policy.visible_statements(actor), entity.pk, limit, after)
    audit.record_read(actor, "entity.show", (s.marking for s in rows))
    label = entities.labels(actor, [entity.pk])[entity.pk]
    views = _views(actor, entity, rows)
    return EntityPage(entity.pk, entity.type, entity.key, label, views, following)


def system_entity_page(
    entity_id: str, *, limit: int | None = 50, after: str | None = None
) -> EntityPage:
    """The same page with no access policy: for operators' tooling and measurements only."""
    entity = Entity.objects.get(pk=entity_id)
    rows, following = _page(Statement.objects.filter(retracted=False), entity.pk, limit, after)
    views = _views(None, entity, rows, policy_free=True)
    label = entities.system_labels([entity.pk])[entity.pk]
    return EntityPage(entity.pk, entity.type, entity.key, label, views, following)


def show_entity(actor: User | None, reference: str) -> EntityPage:
    """Everything ``actor`` may see of an entity, on one page."""
    return entity_page(actor, reference, limit=None)


@dataclass(frozen=True)
class VersionView:
    number: int
    change: str
    marking: Marking
    value: str | None
    object_id: str | None
    retracted: bool
    edited_by: str | None
    edited_at: dt.datetime
    note: str


def history(actor: User | None, statement_id: str | uuid.UUID) -> list[VersionView]:
    """The versions of a statement ``actor`` may read; none unless its current one is."""
    try:
        key = uuid.UUID(str(statement_id))
    except ValueError:
        raise InvalidInput(f"{statement_id!r} is not a statement id", field="statement") from None
    statement = Statement.objects.filter(policy.readable(actor), pk=key).first()
    if statement is None:
        raise NotFound(f"no statement {statement_id}", field="statement")
    versions = list(
        policy.visible_versions(actor, statement).select_related("edited_by").order_by("number")
    )
    audit.record_read(actor, "statement.history", (v.marking for v in versions))
    return [
        VersionView(
            v.number,
            v.change,
            Marking(v.marking),
            v.value,
            v.object_id,
            v.retracted,
            v.edited_by.username if v.edited_by else None,
            v.edited_at,
            v.note,
        )
        for v in versions
    ]


def count_statements(actor: User | None, entity_id: str | None = None) -> int:
    statements = policy.visible_statements(actor)
    if entity_id is not None:
        statements = statements.filter(Q(subject_id=entity_id) | Q(object_id=entity_id))
    return statements.count()
