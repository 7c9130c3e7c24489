"""Entities and statements over HTTP."""

from __future__ import annotations

import datetime as dt
import uuid

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from cyberatlas.accounts.models import User
from cyberatlas.accounts.tokens import request_actor

from . import entities, reads, services
from .reads import StatementView

router = Router(tags=["knowledge"])


class EntityHitOut(Schema):
    id: str
    type: str
    label: str


class EntitiesOut(Schema):
    items: list[EntityHitOut]
    next: str | None = Field(None, description="pass as `cursor` for the next page")


class StatementOut(Schema):
    id: str
    subject_id: str
    subject_label: str
    predicate: str
    value: str | None
    object_id: str | None
    object_label: str | None
    marking: str = Field(description="clear, green, amber, amber+strict or red")
    organization: str
    mine: bool
    source: str
    confidence: int | None
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    version: int
    vetting: str
    investigation: str | None


def _statement(view: StatementView) -> StatementOut:
    fields = {name: getattr(view, name) for name in StatementOut.model_fields}
    return StatementOut(**{**fields, "marking": view.marking.slug})


class EntityOut(Schema):
    id: str
    type: str
    key: str
    label: str
    statements: list[StatementOut]
    next: str | None = Field(None, description="pass as `cursor` for more statements")


class StatementsOut(Schema):
    items: list[StatementOut]
    next: str | None = None


class PageQuery(Schema):
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = None


class SearchQuery(PageQuery):
    q: str = Field(
        "", description="start of a key, name or alias, or words of a property; empty lists all"
    )


@router.get("/entities", response=EntitiesOut, summary="Search or list the entities you see")
def list_entities(request: HttpRequest, query: Query[SearchQuery]) -> EntitiesOut:
    user = request_actor(request)
    if not query.q.strip():
        listed = reads.entities_page(user, limit=query.limit, after=query.cursor)
        items = [EntityHitOut(id=h.id, type=h.type, label=h.label) for h in listed.entities]
        return EntitiesOut(items=items, next=listed.next)
    offset = int(query.cursor) if query.cursor and query.cursor.isdigit() else 0
    hits = entities.search(user, query.q, limit=offset + query.limit + 1)
    window = hits[offset : offset + query.limit]
    following = str(offset + query.limit) if len(hits) > offset + query.limit else None
    items = [EntityHitOut(id=h.id, type=h.type, label=h.label) for h in window]
    return EntitiesOut(items=items, next=following)


@router.get("/entities/{entity_id}", response=EntityOut, summary="An entity as you may see it")
def get_entity(request: HttpRequest, entity_id: str, query: Query[PageQuery]) -> EntityOut:
    shown = reads.entity_page(
        request_actor(request), entity_id, limit=query.limit, after=query.cursor
    )
    return EntityOut(
        id=shown.id,
        type=shown.type,
        key=shown.key,
        label=shown.label,
        statements=[_statement(s) for s in shown.statements],
        next=shown.next,
    )


class StatementsQuery(PageQuery):
    entity: str | None = Field(None, description="STIX id, type:value or type:NAME")
    predicate: str | None = None


@router.get("/statements", response=StatementsOut, summary="Statements you may read")
def list_statements(request: HttpRequest, query: Query[StatementsQuery]) -> StatementsOut:
    listed = reads.statements_page(
        request_actor(request),
        entity=query.entity,
        predicate=query.predicate,
        limit=query.limit,
        after=query.cursor,
    )
    return StatementsOut(items=[_statement(s) for s in listed.statements], next=listed.next)


class ProvenanceIn(Schema):
    source: str = ""
    evidence: str = ""
    confidence: int | None = Field(None, ge=0, le=100)
    source_grade: str = Field("", description="Admiralty source reliability A-F")
    information_grade: str = Field("", description="Admiralty information credibility 1-6")
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None

    def provenance(self) -> services.Provenance:
        return services.Provenance(
            source=self.source,
            evidence=self.evidence,
            confidence=self.confidence,
            source_grade=self.source_grade,
            information_grade=self.information_grade,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
        )


class StatementIn(ProvenanceIn):
    subject: str = Field(description="STIX id, type:value or type:NAME")
    predicate: str
    value: str = Field(description="a literal for a property, an entity for a relationship")
    tlp: str = Field(description="clear, green, amber, amber+strict or red")
    investigation: str | None = None
    recipients: list[str] = Field(default_factory=list, description="usernames (RED)")
    judgement: str | None = Field(None, description="same-as: same, not-same or unsure")


@router.post("/statements", response={201: StatementOut}, summary="Add a statement")
def add_statement(request: HttpRequest, body: StatementIn) -> Status[StatementOut]:
    user = request_actor(request)
    audience = services.audience(user, body.tlp, body.investigation, body.recipients)
    added = services.add_statement(
        user,
        body.subject,
        body.predicate,
        body.value,
        audience,
        body.provenance(),
        judgement=body.judgement,
    )
    return Status(201, _one(user, added.pk))


def _one(user: User, statement_id: uuid.UUID) -> StatementOut:
    view = reads.statement(user, statement_id)
    return _statement(view)


class ReviseIn(ProvenanceIn):
    value: str | None = None
    note: str = ""


@router.post("/statements/{statement_id}/revise", response=StatementOut)
def revise(request: HttpRequest, statement_id: uuid.UUID, body: ReviseIn) -> StatementOut:
    user = request_actor(request)
    fields = body.model_fields_set - {"value", "note"}
    provenance = body.provenance() if fields else None
    services.revise(user, statement_id, value=body.value, provenance=provenance, note=body.note)
    return _one(user, statement_id)


class RemarkIn(Schema):
    tlp: str
    investigation: str | None = None
    recipients: list[str] = Field(default_factory=list)
    note: str = ""


@router.post("/statements/{statement_id}/remark", response=StatementOut)
def remark(request: HttpRequest, statement_id: uuid.UUID, body: RemarkIn) -> StatementOut:
    user = request_actor(request)
    services.remark(
        user,
        statement_id,
        body.tlp,
        investigation=body.investigation,
        recipients=body.recipients,
        note=body.note,
    )
    return _one(user, statement_id)


class RetractIn(Schema):
    note: str = ""


@router.post("/statements/{statement_id}/retract", response={204: None})
def retract(request: HttpRequest, statement_id: uuid.UUID, body: RetractIn) -> Status[None]:
    services.retract(request_actor(request), statement_id, note=body.note)
    return Status(204, None)


class VersionOut(Schema):
    number: int
    change: str
    marking: str
    value: str | None
    object_id: str | None
    retracted: bool
    edited_by: str | None
    edited_at: dt.datetime
    note: str


@router.get("/statements/{statement_id}/history", response=list[VersionOut])
def history(request: HttpRequest, statement_id: uuid.UUID) -> list[VersionOut]:
    versions = reads.history(request_actor(request), statement_id)
    return [
        VersionOut(
            **{**{n: getattr(v, n) for n in VersionOut.model_fields}, "marking": v.marking.slug}
        )
        for v in versions
    ]
