"""Small builders of accounts for tests; statements go through the real services."""

from __future__ import annotations

from collections.abc import Sequence

from cyberatlas.accounts.models import Organization, Status, User, UserRole
from cyberatlas.core.tlp import Marking
from cyberatlas.investigations.models import Investigation, Membership
from cyberatlas.knowledge.models import Entity
from cyberatlas.knowledge.services import Audience, Provenance, add_statement


def org(
    name: str,
    kind: str = "member",
    sector: str = "banking",
    status: str = Status.VETTED,
    *,
    disclose_name: bool = True,
) -> Organization:
    return Organization.objects.create(
        name=name,
        kind=kind,
        sector=sector,
        country="DE",
        status=status,
        disclose_name=disclose_name,
    )


def person(
    username: str,
    organization: Organization,
    roles: Sequence[str] = ("researcher",),
    status: str = Status.VETTED,
) -> User:
    user = User.objects.create(username=username, organization=organization, status=status)
    UserRole.objects.bulk_create([UserRole(user=user, role=r) for r in roles])
    return user


def investigation(name: str, target: Entity, lead: Organization, *members: User) -> Investigation:
    found = Investigation.objects.create(name=name, target=target, lead=lead)
    Membership.objects.bulk_create([Membership(investigation=found, user=m) for m in members])
    return found


def say(
    actor: User,
    subject: str,
    predicate: str,
    target: str,
    marking: Marking = Marking.GREEN,
    *,
    investigation: Investigation | None = None,
    recipients: Sequence[User] = (),
    source: str = "",
):
    return add_statement(
        actor,
        subject,
        predicate,
        target,
        Audience(marking, investigation, tuple(recipients)),
        Provenance(source=source),
    )
