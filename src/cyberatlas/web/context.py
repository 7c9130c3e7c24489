"""What every page's frame needs: who is signed in and what they may reach."""

from __future__ import annotations

from django.http import HttpRequest

from cyberatlas.accounts.models import Role, User


def navigation(request: HttpRequest) -> dict[str, object]:
    user = request.user
    if not isinstance(user, User):
        return {}
    roles = user.role_names()
    return {
        "is_coordinator": Role.COORDINATOR in roles,
        "can_contribute": bool({Role.RESEARCHER, Role.REVIEWER} & roles),
        "organization": user.organization,
    }
