"""A request that gave up waiting for SQLite's writer answers 503 in the form its client reads."""

from __future__ import annotations

import json

import pytest
from django.core.signals import got_request_exception
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from cyberatlas.web.middleware import BusyDatabaseMiddleware


def failing(message: str):
    """A view (or inner middleware) whose failure Django turns into a 500 where it happens."""

    def respond(request: HttpRequest) -> HttpResponse:
        try:
            raise OperationalError(message)
        except OperationalError:
            got_request_exception.send(sender=None, request=request)
            return HttpResponse("server error", status=500)

    return BusyDatabaseMiddleware(respond)


@pytest.mark.parametrize(
    ("path", "media_type", "field"),
    [
        ("/taxii2/api/collections/", "application/taxii+json;version=2.1", "description"),
        ("/api/statements", "application/json", "detail"),
    ],
)
def test_clients_of_json_get_503_in_their_own_form(path, media_type, field):
    response = failing("database is locked")(RequestFactory().post(path))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"] == media_type
    assert "one writer at a time" in json.loads(response.content)[field]


def test_other_database_errors_stay_server_errors():
    response = failing("no such table: knowledge_entity")(RequestFactory().post("/api/x"))
    assert response.status_code == 500
    assert not response.has_header("Retry-After")
