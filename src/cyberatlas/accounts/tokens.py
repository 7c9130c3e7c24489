"""Bearer-token authentication for the HTTP API."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from .models import ApiToken, User


class BearerToken(HttpBearer):
    """``Authorization: Bearer cya_…``: how scripts get in, also for accounts with a 2nd factor."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = ApiToken.lookup(token)
        if found is None or not found.user.is_active:
            return None
        now = timezone.now()
        if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        return found.user


def request_actor(request: HttpRequest) -> User:
    """The user a token-authenticated API request acts as."""
    return cast(User, request.auth)  # type: ignore[attr-defined]
