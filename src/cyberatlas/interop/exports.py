"""What an export contains: exactly the statements its reader may read, streamed.

Each entity carries the strictest marking of the statements that show it to the reader, so a
format that marks objects (STIX, MISP) marks each one no lower than what it was derived from.
Every export writes one row to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from cyberatlas.accounts.models import User
from cyberatlas.core.tlp import Marking
from cyberatlas.investigations.models import Investigation
from cyberatlas.knowledge import audit, entities, policy
from cyberatlas.knowledge.models import Entity, Statement

from .records import ExportEntity, ExportStatement

CHUNK = 2000


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
    """Stream the reader's statements as export records, in keyset chunks (bounded memory)."""
    statements = exported_statements(actor, investigation=investigation)
    strict = statements.filter(marking__in=(Marking.AMBER_STRICT, Marking.RED)).count()
    audit.record(actor, action, "amber+strict,red" if strict else "", statements.count())
    markings = _entity_markings(statements)
    viewer_org = actor.organization_id if actor else None
    last = None
    while True:
        chunk = statements.select_related("organization").order_by("id")
        if last is not None:
            chunk = chunk.filter(id__gt=last)
        rows = list(chunk[:CHUNK])
        if not rows:
            return
        last = rows[-1].pk
        ids = {r.subject_id for r in rows} | {r.object_id for r in rows if r.object_id}
        shown = entities.labels(actor, ids)
        entity = {
            e.pk: ExportEntity(e.pk, e.type, e.key, shown[e.pk], markings[e.pk])
            for e in Entity.objects.filter(pk__in=ids)
        }
        for s in rows:
            yield to_record(s, entity, viewer_org)


def to_record(
    s: Statement, entities_by_id: dict[str, ExportEntity], viewer_org: int | None
) -> ExportStatement:
    """A statement as its reader may read it, for an exporter."""
    return ExportStatement(
        id=str(s.pk),
        subject=entities_by_id[s.subject_id],
        predicate=s.predicate,
        value=s.value,
        object=entities_by_id[s.object_id] if s.object_id else None,
        marking=Marking(s.marking),
        organization=s.organization.shown_to(viewer_org),
        source=s.source,
        confidence=s.confidence,
        first_seen=s.first_seen,
        last_seen=s.last_seen,
        created=s.created_at,
        modified=s.updated_at,
    )


def _entity_markings(statements: QuerySet[Statement]) -> dict[str, Marking]:
    """Each entity's strictest marking among the exported statements naming it."""
    markings: dict[str, Marking] = {}
    for column in ("subject_id", "object_id"):
        for entity_id, marking in statements.values_list(column, "marking").iterator(
            chunk_size=10_000
        ):
            if entity_id is not None:
                markings[entity_id] = max(markings.get(entity_id, Marking.CLEAR), Marking(marking))
    return markings
