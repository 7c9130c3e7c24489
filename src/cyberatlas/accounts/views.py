"""Sign-in with the second factor, API tokens, and the coordinators' pages."""

from __future__ import annotations

import base64

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from cyberatlas.errors import CyberatlasError
from cyberatlas.knowledge import audit
from cyberatlas.web.views import actor, page

from . import services, two_factor


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class TokenForm(forms.Form):
    token = forms.CharField(
        max_length=10,
        label="Code from your authenticator app",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _next(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or "/"
    safe = url_has_allowed_host_and_scheme(wanted, {request.get_host()})
    return wanted if safe else "/"


@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """Second step of sign-in for people with a confirmed authenticator."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = two_factor.verify(actor(request), form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            return redirect(_next(request))
        form.add_error("token", "That code is not valid now; try the current one.")
    return render(request, "accounts/verify.html", {"form": form, "next": _next(request)})


@login_required
def enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator: required for coordinators and partners, offered to all."""
    user = actor(request)
    if two_factor.confirmed_device(user) is not None and request.user.is_verified():  # type: ignore[union-attr]
        messages.info(request, "Your authenticator is already set up.")
        return redirect("home")
    device = two_factor.pending_device(user) or two_factor.start_enrolment(user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if two_factor.confirm(device, form.cleaned_data["token"]):
            otp_login(request, device)
            messages.success(request, "Your authenticator is set up.")
            return redirect("home")
        form.add_error("token", "That code does not match; check your device's clock.")
    context = {
        "form": form,
        "qr": two_factor.qr_svg(device),
        "secret": base64.b32encode(device.bin_key).decode(),
        "required": two_factor.required(user),
    }
    return render(request, "accounts/enrol.html", context)


@page
def tokens(request: HttpRequest) -> HttpResponse:
    """Issue an API token; it is shown once and stored only hashed."""
    user = actor(request)
    secret = None
    if request.method == "POST":
        secret = services.create_token(user, user.username, request.POST.get("name", "")[:100])
    issued = user.api_tokens.filter(revoked_at__isnull=True).order_by("-created_at")
    return render(request, "accounts/tokens.html", {"secret": secret, "issued": issued})


@page
def applications(request: HttpRequest) -> HttpResponse:
    orgs, people = services.applications(actor(request))
    decisions = services.decisions(actor(request), limit=20)
    context = {"orgs": orgs, "people": people, "decisions": decisions}
    return render(request, "accounts/applications.html", context)


@require_POST
@page
def decide(request: HttpRequest, kind: str, name: str, outcome: str) -> HttpResponse:
    deciders = {
        ("org", "vet"): services.vet_organization,
        ("org", "suspend"): services.suspend_organization,
        ("user", "vet"): services.vet_user,
        ("user", "suspend"): services.suspend_user,
    }
    decider = deciders.get((kind, outcome))
    if decider is None:
        return HttpResponse(status=404)
    try:
        decider(actor(request), name, request.POST.get("note", ""))
        messages.success(request, f"{name}: {outcome} recorded.")
    except CyberatlasError as exc:
        messages.error(request, str(exc))
    return redirect("applications")


@page
def audit_log(request: HttpRequest) -> HttpResponse:
    events = audit.audit_log(actor(request))[:200]
    return render(request, "accounts/audit.html", {"events": events})
