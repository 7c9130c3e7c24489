"""Investigation pages, for their members and for coordinators."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cyberatlas.knowledge import entities, reads
from cyberatlas.web.views import actor, is_htmx, page

from . import services


@page
def index(request: HttpRequest) -> HttpResponse:
    found = services.visible_investigations(actor(request)).select_related("lead")
    return render(request, "investigations/index.html", {"investigations": found})


@page
def detail(request: HttpRequest, name: str) -> HttpResponse:
    user = actor(request)
    investigation = services.get(user, name)
    shown = reads.statements_page(
        user, investigation=investigation, limit=100, after=request.GET.get("after")
    )
    members = investigation.memberships.select_related("user", "user__organization")
    context = {
        "investigation": investigation,
        "target_label": entities.labels(user, [investigation.target_id])[investigation.target_id],
        "members": members,
        "statements": shown.statements,
        "next": shown.next,
    }
    template = "investigations/_rows.html" if is_htmx(request) else "investigations/detail.html"
    return render(request, template, context)
