"""Reading the knowledge base: entity pages, statement history and counts, through the policy."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from cyberatlas.accounts.models import Role, User
from cyberatlas.core.tlp import Marking
from cyberatlas.errors import InvalidInput, NotFound
from cyberatlas.investigations.models import Investigation

from . import audit, entities, policy
from .models import Entity, Statement


@dataclass(frozen=True)
class StatementView:
    """One statement as a reader sees it; ``other_*`` is the far end seen from an entity page."""

    id: str
    subject_id: str
    subject_label: str
    predicate: str
    value: str | None
    object_id: str | None
    object_label: str | None
    direction: str  # "out": the page's entity is the subject; "in": it is the object
    other_id: str | None
    other_label: str | None
    marking: Marking
    organization: str
    mine: bool  # contributed by the reader's organization: they may revise or re-mark it
    source: str
    confidence: int | None
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    version: int
    vetting: str
    investigation: str | None  # its name only for members and coordinators


def _investigation_names(actor: User | None, rows: Sequence[Statement]) -> dict[int, str]:
    """Investigation names are for their members and coordinators only."""
    ids = {s.investigation_id for s in rows if s.investigation_id}
    if not ids:
        return {}
    if actor is not None and not actor.has_role(Role.COORDINATOR):
        ids &= set(policy.investigation_ids(actor))
    return dict(Investigation.objects.filter(pk__in=ids).values_list("pk", "name"))


def _linked(rows: Sequence[Statement], entity_id: str | None) -> set[str]:
    linked = {s.subject_id for s in rows} | {s.object_id for s in rows if s.object_id}
    return linked | {entity_id} if entity_id else linked


def _shown(
    actor: User | None, rows: Sequence[Statement], action: str, entity_id: str | None = None
) -> tuple[list[StatementView], dict[str, str]]:
    """The rows as ``actor`` sees them, with the labels of the entities they name; one audit
    row when what was read (statements, or names behind labels) is AMBER+STRICT or RED."""
    got = entities.labelled(actor, _linked(rows, entity_id))
    audit.record_read(actor, action, [*(s.marking for s in rows), *got.markings])
    return _views(actor, rows, got.names, entity_id), got.names


def _views(
    actor: User | None,
    rows: Sequence[Statement],
    shown: dict[str, str],
    entity_id: str | None = None,
) -> list[StatementView]:
    names = _investigation_names(actor, rows)
    viewer_org = actor.organization_id if actor else None
    views = []
    for s in rows:
        outgoing = s.subject_id == entity_id or entity_id is None
        other = s.object_id if outgoing else s.subject_id
        views.append(
            StatementView(
                id=str(s.pk),
                subject_id=s.subject_id,
                subject_label=shown[s.subject_id],
                predicate=s.predicate,
                value=s.value,
                object_id=s.object_id,
                object_label=shown.get(s.object_id) if s.object_id else None,
                direction="out" if outgoing else "in",
                other_id=other,
                other_label=shown.get(other) if other else None,
                marking=Marking(s.marking),
                organization=s.organization.shown_to(viewer_org),
                mine=viewer_org is not None and s.organization_id == viewer_org,
                source=s.source,
                confidence=s.confidence,
                first_seen=s.first_seen,
                last_seen=s.last_seen,
                version=s.version,
                vetting=s.vetting,
                investigation=(
                    names.get(s.investigation_id, "an investigation")
                    if s.investigation_id
                    else None
                ),
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
    # A range the arrival index can seek to (an OR of two conditions makes SQLite scan).
    return Q(created_at__gte=at) & ~Q(created_at=at, pk__lte=pk)


def _naming(statements: QuerySet[Statement], entity_id: str) -> QuerySet[Statement]:
    return statements.filter(Q(subject_id=entity_id) | Q(object_id=entity_id))


def _page(
    statements: QuerySet[Statement], limit: int | None, after: str | None
) -> tuple[list[Statement], str | None]:
    rows = statements.select_related("organization").order_by("created_at", "id")
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
    rows, following = _page(_naming(policy.visible_statements(actor), entity.pk), limit, after)
    views, shown = _shown(actor, rows, "entity.show", entity.pk)
    return EntityPage(entity.pk, entity.type, entity.key, shown[entity.pk], views, following)


def system_entity_page(
    entity_id: str, *, limit: int | None = 50, after: str | None = None
) -> EntityPage:
    """The same page with no access policy: for operators' tooling and measurements only."""
    entity = Entity.objects.get(pk=entity_id)
    rows, following = _page(_naming(policy.system_statements(), entity.pk), limit, after)
    shown = entities.system_labels(_linked(rows, entity.pk))
    views = _views(None, rows, shown, entity.pk)
    return EntityPage(entity.pk, entity.type, entity.key, shown[entity.pk], views, following)


def show_entity(actor: User | None, reference: str) -> EntityPage:
    """Everything ``actor`` may see of an entity, on one page."""
    return entity_page(actor, reference, limit=None)


def statement(actor: User | None, statement_id: str | uuid.UUID) -> StatementView:
    """One current statement, if the reader may read it."""
    found = policy.visible_statements(actor).filter(pk=_statement_key(statement_id)).first()
    if found is None:
        raise NotFound(f"no statement {statement_id}", field="statement")
    return _shown(actor, [found], "statement.show")[0][0]


def _statement_key(statement_id: str | uuid.UUID) -> uuid.UUID:
    try:
        return uuid.UUID(str(statement_id))
    except ValueError:
        raise InvalidInput(f"{statement_id!r} is not a statement id", field="statement") from None


def recent_statements(actor: User | None, *, limit: int = 15) -> list[StatementView]:
    """The newest statements the reader may read."""
    rows = list(
        policy.visible_statements(actor)
        .select_related("organization")
        .order_by("-created_at", "-id")[: max(1, min(limit, 200))]
    )
    return _shown(actor, rows, "statements.recent")[0]


@dataclass(frozen=True)
class StatementsPage:
    statements: list[StatementView]
    next: str | None


def statements_page(
    actor: User | None,
    *,
    entity: str | None = None,
    investigation: Investigation | None = None,
    predicate: str | None = None,
    limit: int = 50,
    after: str | None = None,
) -> StatementsPage:
    """Readable statements, oldest first, optionally about one entity or in one investigation
    (which the caller has already found through ``investigations.services.get``)."""
    statements = policy.visible_statements(actor)
    if entity is not None:
        statements = _naming(statements, entities.resolve(actor, entity).pk)
    if investigation is not None:
        statements = statements.filter(investigation=investigation)
    if predicate is not None:
        statements = statements.filter(predicate=predicate)
    rows, following = _page(statements, max(1, min(limit, 500)), after)
    return StatementsPage(_shown(actor, rows, "statements.list")[0], following)


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
    current = Statement.objects.filter(
        policy.readable(actor), pk=_statement_key(statement_id)
    ).first()
    if current is None:
        raise NotFound(f"no statement {statement_id}", field="statement")
    versions = policy.visible_versions(actor, current)
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


@dataclass(frozen=True)
class EntitiesPage:
    entities: list[entities.EntityHit]
    next: str | None


def entities_page(actor: User | None, *, limit: int = 50, after: str | None = None) -> EntitiesPage:
    """Every entity the reader sees, by id."""
    visible = policy.visible_entities(actor).order_by("id")
    if after:
        visible = visible.filter(pk__gt=after)
    limit = max(1, min(limit, 500))
    found = list(visible.values_list("id", "type")[: limit + 1])
    got = entities.labelled(actor, [entity_id for entity_id, _ in found[:limit]])
    audit.record_read(actor, "entities.list", got.markings)
    hits = [entities.EntityHit(i, t, got.names[i]) for i, t in found[:limit]]
    return EntitiesPage(hits, found[limit - 1][0] if len(found) > limit else None)
