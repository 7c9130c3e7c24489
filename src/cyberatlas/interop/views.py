"""Pages of the exchange: the queue of match proposals and recent imports."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cyberatlas.errors import CyberatlasError, NotFound
from cyberatlas.knowledge.views import TLP_CHOICES
from cyberatlas.web.views import actor, page

from . import matching
from .models import ImportRun, MatchProposal


@page
def proposals(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    queue = list(matching.open_proposals(user)[:100])
    judged = list(
        MatchProposal.objects.filter(owner=user, state=MatchProposal.State.JUDGED)
        .select_related("judgement")
        .order_by("-created_at")[:20]
    )
    context = {
        "queue": queue,
        "judged": judged,
        "labels": matching.labelled(user, queue + judged),
        "tlp_choices": TLP_CHOICES,
        "imports": ImportRun.objects.filter(actor=user)[:10],
    }
    return render(request, "interop/matches.html", context)


@require_POST
@page
def judge(request: HttpRequest, proposal_id: int) -> HttpResponse:
    try:
        matching.judge(
            actor(request),
            proposal_id,
            request.POST.get("judgement", ""),
            tlp=request.POST.get("tlp") or None,
            investigation=request.POST.get("investigation") or None,
        )
        messages.success(request, "Judgement recorded as a same-as statement.")
    except NotFound:
        raise
    except CyberatlasError as exc:
        messages.error(request, str(exc))
    return redirect("matches")


@require_POST
@page
def undo(request: HttpRequest, proposal_id: int) -> HttpResponse:
    try:
        matching.undo(actor(request), proposal_id)
        messages.success(request, "Judgement retracted; the proposal is open again.")
    except NotFound:
        raise
    except CyberatlasError as exc:
        messages.error(request, str(exc))
    return redirect("matches")
