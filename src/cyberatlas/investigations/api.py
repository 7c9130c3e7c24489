"""Investigations over HTTP, for their members and coordinators."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Router, Schema, Status

from cyberatlas.accounts.models import User
from cyberatlas.accounts.tokens import request_actor
from cyberatlas.knowledge import entities

from . import services
from .models import Investigation

router = Router(tags=["investigations"])


class InvestigationIn(Schema):
    name: str
    target: str
    lead: str
    members: list[str] = []


class InvestigationOut(Schema):
    name: str
    state: str
    target_id: str
    target_label: str
    lead: str
    opened_at: dt.datetime
    members: list[str]


def _out(user: User, found: Investigation) -> InvestigationOut:
    label = entities.labels(user, [found.target_id])[found.target_id]
    return InvestigationOut(
        name=found.name,
        state=found.state,
        target_id=found.target_id,
        target_label=label,
        lead=found.lead.name,
        opened_at=found.opened_at,
        members=list(found.memberships.values_list("user__username", flat=True)),
    )


class MemberIn(Schema):
    username: str


@router.get("/investigations", response=list[InvestigationOut])
def list_investigations(request: HttpRequest) -> list[InvestigationOut]:
    user = request_actor(request)
    found = services.visible_investigations(user).select_related("lead")
    return [_out(user, i) for i in found]


@router.post("/investigations", response={201: InvestigationOut})
def open_investigation(request: HttpRequest, body: InvestigationIn) -> Status[InvestigationOut]:
    user = request_actor(request)
    opened = services.open_investigation(
        user, body.name, target=body.target, lead=body.lead, members=body.members
    )
    return Status(201, _out(user, opened))


@router.get("/investigations/{name}", response=InvestigationOut)
def get_investigation(request: HttpRequest, name: str) -> InvestigationOut:
    user = request_actor(request)
    return _out(user, services.get(user, name))


@router.post("/investigations/{name}/members", response=InvestigationOut)
def add_member(request: HttpRequest, name: str, body: MemberIn) -> InvestigationOut:
    user = request_actor(request)
    services.add_member(user, name, body.username)
    return _out(user, services.get(user, name))
