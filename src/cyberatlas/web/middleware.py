"""Answers for requests that cannot be served now."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from cyberatlas import writers
from cyberatlas.interop.taxii import error as taxii_error

_JSON_PREFIXES = ("/api/", "/taxii2/")


class BusyDatabaseMiddleware:
    """A request that waited its time for another writer (see ``writers``) gets a 503 with
    ``Retry-After``, as a page, as the API's JSON or as a TAXII error message, not a 500.

    Django turns an exception into a 500 response in the layer that raised it, the view's or
    a middleware's (the session middleware writes too), and signals it on its way: the signal
    marks the request, and this outermost layer answers for it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        got_request_exception.connect(_mark, dispatch_uid="cyberatlas.web.middleware.busy")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, _BUSY, False):
            return _busy(request)
        return response


_BUSY = "cyberatlas_busy_database"


def _mark(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    failure = sys.exc_info()[1]
    if request is not None and failure is not None and writers.is_busy(failure):
        setattr(request, _BUSY, True)


def _busy(request: HttpRequest) -> HttpResponse:
    detail = (
        "another process is writing to the database (SQLite takes one writer at a time): "
        "nothing was saved; try again later"
    )
    response: HttpResponse
    if request.path.startswith("/taxii2/"):
        response = taxii_error(503, "Busy", detail)
    elif request.path.startswith(_JSON_PREFIXES):
        response = JsonResponse({"detail": detail}, status=503)
    else:
        response = render(
            request, "web/busy.html", {"retry_after": writers.RETRY_AFTER}, status=503
        )
    response["Retry-After"] = str(writers.RETRY_AFTER)
    return response
