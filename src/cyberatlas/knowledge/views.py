"""Pages of the knowledge base: home, search, entity pages and the statement forms."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cyberatlas.core import predicates
from cyberatlas.core.tlp import Marking
from cyberatlas.core.wallets import InvalidWallet, parse_wallet
from cyberatlas.errors import CyberatlasError, InvalidInput, NotFound
from cyberatlas.investigations.services import visible_investigations
from cyberatlas.web.views import actor, is_htmx, page

from . import entities, reads, services
from .reads import StatementView

TLP_CHOICES = [(m.slug, m.label) for m in Marking]
DONE = {"revise": "Revised.", "remark": "Re-marked.", "retract": "Retracted."}


def _usernames(text: str) -> list[str]:
    return [name for name in text.replace(",", " ").split() if name]


class ProvenanceForm(forms.Form):
    source = forms.CharField(required=False, max_length=2000, label="Source (URL or reference)")
    confidence = forms.IntegerField(required=False, min_value=0, max_value=100)
    first_seen = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    last_seen = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def provenance(self) -> services.Provenance:
        data = self.cleaned_data

        def moment(day: dt.date | None) -> dt.datetime | None:
            return dt.datetime.combine(day, dt.time(), dt.UTC) if day else None

        return services.Provenance(
            source=data.get("source") or "",
            confidence=data.get("confidence"),
            first_seen=moment(data.get("first_seen")),
            last_seen=moment(data.get("last_seen")),
        )


class AudienceFields(forms.Form):
    tlp = forms.ChoiceField(choices=TLP_CHOICES, initial="green", label="TLP")
    investigation = forms.ChoiceField(required=False)
    recipients = forms.CharField(
        required=False, label="Recipients (RED: usernames, comma-separated)"
    )

    def __init__(self, *args: object, investigation_names: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["investigation"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "none"), *((n, n) for n in investigation_names)]


class StatementForm(ProvenanceForm, AudienceFields):
    subject = forms.CharField(max_length=2100, help_text="STIX id, type:value or type:NAME")
    predicate = forms.ChoiceField(choices=[(p.name, p.name) for p in predicates.all_predicates()])
    target = forms.CharField(
        max_length=10_000, label="Value or object", help_text="a value, or an entity"
    )


class RemarkForm(AudienceFields):
    note = forms.CharField(required=False, max_length=1000)


class ReviseForm(ProvenanceForm):
    value = forms.CharField(required=False, max_length=10_000, label="Corrected value or object")
    note = forms.CharField(required=False, max_length=1000)


def _my_investigations(request: HttpRequest) -> list[str]:
    user = actor(request)
    return list(
        visible_investigations(user).filter(memberships__user=user).values_list("name", flat=True)
    )


@page
def home(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    context = {
        "recent": reads.recent_statements(user, limit=15),
        "investigations": visible_investigations(user).select_related("lead")[:20],
        "readable": reads.count_statements(user),
        "form": StatementForm(investigation_names=_my_investigations(request)),
    }
    return render(request, "knowledge/home.html", context)


@page
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    hits = entities.search(actor(request), query, limit=50) if query else []
    template = "knowledge/_hits.html" if is_htmx(request) else "knowledge/search.html"
    return render(request, template, {"q": query, "hits": hits})


def _grouped(statements: list[StatementView]) -> dict[str, dict[str, list[StatementView]]]:
    groups: dict[str, dict[str, list[StatementView]]] = {
        "Properties": defaultdict(list),
        "Relationships": defaultdict(list),
        "Referred to by": defaultdict(list),
    }
    for s in statements:
        if s.object_id is None:
            key = "Properties"
        elif s.direction == "out":
            key = "Relationships"
        else:
            key = "Referred to by"
        groups[key][s.predicate].append(s)
    return {name: dict(group) for name, group in groups.items() if group}


@page
def entity(request: HttpRequest, entity_id: str) -> HttpResponse:
    user = actor(request)
    shown = reads.entity_page(user, entity_id, limit=100, after=request.GET.get("after"))
    context = {
        "entity": shown,
        "validity": _validity(shown.type, shown.key),
        "groups": _grouped(shown.statements),
        "form": StatementForm(
            initial={"subject": shown.id}, investigation_names=_my_investigations(request)
        ),
    }
    template = "knowledge/_statements.html" if is_htmx(request) else "knowledge/entity.html"
    return render(request, template, context)


def _validity(type_: str, key: str) -> str:
    """What the platform could check of an observable's format."""
    if type_ != "cryptocurrency-wallet":
        return ""
    try:
        found = parse_wallet(key)
    except InvalidWallet:
        return ""
    if not found.validated or found.family is None:
        return "unrecognised address format: kept, not validated"
    return f"{found.family.upper()} address, checksum valid"


@page
def history(request: HttpRequest, statement_id: str) -> HttpResponse:
    versions = reads.history(actor(request), statement_id)
    return render(request, "knowledge/_history.html", {"versions": versions})


def _back(request: HttpRequest, fallback: str = "/") -> HttpResponse:
    return redirect(request.POST.get("back") or fallback)


@require_POST
@page
def add(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    form = StatementForm(request.POST, investigation_names=_my_investigations(request))
    if not form.is_valid():
        messages.error(request, form.errors.as_text())
        return _back(request)
    data = form.cleaned_data
    try:
        audience = services.audience(
            user, data["tlp"], data["investigation"] or None, _usernames(data["recipients"])
        )
        added = services.add_statement(
            user, data["subject"], data["predicate"], data["target"], audience, form.provenance()
        )
    except CyberatlasError as exc:
        messages.error(request, str(exc))
        return _back(request)
    messages.success(request, f"Statement added ({audience.marking.label}).")
    return redirect(reverse("entity", args=[added.subject_id]))


@page
def change(request: HttpRequest, statement_id: str, action: str) -> HttpResponse:
    """Revise, re-mark or retract one of your organization's statements."""
    user = actor(request)
    names = _my_investigations(request)
    forms_by_action = {"revise": ReviseForm, "remark": RemarkForm, "retract": RemarkForm}
    if action not in forms_by_action:
        return HttpResponse(status=404)
    if request.method != "POST":
        form: forms.Form = (
            ReviseForm() if action == "revise" else RemarkForm(investigation_names=names)
        )
        context = {"form": form, "action": action, "statement_id": statement_id}
        return render(request, "knowledge/_change.html", context)
    back = request.POST.get("back") or "/"
    try:
        if action == "revise":
            revise = ReviseForm(request.POST)
            if not revise.is_valid():
                raise InvalidInput(revise.errors.as_text())
            services.revise(
                user,
                statement_id,
                value=revise.cleaned_data["value"] or None,
                provenance=revise.provenance(),
                note=revise.cleaned_data["note"],
            )
        elif action == "remark":
            remark = RemarkForm(request.POST, investigation_names=names)
            if not remark.is_valid():
                raise InvalidInput(remark.errors.as_text())
            data = remark.cleaned_data
            services.remark(
                user,
                statement_id,
                data["tlp"],
                investigation=data["investigation"] or None,
                recipients=_usernames(data["recipients"]),
                note=data["note"],
            )
        else:
            services.retract(user, statement_id, note=request.POST.get("note", ""))
        messages.success(request, DONE[action])
    except NotFound:
        raise
    except CyberatlasError as exc:
        messages.error(request, str(exc))
    return redirect(back)
