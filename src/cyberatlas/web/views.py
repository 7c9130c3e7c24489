"""Helpers every page module shares: the acting user, and refusals shown as messages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render

from cyberatlas.accounts.models import User
from cyberatlas.errors import Forbidden, NotFound

View = TypeVar("View", bound=Callable[..., HttpResponse])


def actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def page(view: View) -> View:
    """A signed-in page; hidden or missing answers 404, refusals 403, bad input a message."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(str(exc)) from None
        except Forbidden as exc:
            return HttpResponseForbidden(
                render(request, "web/refused.html", {"reason": str(exc)}).content
            )

    return cast(View, wrapper)


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"
