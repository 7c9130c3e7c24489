"""Use cases of the knowledge base. Every function takes the acting user explicitly."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from django.db import transaction
from django.utils import timezone

from cyberatlas.accounts.models import OrgKind, Role, User
from cyberatlas.core import predicates
from cyberatlas.core.references import new_domain_object_id
from cyberatlas.core.tlp import Marking
from cyberatlas.errors import Forbidden, InvalidInput, NotFound
from cyberatlas.investigations.models import Investigation, Membership

from . import entities, policy
from .models import Entity, Grant, Statement, StatementVersion

CONTRIBUTOR_ROLES = (Role.RESEARCHER, Role.REVIEWER)
ADMIRALTY_SOURCE = "ABCDEF"
ADMIRALTY_INFORMATION = "123456"


@dataclass(frozen=True)
class Provenance:
    """Where a data point comes from and how much it is trusted."""

    source: str = ""
    evidence: str = ""
    confidence: int | None = None
    source_grade: str = ""
    information_grade: str = ""
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None

    def checked(self) -> Provenance:
        if self.confidence is not None and not 0 <= self.confidence <= 100:
            raise InvalidInput("must be between 0 and 100", field="confidence")
        grade = self.source_grade.strip().upper()
        if grade and grade not in ADMIRALTY_SOURCE:
            raise InvalidInput("Admiralty source grade is one of A-F", field="source-grade")
        info = self.information_grade.strip()
        if info and info not in ADMIRALTY_INFORMATION:
            raise InvalidInput("Admiralty information grade is one of 1-6", field="info-grade")
        if self.first_seen and self.last_seen and self.first_seen > self.last_seen:
            raise InvalidInput("is before first seen", field="last-seen")
        return Provenance(
            self.source.strip(),
            self.evidence.strip(),
            self.confidence,
            grade,
            info,
            self.first_seen,
            self.last_seen,
        )


@dataclass(frozen=True)
class Audience:
    """Who a write is meant for: its marking, investigation and RED recipients."""

    marking: Marking
    investigation: Investigation | None = None
    recipients: tuple[User, ...] = field(default=())


def parse_marking(text: str) -> Marking:
    try:
        return Marking.parse(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="tlp") from None


def contributor_check(actor: User) -> None:
    if not actor.may_read:
        raise Forbidden(f"{actor.username} is not a vetted member of a vetted organization")
    org = actor.organization
    if org is None or org.kind == OrgKind.PARTNER:
        raise Forbidden("partners receive data; they do not contribute statements")
    if not actor.roles.filter(role__in=CONTRIBUTOR_ROLES).exists():
        raise Forbidden(f"{actor.username} needs the researcher or reviewer role to contribute")


def investigation_for_write(actor: User, name: str) -> Investigation:
    investigation = Investigation.objects.filter(name=name).first()
    member = (
        investigation is not None
        and Membership.objects.filter(investigation=investigation, user=actor).exists()
    )
    if investigation is None or not member:
        if investigation is not None and actor.has_role(Role.COORDINATOR):
            raise Forbidden(f"{actor.username} is not a member of {name!r}", field="investigation")
        raise NotFound(f"no investigation {name!r}", field="investigation")
    return investigation


def recipients_by_name(usernames: Sequence[str]) -> tuple[User, ...]:
    found = {u.username: u for u in User.objects.filter(username__in=list(usernames))}
    for username in usernames:
        if username not in found:
            raise InvalidInput(f"no user {username!r}", field="recipient")
    return tuple(found[u] for u in dict.fromkeys(usernames))


def audience(
    actor: User,
    tlp: str | Marking,
    investigation: str | None = None,
    recipients: Sequence[str] = (),
) -> Audience:
    """Check a write's marking rules and return its audience."""
    marking = tlp if isinstance(tlp, Marking) else parse_marking(tlp)
    found = investigation_for_write(actor, investigation) if investigation else None
    users = recipients_by_name(recipients)
    return checked_audience(actor, Audience(marking, found, users))


def checked_audience(actor: User, wanted: Audience) -> Audience:
    if wanted.marking is Marking.AMBER and wanted.investigation is None:
        raise InvalidInput("a TLP:AMBER statement must belong to an investigation", field="tlp")
    if wanted.marking is Marking.RED and not wanted.recipients:
        raise InvalidInput("a TLP:RED statement must name at least one recipient", field="tlp")
    if wanted.recipients and wanted.marking is not Marking.RED:
        raise InvalidInput("recipients are named only on TLP:RED statements", field="recipient")
    org = actor.organization
    if org is not None and org.kind == OrgKind.COLLABORATOR and wanted.investigation is None:
        raise Forbidden(
            "collaborators contribute only into investigations they are named in",
            field="investigation",
        )
    return wanted


def _entity_for_write(
    actor: User, text: str, target: Audience, prov: Provenance, field: str = "subject"
) -> Entity:
    """The entity a write names; a new observable or name creates it."""
    reference = entities.parse(text, field=field)
    if reference.kind == "observable":
        assert reference.observable is not None
        entity, _ = Entity.objects.get_or_create(
            pk=reference.observable.stix_id,
            defaults={"type": reference.type, "key": reference.observable.key},
        )
        return entity
    if reference.kind == "name":
        ids = entities.named(actor, reference.type, reference.value)
        if len(ids) > 1:
            return entities.resolve(actor, text, field=field)  # raises Ambiguous with the list
        if ids:
            return Entity.objects.get(pk=ids[0])
        entity = Entity.objects.create(pk=new_domain_object_id(reference.type), type=reference.type)
        _store(actor, entity, predicates.get("name"), reference.value, None, target, prov)
        return entity
    return entities.resolve(actor, text, field=field)


def _store(
    actor: User | None,
    subject: Entity,
    predicate: predicates.Predicate,
    value: str | None,
    obj: Entity | None,
    target: Audience,
    prov: Provenance,
    *,
    organization_id: int | None = None,
) -> Statement:
    now = timezone.now()
    org_id = organization_id or (actor.organization_id if actor else None)
    assert org_id is not None
    statement = Statement.objects.create(
        subject=subject,
        predicate=predicate.name,
        value=value,
        folded=entities.fold(value) if value is not None else "",
        object=obj,
        marking=target.marking,
        investigation=target.investigation,
        organization_id=org_id,
        author=actor,
        created_at=now,
        updated_at=now,
        **{f.name: getattr(prov, f.name) for f in fields(prov)},
    )
    _grant(statement, target.recipients, actor)  # version 1 is the row itself: see save_version
    return statement


def _snapshot(
    statement: Statement, change: str, actor: User | None, at: dt.datetime, note: str = ""
) -> None:
    StatementVersion.of(statement, change, actor.pk if actor else None, at, note).save()


def _keep_first_version(statement_id: uuid.UUID) -> None:
    if StatementVersion.objects.filter(statement_id=statement_id, number=1).exists():
        return  # written when statements still kept their first version twice
    stored = Statement.objects.get(pk=statement_id)
    StatementVersion.of(
        stored, StatementVersion.Change.CREATED, stored.author_id, stored.created_at
    ).save()


def _grant(statement: Statement, users: Sequence[User], actor: User | None) -> None:
    Grant.objects.bulk_create(
        [Grant(statement=statement, user=u, granted_by=actor) for u in users if u != actor],
        ignore_conflicts=True,
    )


def add_statement(
    actor: User,
    subject: str,
    predicate_name: str,
    target_text: str,
    target: Audience,
    provenance: Provenance | None = None,
    *,
    judgement: str | None = None,
) -> Statement:
    """Add one data point. A property takes a literal value, a relationship an entity."""
    contributor_check(actor)
    checked_audience(actor, target)
    prov = (provenance or Provenance()).checked()
    try:
        predicate = predicates.get(predicate_name)
    except KeyError as exc:
        raise InvalidInput(str(exc.args[0]), field="predicate") from None
    with transaction.atomic():
        subject_entity = _entity_for_write(actor, subject, target, prov)
        _check_types(predicate, subject_entity, "subject")
        value: str | None = None
        obj: Entity | None = None
        if predicate.relationship:
            obj = _entity_for_write(actor, target_text, target, prov, "object")
            _check_types(predicate, obj, "object")
            if predicate.value_required or judgement is not None:
                value = _value(predicate, judgement or "same")
        else:
            value = _value(predicate, target_text)
        return _store(actor, subject_entity, predicate, value, obj, target, prov)


def _value(predicate: predicates.Predicate, text: str) -> str:
    try:
        return predicate.normalize_value(text)
    except predicates.InvalidValue as exc:
        raise InvalidInput(f"{text!r} for {predicate.name!r}: {exc}", field="value") from None


def _check_types(predicate: predicates.Predicate, entity: Entity, role: str) -> None:
    allowed = predicate.subject_types if role == "subject" else predicate.object_types
    if allowed is not None and entity.type not in allowed:
        raise InvalidInput(
            f"{predicate.name!r} does not take a {entity.type} as its {role}; "
            f"it takes {', '.join(sorted(allowed))}",
            field=role,
        )


def name_target(
    actor: User | None, entity: Entity, name: str, target: Audience, org_id: int
) -> None:
    """Name a newly created entity (an investigation's target) under the given audience."""
    _store(
        actor,
        entity,
        predicates.get("name"),
        name,
        None,
        target,
        Provenance(),
        organization_id=org_id,
    )


def _editable(actor: User, statement_id: str | uuid.UUID) -> Statement:
    if not actor.may_read:
        raise NotFound(f"no statement {statement_id}", field="statement")
    try:
        key = uuid.UUID(str(statement_id))
    except ValueError:
        raise InvalidInput(f"{statement_id!r} is not a statement id", field="statement") from None
    statement = Statement.objects.select_for_update().filter(policy.readable(actor), pk=key).first()
    if statement is None:
        raise NotFound(f"no statement {statement_id}", field="statement")
    if statement.organization_id != actor.organization_id:
        raise Forbidden("only the contributing organization changes a statement")
    if statement.retracted:
        raise InvalidInput("the statement is retracted", field="statement")
    return statement


def save_version(statement: Statement, change: str, actor: User, note: str = "") -> Statement:
    """Save ``statement``, changed in memory, as its next version.

    A statement that was never changed has no version rows: version 1 is the statement row
    itself. Its first change writes version 1, as stored, before the new one.
    """
    now = timezone.now()
    if statement.version == 1:
        _keep_first_version(statement.pk)
    statement.version += 1
    statement.updated_at = now
    statement.save()
    _snapshot(statement, change, actor, now, note)
    return statement


def revise(
    actor: User,
    statement_id: str | uuid.UUID,
    *,
    value: str | None = None,
    provenance: Provenance | None = None,
    note: str = "",
) -> Statement:
    """A new version with a corrected value or provenance, under the same marking."""
    with transaction.atomic():
        statement = _editable(actor, statement_id)
        predicate = predicates.get(statement.predicate)
        if value is not None:
            if predicate.relationship and not predicate.value_required:
                statement.object = _entity_for_write(
                    actor, value, _current_audience(statement), provenance or Provenance(), "object"
                )
                _check_types(predicate, statement.object, "object")
            else:
                statement.value = _value(predicate, value)
                statement.folded = entities.fold(statement.value)
        if provenance is not None:
            for name, new in vars(provenance.checked()).items():
                setattr(statement, name, new)
        return save_version(statement, StatementVersion.Change.REVISED, actor, note)


def _current_audience(statement: Statement) -> Audience:
    users = tuple(
        User.objects.filter(grants__statement=statement, grants__reason=Grant.Reason.RECIPIENT)
    )
    return Audience(Marking(statement.marking), statement.investigation, users)


def remark(
    actor: User,
    statement_id: str | uuid.UUID,
    tlp: str | Marking,
    *,
    investigation: str | None = None,
    recipients: Sequence[str] = (),
    note: str = "",
) -> Statement:
    """Change a statement's marking: stricter by its organization, less strict by its author."""
    with transaction.atomic():
        statement = _editable(actor, statement_id)
        current = _current_audience(statement)
        marking = tlp if isinstance(tlp, Marking) else parse_marking(tlp)
        if marking < current.marking and statement.author_id != actor.pk:
            raise Forbidden("only the author makes a statement less strict", field="tlp")
        wanted = Audience(
            marking,
            investigation_for_write(actor, investigation)
            if investigation
            else current.investigation,
            recipients_by_name(recipients)
            if recipients
            else (current.recipients if marking is Marking.RED else ()),
        )
        checked_audience(actor, wanted)
        statement.marking = marking
        statement.investigation = wanted.investigation
        statement.grants.filter(reason=Grant.Reason.RECIPIENT).delete()
        if not marking.grantable:
            statement.grants.all().delete()
        _grant(statement, wanted.recipients, actor)
        return save_version(statement, StatementVersion.Change.REMARKED, actor, note)


def retract(actor: User, statement_id: str | uuid.UUID, *, note: str = "") -> Statement:
    with transaction.atomic():
        statement = _editable(actor, statement_id)
        statement.retracted = True
        return save_version(statement, StatementVersion.Change.RETRACTED, actor, note)
