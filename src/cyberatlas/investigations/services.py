"""Opening investigations and managing their members (the need-to-know of TLP:AMBER)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.db.models import QuerySet

from cyberatlas.accounts import services as accounts
from cyberatlas.accounts.models import OrgKind, Role, User
from cyberatlas.core.references import new_domain_object_id
from cyberatlas.core.tlp import Marking
from cyberatlas.errors import Forbidden, InvalidInput, NotFound
from cyberatlas.knowledge import entities
from cyberatlas.knowledge.models import Entity
from cyberatlas.knowledge.services import Audience, name_target

from .models import Investigation, Membership


def visible_investigations(actor: User | None) -> QuerySet[Investigation]:
    """Names, targets and rationale are for members and coordinators only."""
    if actor is None:
        return Investigation.objects.all()
    if not actor.may_read:
        return Investigation.objects.none()
    if actor.has_role(Role.COORDINATOR):
        return Investigation.objects.all()
    return Investigation.objects.filter(memberships__user=actor)


def get(actor: User | None, name: str) -> Investigation:
    found = visible_investigations(actor).filter(name=name).select_related("target", "lead").first()
    if found is None:
        raise NotFound(f"no investigation {name!r}", field="investigation")
    return found


def _check_member(candidate: User) -> None:
    org = candidate.organization
    if org is None or org.kind == OrgKind.PARTNER or candidate.has_role(Role.PARTNER):
        raise InvalidInput(
            f"{candidate.username} is a partner; partners are never members of an investigation",
            field="member",
        )


def _target(actor: User | None, text: str) -> tuple[Entity, str | None]:
    """The target entity, and the name to give it when the reference creates it."""
    reference = entities.parse(text, field="target")
    if reference.kind == "observable":
        assert reference.observable is not None
        entity, _ = Entity.objects.get_or_create(
            pk=reference.observable.stix_id,
            defaults={"type": reference.type, "key": reference.observable.key},
        )
        return entity, None
    if reference.kind == "name":
        ids = entities.named(actor, reference.type, reference.value)
        if len(ids) == 1:
            return Entity.objects.get(pk=ids[0]), None
        if not ids:
            created = Entity.objects.create(
                pk=new_domain_object_id(reference.type), type=reference.type
            )
            return created, reference.value
    return entities.resolve(actor, text, field="target"), None


def open_investigation(
    actor: User | None,
    name: str,
    *,
    target: str,
    lead: str,
    members: Sequence[str] = (),
) -> Investigation:
    """Open an investigation. A target named for the first time is named at TLP:AMBER in it."""
    accounts.require_coordinator(actor)
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("must not be empty", field="name")
    if Investigation.objects.filter(name=name).exists():
        raise InvalidInput(f"an investigation named {name!r} exists", field="name")
    lead_org = accounts.organization(lead)
    if lead_org.kind != OrgKind.MEMBER:
        raise InvalidInput("the lead must be a member organization", field="lead")
    people = [accounts.user(u, field="member") for u in dict.fromkeys(members)]
    for person in people:
        _check_member(person)
    with transaction.atomic():
        entity, new_name = _target(actor, target)
        investigation = Investigation.objects.create(
            name=name, target=entity, lead=lead_org, opened_by=actor
        )
        Membership.objects.bulk_create(
            [Membership(investigation=investigation, user=p, added_by=actor) for p in people]
        )
        if new_name is not None:
            # Named on behalf of the investigation: its lead contributes, the opener is recorded.
            name_target(
                actor, entity, new_name, Audience(Marking.AMBER, investigation), lead_org.pk
            )
    return investigation


def add_member(actor: User | None, name: str, username: str) -> Membership:
    """Coordinators and members of the lead organization add members."""
    investigation = get(actor, name)
    if actor is not None and not (
        actor.has_role(Role.COORDINATOR) or actor.organization_id == investigation.lead_id
    ):
        raise Forbidden("only coordinators and the lead organization add members")
    person = accounts.user(username, field="member")
    _check_member(person)
    membership, _ = Membership.objects.get_or_create(
        investigation=investigation, user=person, defaults={"added_by": actor}
    )
    return membership
