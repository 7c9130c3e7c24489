"""Admitting organizations and people, and issuing API tokens.

``actor`` is the coordinator who decides, or ``None`` for the operator at the shell.
"""

from __future__ import annotations

from collections.abc import Sequence

import pycountry
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from cyberatlas.errors import Forbidden, InvalidInput, NotFound

from .models import (
    ApiToken,
    Decision,
    Organization,
    OrgKind,
    Role,
    Sector,
    Status,
    User,
    UserRole,
)


def _choice(value: str, choices: type[OrgKind] | type[Sector] | type[Role], field: str) -> str:
    allowed = [str(c) for c in choices.values]
    if value not in allowed:
        raise InvalidInput(f"{value!r} is not one of {', '.join(allowed)}", field=field)
    return value


def require_coordinator(actor: User | None) -> None:
    if actor is None:
        return
    if not (actor.may_read and actor.has_role(Role.COORDINATOR)):
        raise Forbidden(f"{actor.username} is not a vetted coordinator")


def organization(name: str) -> Organization:
    found = Organization.objects.filter(name=name).first()
    if found is None:
        raise NotFound(f"no organization {name!r}", field="org")
    return found


def user(username: str, *, field: str = "user") -> User:
    found = User.objects.select_related("organization").filter(username=username).first()
    if found is None:
        raise NotFound(f"no user {username!r}", field=field)
    return found


def add_organization(
    actor: User | None,
    name: str,
    *,
    kind: str,
    sector: str,
    country: str,
    disclose_name: bool = True,
) -> Organization:
    """Record an organization's application; it reads nothing until vetted."""
    require_coordinator(actor)
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("must not be empty", field="name")
    code = country.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise InvalidInput(f"{country!r} is not an ISO 3166-1 alpha-2 code", field="country")
    if Organization.objects.filter(name=name).exists():
        raise InvalidInput(f"an organization named {name!r} exists", field="name")
    return Organization.objects.create(
        name=name,
        kind=_choice(kind, OrgKind, "kind"),
        sector=_choice(sector, Sector, "sector"),
        country=code,
        disclose_name=disclose_name,
    )


def _decide(
    actor: User | None, subject: Organization | User, outcome: Decision.Outcome, note: str
) -> Decision:
    require_coordinator(actor)
    with transaction.atomic():
        subject.status = Status.VETTED if outcome == Decision.Outcome.VETTED else Status.SUSPENDED
        subject.save(update_fields=["status"])
        if isinstance(subject, Organization):
            return Decision.objects.create(
                organization=subject, outcome=outcome, decided_by=actor, note=note
            )
        return Decision.objects.create(
            user=subject,
            outcome=outcome,
            decided_by=actor,
            expertise=subject.expertise,
            sponsor=subject.sponsor,
            note=note,
        )


def vet_organization(actor: User | None, name: str, note: str = "") -> Decision:
    return _decide(actor, organization(name), Decision.Outcome.VETTED, note)


def suspend_organization(actor: User | None, name: str, note: str = "") -> Decision:
    return _decide(actor, organization(name), Decision.Outcome.SUSPENDED, note)


def vet_user(actor: User | None, username: str, note: str = "") -> Decision:
    return _decide(actor, user(username), Decision.Outcome.VETTED, note)


def suspend_user(actor: User | None, username: str, note: str = "") -> Decision:
    return _decide(actor, user(username), Decision.Outcome.SUSPENDED, note)


def add_user(
    actor: User | None,
    username: str,
    *,
    org: str,
    roles: Sequence[str],
    password: str,
    email: str = "",
    expertise: str = "",
    sponsor: str | None = None,
) -> User:
    """Record a person's application with their roles; they read nothing until vetted."""
    require_coordinator(actor)
    home = organization(org)
    if not roles:
        raise InvalidInput("give at least one role", field="role")
    checked = [_choice(r, Role, "role") for r in dict.fromkeys(roles)]
    if home.kind == OrgKind.PARTNER and set(checked) - {Role.PARTNER}:
        raise InvalidInput(
            "people of partner organizations hold the partner role only", field="role"
        )
    if Role.PARTNER in checked and home.kind != OrgKind.PARTNER:
        raise InvalidInput("the partner role belongs to partner organizations", field="role")
    if User.objects.filter(username=username).exists():
        raise InvalidInput(f"a user named {username!r} exists", field="username")
    candidate = User(username=username, email=email, organization=home, expertise=expertise)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field="password") from None
    with transaction.atomic():
        candidate.sponsor = organization(sponsor) if sponsor else None
        candidate.set_password(password)
        candidate.save()
        UserRole.objects.bulk_create([UserRole(user=candidate, role=r) for r in checked])
    return candidate


def create_token(actor: User | None, username: str, name: str = "") -> str:
    """Issue an API token for ``username`` (themselves, or the operator); returns the secret."""
    owner = user(username)
    if actor is not None and actor.pk != owner.pk:
        raise Forbidden("people issue tokens for themselves only")
    _, secret = ApiToken.issue(owner, name)
    return secret


def applications(actor: User | None) -> tuple[list[Organization], list[User]]:
    """Organizations and people waiting for a decision, for coordinators."""
    require_coordinator(actor)
    orgs = list(Organization.objects.filter(status=Status.APPLIED))
    people = list(
        User.objects.filter(status=Status.APPLIED)
        .select_related("organization", "sponsor")
        .prefetch_related("roles")
        .order_by("date_joined")
    )
    return orgs, people


def decisions(actor: User | None, limit: int = 50) -> list[Decision]:
    require_coordinator(actor)
    return list(
        Decision.objects.select_related("organization", "user", "decided_by", "sponsor")[:limit]
    )
