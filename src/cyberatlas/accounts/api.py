"""Coordinators' operations over HTTP: admissions, decisions and the audit log."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from cyberatlas.knowledge import audit

from . import services
from .models import Decision, Organization, User
from .tokens import request_actor

router = Router(tags=["coordination"])


class OrganizationIn(Schema):
    name: str
    kind: str = Field(description="member, partner or collaborator")
    sector: str
    country: str = Field(description="ISO 3166-1 alpha-2")
    disclose_name: bool = True


class OrganizationOut(Schema):
    name: str
    kind: str
    sector: str
    country: str
    status: str
    disclose_name: bool


def _org(org: Organization) -> OrganizationOut:
    return OrganizationOut(
        name=org.name,
        kind=org.kind,
        sector=org.sector,
        country=org.country,
        status=org.status,
        disclose_name=org.disclose_name,
    )


class UserIn(Schema):
    username: str
    organization: str
    roles: list[str]
    password: str
    email: str = ""
    expertise: str = ""
    sponsor: str | None = None


class UserOut(Schema):
    username: str
    organization: str | None
    roles: list[str]
    status: str
    expertise: str


def _user(user: User) -> UserOut:
    return UserOut(
        username=user.username,
        organization=user.organization.name if user.organization else None,
        roles=sorted(user.role_names()),
        status=user.status,
        expertise=user.expertise,
    )


class ApplicationsOut(Schema):
    organizations: list[OrganizationOut]
    users: list[UserOut]


class DecisionIn(Schema):
    note: str = ""


class DecisionOut(Schema):
    outcome: str
    organization: str | None
    user: str | None
    decided_by: str | None
    decided_at: dt.datetime
    note: str


def _decision(d: Decision) -> DecisionOut:
    return DecisionOut(
        outcome=d.outcome,
        organization=d.organization.name if d.organization else None,
        user=d.user.username if d.user else None,
        decided_by=d.decided_by.username if d.decided_by else None,
        decided_at=d.decided_at,
        note=d.note,
    )


@router.get("/applications", response=ApplicationsOut, summary="Waiting for a decision")
def applications(request: HttpRequest) -> ApplicationsOut:
    orgs, people = services.applications(request_actor(request))
    return ApplicationsOut(organizations=[_org(o) for o in orgs], users=[_user(u) for u in people])


@router.post("/organizations", response={201: OrganizationOut}, summary="Record an application")
def add_organization(request: HttpRequest, body: OrganizationIn) -> Status[OrganizationOut]:
    created = services.add_organization(
        request_actor(request),
        body.name,
        kind=body.kind,
        sector=body.sector,
        country=body.country,
        disclose_name=body.disclose_name,
    )
    return Status(201, _org(created))


@router.post("/organizations/{name}/vet", response=DecisionOut)
def vet_organization(request: HttpRequest, name: str, body: DecisionIn) -> DecisionOut:
    return _decision(services.vet_organization(request_actor(request), name, body.note))


@router.post("/organizations/{name}/suspend", response=DecisionOut)
def suspend_organization(request: HttpRequest, name: str, body: DecisionIn) -> DecisionOut:
    return _decision(services.suspend_organization(request_actor(request), name, body.note))


@router.post("/users", response={201: UserOut}, summary="Record a person's application")
def add_user(request: HttpRequest, body: UserIn) -> Status[UserOut]:
    created = services.add_user(
        request_actor(request),
        body.username,
        org=body.organization,
        roles=body.roles,
        password=body.password,
        email=body.email,
        expertise=body.expertise,
        sponsor=body.sponsor,
    )
    return Status(201, _user(created))


@router.post("/users/{username}/vet", response=DecisionOut)
def vet_user(request: HttpRequest, username: str, body: DecisionIn) -> DecisionOut:
    return _decision(services.vet_user(request_actor(request), username, body.note))


@router.post("/users/{username}/suspend", response=DecisionOut)
def suspend_user(request: HttpRequest, username: str, body: DecisionIn) -> DecisionOut:
    return _decision(services.suspend_user(request_actor(request), username, body.note))


class AuditOut(Schema):
    at: dt.datetime
    actor: str
    action: str
    markings: str
    count: int


@router.get("/audit", response=list[AuditOut], summary="Who read strict data (never the data)")
def audit_log(request: HttpRequest, limit: int = 100) -> list[AuditOut]:
    events = audit.audit_log(request_actor(request))[: max(1, min(limit, 1000))]
    return [
        AuditOut(at=e.at, actor=e.actor_name, action=e.action, markings=e.markings, count=e.count)
        for e in events
    ]
