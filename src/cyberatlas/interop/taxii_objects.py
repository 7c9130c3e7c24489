"""What the TAXII server serves: collections by audience, and STIX objects from statements.

A collection's objects are built from the statements its reader may read in it: each entity
becomes one SDO or SCO (its properties folded from its property statements), each relationship
statement one SRO whose id is the statement's own. Objects are ordered by the statement that
first brought them into the collection, so pages are keyset slices of the statement table:
``date_added`` is that statement's time, an object's version its latest statement's time.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from django.db.models import Q, QuerySet
from django.utils import timezone

from cyberatlas.accounts.models import OrgKind, Role, User
from cyberatlas.core.tlp import Marking
from cyberatlas.errors import CyberatlasError
from cyberatlas.investigations.models import Investigation
from cyberatlas.knowledge import entities, policy
from cyberatlas.knowledge.models import Entity, Statement
from cyberatlas.knowledge.services import CONTRIBUTOR_ROLES
from cyberatlas.knowledge.sql import ColumnCondition

from .exports import to_record
from .models import TaxiiStatus
from .records import ExportEntity

COMMUNITY = "6f1d2f4e-8a7b-4c39-9e21-3b0c5d7a9e10"
_NAMESPACE = uuid.UUID("3c8e0d56-0f51-4f0b-8f64-2b5a1d9c7e42")


class UnknownCollection(CyberatlasError):
    pass


class BadFilter(CyberatlasError):
    pass


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    can_write: bool
    investigation: Investigation | None = None


class Filters(NamedTuple):
    limit: int
    next: str | None
    added_after: dt.datetime | None
    ids: list[str]
    types: list[str]
    versions: list[str]
    spec_versions: list[str]


@dataclass(frozen=True)
class Item:
    id: str
    type: str
    version: str
    date_added: dt.datetime
    stix: dict[str, Any]


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next: str | None


def _v4_like(name: str) -> str:
    """A stable identifier shaped as the version-4 UUID that TAXII collection ids are."""
    raw = uuid.uuid5(_NAMESPACE, name).bytes
    return str(uuid.UUID(bytes=raw, version=4))


def collection_id(investigation: Investigation) -> str:
    return _v4_like(f"investigation:{investigation.pk}")


def _may_write(user: User) -> bool:
    org = user.organization
    roles = user.role_names()
    return bool(org and org.kind != OrgKind.PARTNER and roles & set(CONTRIBUTOR_ROLES))


def collections_for(user: User) -> list[Collection]:
    org = user.organization
    community = Collection(
        COMMUNITY,
        "Community",
        "What you may read outside investigations.",
        _may_write(user) and org is not None and org.kind == OrgKind.MEMBER,
    )
    found = [community]
    if Role.PARTNER in user.role_names():
        return found
    for investigation in Investigation.objects.filter(memberships__user=user).order_by("name"):
        found.append(
            Collection(
                collection_id(investigation),
                investigation.name,
                "Statements of this investigation, for its members.",
                _may_write(user),
                investigation,
            )
        )
    return found


def collection_for(user: User, wanted: str) -> Collection:
    for found in collections_for(user):
        if found.id == wanted:
            return found
    raise UnknownCollection(wanted)


class _OutsideInvestigations(ColumnCondition):
    """``investigation_id IS NULL``, kept from SQLite's planner: without statistics it takes
    the condition for a selective one and walks the investigation index, not the order."""

    def __init__(self) -> None:
        super().__init__("investigation_id")

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        (column,) = self.compiled(compiler)
        unindexed = "+" if connection.vendor == "sqlite" else ""
        return f"{unindexed}{column} IS NULL", ()


def _statements(user: User, collection: Collection) -> QuerySet[Statement]:
    readable = policy.visible_statements(user)
    if collection.investigation is None:
        return readable.filter(_OutsideInvestigations())
    return readable.filter(investigation=collection.investigation)


def timestamp(moment: dt.datetime) -> str:
    """STIX/TAXII timestamps: UTC, millisecond precision, 'Z'."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadFilter(f"{text!r} is not a timestamp") from None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=dt.UTC)


def _cursor(statement: Statement) -> str:
    raw = f"{statement.created_at.isoformat()}|{statement.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> Q:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, key = raw.partition("|")
        at, pk = dt.datetime.fromisoformat(moment), uuid.UUID(key)
    except ValueError:
        raise BadFilter("next is not a value this server issued") from None
    return _later_than(at, pk)


def _later_than(at: dt.datetime, pk: uuid.UUID) -> Q:
    """After (at, pk) in arrival order, written as a range the arrival index can seek to
    (an OR of two conditions makes SQLite scan the table)."""
    return Q(created_at__gte=at) & ~Q(created_at=at, pk__lte=pk)


def _before(statement: Statement) -> Q:
    return Q(created_at__lt=statement.created_at) | Q(
        created_at=statement.created_at, pk__lt=statement.pk
    )


def objects_page(user: User, collection: Collection, filters: Filters) -> Page:
    """One page of objects, in the order they entered the collection."""
    if filters.spec_versions and "2.1" not in filters.spec_versions:
        return Page([], None)
    base = _statements(user, collection)
    stream = base.order_by("created_at", "id")
    if filters.next:
        stream = stream.filter(_after(filters.next))
    if filters.added_after:
        stream = stream.filter(created_at__gt=filters.added_after)
    stream = _narrowed(stream, filters)
    items: list[Item] = []
    next_cursor: str | None = None
    scan = max(filters.limit, 200)
    while len(items) < filters.limit:
        rows = list(stream[:scan])
        if not rows:
            next_cursor = None
            break
        built = _build(user, base, rows)
        for row, item in built:
            if _wanted(item, filters):
                items.append(item)
            if len(items) == filters.limit:
                next_cursor = _cursor(row)
                break
        else:
            stream = stream.filter(_after(_cursor(rows[-1])))
            if len(rows) < scan:
                next_cursor = None
                break
            continue
        break
    if next_cursor is not None and not stream.filter(_after(next_cursor)).exists():
        next_cursor = None
    return Page(items, next_cursor)


def _narrowed(stream: QuerySet[Statement], filters: Filters) -> QuerySet[Statement]:
    """Push what the filters allow into SQL; ``_wanted`` checks each object exactly."""
    if filters.ids:
        entity_ids = [i for i in filters.ids if not i.startswith("relationship--")]
        statement_ids = []
        for i in filters.ids:
            if i.startswith("relationship--"):
                try:
                    statement_ids.append(uuid.UUID(i.partition("--")[2]))
                except ValueError:
                    continue
        stream = stream.filter(
            Q(subject_id__in=entity_ids) | Q(object_id__in=entity_ids) | Q(pk__in=statement_ids)
        )
    if filters.types and "relationship" not in filters.types:
        stream = stream.filter(
            Q(subject__type__in=filters.types) | Q(object__type__in=filters.types)
        )
    return stream


def _wanted(item: Item, filters: Filters) -> bool:
    if filters.ids and item.id not in filters.ids:
        return False
    if filters.types and item.type not in filters.types:
        return False
    versions = [v for v in filters.versions if v not in ("last", "first", "all")]
    return not versions or item.version in versions


def _build(
    user: User, base: QuerySet[Statement], rows: Sequence[Statement]
) -> list[tuple[Statement, Item]]:
    """The objects these statements bring into the collection, each with its statement."""
    touched = {r.subject_id for r in rows} | {r.object_id for r in rows if r.object_id}
    first = rows[0]
    earlier = base.filter(_before(first))
    seen = set(earlier.filter(subject_id__in=touched).values_list("subject_id", flat=True))
    seen |= set(earlier.filter(object_id__in=touched).values_list("object_id", flat=True))
    emit: dict[str, Statement] = {}
    for row in rows:
        for entity_id in (row.subject_id, row.object_id):
            if entity_id and entity_id not in seen and entity_id not in emit:
                emit[entity_id] = row
    objects = _stix_objects(user, base, emit, [r for r in rows if _relationship(r)])
    built: list[tuple[Statement, Item]] = []
    for row in rows:
        for entity_id in (row.subject_id, row.object_id):
            if entity_id and emit.get(entity_id) is row and entity_id in objects:
                built.append((row, _item(objects[entity_id], row.created_at)))
        if _relationship(row):
            sro = objects.get(f"relationship--{row.pk}")
            if sro is not None:
                built.append((row, _item(sro, row.created_at)))
    return built


def _relationship(statement: Statement) -> bool:
    return statement.object_id is not None


def _item(stix: dict[str, Any], added: dt.datetime) -> Item:
    version = stix.get("modified") or stix.get("created") or timestamp(added)
    return Item(stix["id"], stix["type"], str(version), added, stix)


def _stix_objects(
    user: User, base: QuerySet[Statement], emit: dict[str, Statement], sros: list[Statement]
) -> dict[str, dict[str, Any]]:
    """STIX objects for the entities to emit and the relationship statements, by id."""
    from .stix import stix_objects

    properties = list(
        base.filter(subject_id__in=list(emit), object__isnull=True).select_related("organization")
    )
    involved = set(emit) | {s.subject_id for s in sros} | {s.object_id for s in sros if s.object_id}
    # An object is marked with the strictest of the statements behind it: its properties and
    # the statement that brought it into the collection.
    markings = {entity_id: Marking(row.marking) for entity_id, row in emit.items()}
    for statement in properties:
        marking = Marking(statement.marking)
        markings[statement.subject_id] = max(markings[statement.subject_id], marking)
    shown = entities.labels(user, involved)
    found = {
        e.pk: ExportEntity(e.pk, e.type, e.key, shown[e.pk], markings.get(e.pk, Marking.CLEAR))
        for e in Entity.objects.filter(pk__in=involved)
    }
    viewer_org = user.organization_id
    records = [to_record(s, found, viewer_org) for s in [*properties, *sros]]
    entity_stubs = [found[e] for e in emit if e in found]
    return {obj["id"]: obj for obj in stix_objects(records, entity_stubs)}


@dataclass(frozen=True)
class Status:
    """The status resource of an add request (section 4.3.1); imports finish at once."""

    id: str
    requested_at: dt.datetime
    successes: list[dict[str, str]]
    failures: list[dict[str, str]]

    def resource(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": "complete",
            "request_timestamp": timestamp(self.requested_at),
            "total_count": len(self.successes) + len(self.failures),
            "success_count": len(self.successes),
            "successes": self.successes,
            "failure_count": len(self.failures),
            "failures": self.failures,
            "pending_count": 0,
            "pendings": [],
        }


def add_objects(user: User, collection: Collection, body: bytes) -> Status:
    """Import an envelope's objects through the ingest core, as this user."""
    import io

    from . import ingest
    from .records import ImportContext
    from .stix import StixImporter

    requested = timezone.now()
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadFilter(f"the body is not JSON: {exc}") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
        raise BadFilter("the body must be an envelope with an 'objects' list")
    objects = envelope["objects"]
    bundle = orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})
    summary = ingest.ingest(
        user,
        StixImporter(),
        io.BytesIO(bundle),
        options=ingest.ImportOptions(investigation=collection.investigation),
        context=ImportContext(filename=f"taxii:{collection.title}"),
        sha256=_sha256(bundle),
    )
    failed = {_index(r.location): r.reason for r in summary.rejections}
    successes, failures = [], []
    for n, obj in enumerate(objects):
        entry = {"id": str(obj.get("id", "")) if isinstance(obj, dict) else ""}
        if isinstance(obj, dict) and obj.get("modified"):
            entry["version"] = str(obj["modified"])
        if n in failed:
            failures.append({**entry, "message": failed[n]})
        else:
            successes.append(entry)
    status = Status(str(uuid.uuid4()), requested, successes, failures)
    TaxiiStatus.objects.create(
        id=status.id, owner=user, requested_at=requested, resource=status.resource()
    )
    return status


def _index(location: str) -> int:
    """The object index in an importer location such as ``objects[12] indicator--…``."""
    head = location.partition("]")[0]
    digits = head.rpartition("[")[2]
    return int(digits) if digits.isdigit() else -1


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def status_for(user: User, status_id: str) -> dict[str, Any] | None:
    """A status resource, for the user who made the request only."""
    try:
        key = uuid.UUID(status_id)
    except ValueError:
        return None
    found = TaxiiStatus.objects.filter(pk=key, owner=user).first()
    return found.resource if found is not None else None
