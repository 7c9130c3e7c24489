"""Pages need the second factor: coordinators and partners always, others once enrolled."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from . import two_factor
from .models import User

OPEN_PREFIXES = ("/static/", "/api/", "/taxii2/", "/admin/login/")


class SecondFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if isinstance(user, User) and not user.is_verified() and not self._open(request.path):  # type: ignore[attr-defined]
            if two_factor.confirmed_device(user) is not None:
                return redirect(f"{reverse('verify')}?next={request.get_full_path()}")
            if two_factor.required(user):
                return redirect("enrol")
        return self.get_response(request)

    @staticmethod
    def _open(path: str) -> bool:
        allowed = (reverse("verify"), reverse("enrol"), reverse("logout"), reverse("login"))
        return path.startswith(OPEN_PREFIXES) or path in allowed
