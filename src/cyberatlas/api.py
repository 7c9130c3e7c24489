"""The HTTP API at /api/v1/: django-ninja, bearer tokens, cursor pagination.

Routes are thin: they parse, call the same service functions as the pages and the CLI, and
serialize. Refusals map to statuses: 400 bad input, 403 not allowed, 404 missing or hidden
(alike), 409 ambiguous name.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from cyberatlas.accounts.api import router as accounts_router
from cyberatlas.accounts.tokens import BearerToken
from cyberatlas.errors import Ambiguous, CyberatlasError, Forbidden, NotFound
from cyberatlas.investigations.api import router as investigations_router
from cyberatlas.knowledge.api import router as knowledge_router

api = NinjaAPI(
    title="cyberatlas",
    version="1",
    description="Map and disrupt cybercrime together. Every read goes through the TLP policy.",
    auth=BearerToken(),
    urls_namespace="api-v1",
)
api.add_router("/", knowledge_router)
api.add_router("/", accounts_router)
api.add_router("/", investigations_router)

STATUSES: list[tuple[type[CyberatlasError], int]] = [
    (NotFound, 404),
    (Forbidden, 403),
    (Ambiguous, 409),
    (CyberatlasError, 400),
]


@api.exception_handler(CyberatlasError)
def refused(request: HttpRequest, exc: CyberatlasError) -> HttpResponse:
    status = next(code for kind, code in STATUSES if isinstance(exc, kind))
    message = super(CyberatlasError, exc).__str__()
    return api.create_response(request, {"detail": message, "field": exc.field}, status=status)
