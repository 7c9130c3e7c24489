"""A TAXII 2.1 server at /taxii2/ (OASIS TAXII Version 2.1, OS, 2021).

Collections follow the audiences of the access policy: the community (what the reader may read
outside investigations) and each investigation the reader is a member of. Every object served
comes from statements the reader may read, so the same policy answers here as everywhere.

Authentication: HTTP Basic with username and password (refused for accounts that must use a
second factor: they use tokens), or ``Authorization: Bearer <API token>``.
"""

from __future__ import annotations

import base64
import gc
from collections.abc import Callable
from functools import wraps
from typing import Any

import orjson
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from cyberatlas.accounts import two_factor
from cyberatlas.accounts.models import ApiToken, User
from cyberatlas.errors import CyberatlasError
from cyberatlas.knowledge import audit

from . import taxii_objects
from .stix_import import KNOWN_MARKINGS
from .taxii_objects import Collection, Filters

MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
API_ROOT = "api"
MAX_CONTENT_LENGTH = 100 * 1024 * 1024
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000

View = Callable[..., HttpResponse]


def _response(
    data: object, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(orjson.dumps(data), status=status, content_type=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error(status: int, title: str, description: str = "") -> HttpResponse:
    """The TAXII error message resource (section 3.6.1)."""
    body: dict[str, Any] = {"title": title, "http_status": str(status)}
    if description:
        body["description"] = description
    response = _response(body, status)
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="cyberatlas TAXII", Bearer'
    return response


def _accepts(request: HttpRequest) -> bool:
    """Section 1.6.8: clients ask for the TAXII media type (the version may be omitted)."""
    accept = request.headers.get("Accept", "")
    if not accept or "*/*" in accept:
        return True
    wanted = [part.split(";")[0].strip() for part in accept.split(",")]
    versions = [part for part in accept.replace(" ", "").split(",") if "version=" in part]
    if "application/taxii+json" not in wanted:
        return False
    return all("version=2.1" in v for v in versions if v.startswith("application/taxii+json"))


def _user(request: HttpRequest) -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        token = ApiToken.lookup(credentials.strip())
        return token.user if token is not None and token.user.is_active else None
    if scheme.lower() == "basic" and credentials:
        try:
            username, _, password = base64.b64decode(credentials).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        user = authenticate(request, username=username, password=password)
        if not isinstance(user, User):
            return None
        if two_factor.required(user) or two_factor.confirmed_device(user) is not None:
            return None  # a password alone does not satisfy a second factor: use a token
        return user
    return None


def taxii_view(view: View) -> View:
    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _accepts(request):
            return error(406, "Not acceptable", f"this server speaks {MEDIA_TYPE}")
        user = _user(request)
        if user is None or not user.may_read:
            return error(401, "Authentication required", "HTTP Basic or a Bearer API token")
        try:
            return view(request, user, *args, **kwargs)
        except taxii_objects.UnknownCollection:
            return error(404, "No such collection")
        except CyberatlasError as exc:
            return error(400, "Bad request", str(exc))

    return wrapper


def _collector_paused(view: View) -> View:
    """A view that builds a page of objects, with the cycle collector paused: a page makes
    hundreds of thousands of short-lived objects, none in a cycle, and the collector would
    walk all that is alive several times a page (a quarter of the time the page takes)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> HttpResponse:
        collecting = gc.isenabled()
        gc.disable()
        try:
            return view(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()

    return wrapper


@taxii_view
def discovery(request: HttpRequest, user: User) -> HttpResponse:
    root = request.build_absolute_uri(f"/taxii2/{API_ROOT}/")
    return _response(
        {
            "title": "cyberatlas",
            "description": "Community knowledge of cybercrime, served under the TLP policy.",
            "default": root,
            "api_roots": [root],
        }
    )


@taxii_view
def api_root(request: HttpRequest, user: User) -> HttpResponse:
    return _response(
        {
            "title": "cyberatlas",
            "versions": [MEDIA_TYPE],
            "max_content_length": MAX_CONTENT_LENGTH,
        }
    )


def _collection_resource(collection: Collection) -> dict[str, Any]:
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "can_read": True,
        "can_write": collection.can_write,
        "media_types": [STIX_MEDIA_TYPE],
    }


@taxii_view
def collections(request: HttpRequest, user: User) -> HttpResponse:
    found = taxii_objects.collections_for(user)
    return _response({"collections": [_collection_resource(c) for c in found]})


@taxii_view
def collection(request: HttpRequest, user: User, collection_id: str) -> HttpResponse:
    return _response(_collection_resource(taxii_objects.collection_for(user, collection_id)))


def _filters(request: HttpRequest, object_id: str | None = None) -> Filters:
    params = request.GET
    try:
        limit = min(int(params.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
    except ValueError:
        raise taxii_objects.BadFilter("limit must be a whole number") from None
    added_after = params.get("added_after")
    ids = [object_id] if object_id else _list(params.get("match[id]"))
    return Filters(
        limit=max(1, limit),
        next=params.get("next"),
        added_after=taxii_objects.parse_timestamp(added_after) if added_after else None,
        ids=ids,
        types=_list(params.get("match[type]")),
        versions=_list(params.get("match[version]")) or ["last"],
        spec_versions=_list(params.get("match[spec_version]")),
    )


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _audited(user: User, action: str, page: taxii_objects.Page) -> None:
    """A page that serves AMBER+STRICT or RED objects is a read of that data, audited as every
    other read path audits it (one row per request). An object's marking is the strictest
    behind it, so its marking references say what was read."""
    audit.record_read(
        user,
        action,
        (
            KNOWN_MARKINGS[ref]
            for item in page.items
            for ref in item.stix.get("object_marking_refs", ())
            if ref in KNOWN_MARKINGS
        ),
    )


def _page_headers(page: taxii_objects.Page) -> dict[str, str]:
    if not page.items:
        return {}
    return {
        "X-TAXII-Date-Added-First": taxii_objects.timestamp(page.items[0].date_added),
        "X-TAXII-Date-Added-Last": taxii_objects.timestamp(page.items[-1].date_added),
    }


def _envelope(page: taxii_objects.Page) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.next is not None}
    if page.next is not None:
        body["next"] = page.next
    if page.items:
        body["objects"] = [item.stix for item in page.items]
    return body


@taxii_view
def objects(request: HttpRequest, user: User, collection_id: str) -> HttpResponse:
    found = taxii_objects.collection_for(user, collection_id)
    if request.method == "POST":
        return _add_objects(request, user, found)
    if request.method != "GET":
        return error(405, "Method not allowed")
    return _objects_page(request, user, found)


@_collector_paused
def _objects_page(request: HttpRequest, user: User, found: Collection) -> HttpResponse:
    page = taxii_objects.objects_page(user, found, _filters(request))
    _audited(user, "taxii.objects", page)
    return _response(_envelope(page), headers=_page_headers(page))


@taxii_view
@_collector_paused
def object_by_id(
    request: HttpRequest, user: User, collection_id: str, object_id: str
) -> HttpResponse:
    found = taxii_objects.collection_for(user, collection_id)
    page = taxii_objects.objects_page(user, found, _filters(request, object_id))
    if not page.items:
        return error(404, "No such object", object_id)
    _audited(user, "taxii.object", page)
    return _response(_envelope(page), headers=_page_headers(page))


@taxii_view
@_collector_paused
def versions(request: HttpRequest, user: User, collection_id: str, object_id: str) -> HttpResponse:
    found = taxii_objects.collection_for(user, collection_id)
    filters = _filters(request, object_id)
    page = taxii_objects.objects_page(user, found, filters._replace(versions=["all"]))
    if not page.items:
        return error(404, "No such object", object_id)
    _audited(user, "taxii.versions", page)
    body: dict[str, Any] = {
        "more": page.next is not None,
        "versions": [i.version for i in page.items],
    }
    return _response(body, headers=_page_headers(page))


@taxii_view
@_collector_paused
def manifest(request: HttpRequest, user: User, collection_id: str) -> HttpResponse:
    found = taxii_objects.collection_for(user, collection_id)
    page = taxii_objects.objects_page(user, found, _filters(request))
    _audited(user, "taxii.manifest", page)
    body: dict[str, Any] = {"more": page.next is not None}
    if page.next is not None:
        body["next"] = page.next
    if page.items:
        body["objects"] = [
            {
                "id": item.id,
                "date_added": taxii_objects.timestamp(item.date_added),
                "version": item.version,
                "media_type": STIX_MEDIA_TYPE,
            }
            for item in page.items
        ]
    return _response(body, headers=_page_headers(page))


def _add_objects(request: HttpRequest, user: User, found: Collection) -> HttpResponse:
    """Section 5.5: add objects; the import runs at once and the status is complete."""
    if not found.can_write:
        return error(403, "This collection does not accept your objects")
    content_type = request.headers.get("Content-Type", "")
    if not content_type.startswith("application/taxii+json"):
        return error(415, "Unsupported media type", f"send {MEDIA_TYPE}")
    if len(request.body) > MAX_CONTENT_LENGTH:
        return error(413, "Too large")
    status = taxii_objects.add_objects(user, found, request.body)
    return _response(status.resource(), status=202)


@taxii_view
def status(request: HttpRequest, user: User, status_id: str) -> HttpResponse:
    found = taxii_objects.status_for(user, status_id)
    if found is None:
        return error(404, "No such status")
    return _response(found)


urlpatterns = [
    path("", discovery, name="taxii-discovery"),
    path(f"{API_ROOT}/", api_root, name="taxii-root"),
    path(f"{API_ROOT}/collections/", collections, name="taxii-collections"),
    path(f"{API_ROOT}/collections/<str:collection_id>/", collection, name="taxii-collection"),
    path(f"{API_ROOT}/collections/<str:collection_id>/objects/", objects, name="taxii-objects"),
    path(
        f"{API_ROOT}/collections/<str:collection_id>/objects/<str:object_id>/",
        object_by_id,
        name="taxii-object",
    ),
    path(
        f"{API_ROOT}/collections/<str:collection_id>/objects/<str:object_id>/versions/",
        versions,
        name="taxii-versions",
    ),
    path(f"{API_ROOT}/collections/<str:collection_id>/manifest/", manifest, name="taxii-manifest"),
    path(f"{API_ROOT}/status/<str:status_id>/", status, name="taxii-status"),
]
