"""What the TAXII server serves: collections by audience, and STIX objects from statements.

A collection's objects are built from the statements its reader may read in it: each entity
becomes one SDO or SCO (its properties folded from its property statements), each relationship
statement one SRO whose id is the statement's own. Objects are ordered by the statement that
first brought them into the collection, so pages are keyset slices of the statement table:
``date_added`` is that statement's time, an object's version its latest statement's time.

A page reads statements as tuples, a part at a time, and asks the database, for the entities a
part names, whether an earlier statement of the collection named them (an index look-up each)
and the property statements of those it brings; a page costs a handful of queries whatever its
size. A part ends where its statements bring the objects the page misses, so that the entities
of the statements after it are neither looked up nor built. A page's cursor (``next``) is the
position after a statement or, when the page ends among the objects one statement brings, after
the first of them.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from django.db import connections
from django.db.models import CharField, Expression, Max, Min, Q, QuerySet
from django.utils import timezone

from cyberatlas.accounts.models import OrgKind, Role, User
from cyberatlas.core.references import DOMAIN_TYPES, OPAQUE_OBSERVABLE_TYPES
from cyberatlas.core.tlp import Marking
from cyberatlas.errors import CyberatlasError
from cyberatlas.investigations.models import Investigation
from cyberatlas.knowledge import entities, policy
from cyberatlas.knowledge.models import Entity, Statement
from cyberatlas.knowledge.services import CONTRIBUTOR_ROLES
from cyberatlas.knowledge.sql import ColumnCondition

from . import alongside
from .exports import OrganizationNames, Timestamp, fetch_rows, record_rows, to_record
from .models import TaxiiStatus
from .records import ExportEntity, ExportStatement
from .stix_export import CONTAINERS, folded_predicates, stix_objects

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


class Item(NamedTuple):
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


def _may_write(user: User, roles: set[str]) -> bool:
    org = user.organization
    return bool(org and org.kind != OrgKind.PARTNER and roles & set(CONTRIBUTOR_ROLES))


def collections_for(user: User) -> list[Collection]:
    roles = user.role_names()
    found = [_community(user, roles)]
    if Role.PARTNER in roles:
        return found
    may_write = _may_write(user, roles)
    for investigation in Investigation.objects.filter(memberships__user=user).order_by("name"):
        found.append(
            Collection(
                collection_id(investigation),
                investigation.name,
                "Statements of this investigation, for its members.",
                may_write,
                investigation,
            )
        )
    return found


def _community(user: User, roles: set[str]) -> Collection:
    org = user.organization
    return Collection(
        COMMUNITY,
        "Community",
        "What you may read outside investigations.",
        _may_write(user, roles) and org is not None and org.kind == OrgKind.MEMBER,
    )


def collection_for(user: User, wanted: str) -> Collection:
    if wanted == COMMUNITY:  # every reader's: no need to read their investigations
        return _community(user, user.role_names())
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


@functools.lru_cache(maxsize=4096)  # a page's objects share few times
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


def _cursor(row: tuple[Any, ...], served: int = 0) -> str:
    """The position after a statement or, when a page ends among the objects a statement
    brings, after the first ``served`` of them."""
    raw = f"{row[_CREATED].isoformat()}|{row[_ID]}" + (f"|{served}" if served else "")
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _position(cursor: str) -> tuple[dt.datetime, uuid.UUID, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, key, *within = raw.split("|")
        served = int(within[0]) if within else 0
        if len(within) > 1 or served < 0:
            raise ValueError(cursor)
        return dt.datetime.fromisoformat(moment), uuid.UUID(key), served
    except ValueError:
        raise BadFilter("next is not a value this server issued") from None


def _later_than(at: dt.datetime, pk: uuid.UUID | str) -> Q:
    """After (at, pk) in arrival order, written as a range the arrival index can seek to
    (an OR of two conditions makes SQLite scan the table)."""
    return Q(created_at__gte=at) & ~Q(created_at=at, pk__lte=pk)


def _from(at: dt.datetime, pk: uuid.UUID | str) -> Q:
    """At (at, pk) or after it in arrival order."""
    return Q(created_at__gte=at) & ~Q(created_at=at, pk__lt=pk)


def _before(at: dt.datetime, pk: uuid.UUID | str) -> Q:
    """Before (at, pk) in arrival order, as a range on the time, which an index holding the
    time checks without reading the statement."""
    return Q(created_at__lte=at) & ~Q(created_at=at, pk__gte=pk)


def objects_page(user: User, collection: Collection, filters: Filters) -> Page:
    """One page of objects, in the order they entered the collection: the objects of the
    statements after the cursor, built a part at a time until the page is full."""
    if filters.spec_versions and "2.1" not in filters.spec_versions:
        return Page([], None)
    base = _statements(user, collection)
    stream = base.order_by("created_at", "id")
    resumed, served = "", 0  # a statement some of whose objects the last page served
    if filters.next:
        at, pk, served = _position(filters.next)
        stream = stream.filter(_from(at, pk) if served else _later_than(at, pk))
        resumed = str(pk) if served else ""
    if filters.added_after:
        stream = stream.filter(created_at__gt=filters.added_after)
    stream = _narrowed(stream, filters)
    statements = _Statements(user, base, stream, max(filters.limit, 200))
    # Narrowed to some ids or types, the stream skips statements of the collection, so whether
    # an entity was named before is asked at the start of each chunk, not of the page.
    statements.contiguous = not (filters.ids or filters.types)
    # Unless filters drop objects, a part is cut where its statements bring the objects the
    # page misses: the entities of the statements after it are neither looked up nor built.
    countable = statements.contiguous and not _versions(filters)
    items: list[Item] = []
    start = part = 0
    dry = False  # whether the last part brought no object
    while True:
        # As many statements as the missing objects took so far, a tenth more (at first as many
        # as they take in a typical collection: each part costs a few queries), and twice as
        # many as the last part when it brought none; up to a few chunks.
        missing = filters.limit - len(items)
        guess = missing * start // len(items) + missing // 10 + 16 if items else missing * 7 // 5
        part = min(max(guess, 2 * part) if dry else guess, 4 * statements.scan)
        end = statements.read(start + part)
        if end == start:
            return Page(items, None)
        if countable:
            skipped = served if start == 0 and statements.rows[0][_ID] == resumed else 0
            end = statements.enough(start, end, missing + skipped)
        built = statements.objects(start, end)
        found = len(items)
        within = 0  # the index of an object among those of its statement
        for i, (n, item) in enumerate(built):
            within = within + 1 if i and built[i - 1][0] == n else 0
            if n == 0 and within < served and statements.rows[0][_ID] == resumed:
                continue
            if _wanted(item, filters):
                items.append(item)
            if len(items) == filters.limit:
                more = i + 1 < len(built) and built[i + 1][0] == n
                return Page(items, statements.cursor_after(n, within + 1 if more else 0))
        dry = len(items) == found
        start = end


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
    versions = _versions(filters)
    return not versions or item.version in versions


def _versions(filters: Filters) -> list[str]:
    """The versions asked for by value (``last``, ``first`` and ``all`` keep every object)."""
    return [v for v in filters.versions if v not in ("last", "first", "all")]


_Row = tuple[Any, ...]  # a statement, as ``exports.RECORD_FIELDS``
_ID, _SUBJECT, _PREDICATE, _OBJECT, _MARKING, _CREATED = 0, 1, 2, 4, 5, 11


class _Statements:
    """The statements of a page request, read a chunk of ``scan`` at a time, and the objects
    they bring into the collection.

    An entity comes at the first statement of its chunk that names it, unless a statement of
    the collection named it before the chunk; a relationship statement brings its SRO. An
    entity's object is built from all its property statements in the collection, a
    container's (a report, a grouping…) from its ``refers-to`` statements in the collection
    too, which are its ``object_refs``: whatever the page size, it is the object an export
    builds. As objects always were, an object that no statement dates is dated by the chunk's
    first statement."""

    def __init__(
        self, user: User, base: QuerySet[Statement], stream: QuerySet[Statement], scan: int
    ) -> None:
        self.user = user
        self.base = base
        self.stream = stream
        self.scan = scan
        self.contiguous = True
        self.rows: list[_Row] = []
        self.ended = False  # whether the stream has no statements after ``rows``
        self.decided = 0  # the entities of the rows before this one are decided
        self.brings: list[int] = []  # by row decided: the objects it brings, at most
        self.kinds: dict[str, tuple[str, str]] = {}  # type and key of each entity read
        self.known: set[str] = set()  # the entities named by the rows decided
        self.emit: dict[str, int] = {}  # entity: the row that brings it
        self.properties: dict[str, list[_Row]] = {}  # of the entities brought, once read
        # The strictest marking and the first time of the property statements of an entity
        # whose object takes no value from them (most observables), read only summed up.
        self.summed: dict[str, tuple[int, dt.datetime]] = {}
        # By the first row of a chunk: entities, and whether the collection named them before it.
        self.named_before: dict[int, _NamedBefore] = {}
        self.organizations = OrganizationNames(user.organization_id)
        self.vendor = connections[base.db].vendor

    def read(self, end: int) -> int:
        """Read rows until there are ``end`` (or the stream ends); the rows there are."""
        missing = end - len(self.rows)
        if missing > 0 and not self.ended:
            stream = self.stream
            if self.rows:
                stream = stream.filter(_later_than(self.rows[-1][_CREATED], self.rows[-1][_ID]))
            found = record_rows(stream, limit=missing)
            self.rows += found
            self.ended = len(found) < missing
        return min(end, len(self.rows))

    def cursor_after(self, n: int, served: int = 0) -> str | None:
        """The cursor after row ``n`` (or after the first ``served`` objects it brings), if
        the stream goes on after it."""
        row = self.rows[n]
        if served or n < len(self.rows) - 1:
            return _cursor(row, served)
        if self.ended or not self.stream.filter(_later_than(row[_CREATED], row[_ID])).exists():
            return None
        return _cursor(row)

    def objects(self, start: int, end: int) -> list[tuple[int, Item]]:
        """The objects rows ``start`` to ``end`` bring, each with the index of its row."""
        self._decide(end)
        emitted = [e for e, n in self.emit.items() if start <= n < end]
        self._look_up(emitted)  # known already, unless a filter skipped their statements
        kinds = self.kinds
        named = [e for e in emitted if kinds[e][0] in DOMAIN_TYPES or not kinds[e][1]]
        labels = self._load(
            emitted, (lambda: entities.named_labels(self.user, named)) if named else None
        )
        built: list[tuple[int, Item]] = []
        while start < end:
            chunk_end = min(end, (start // self.scan + 1) * self.scan)
            built += self._chunk_objects(start, chunk_end, labels)
            start = chunk_end
        return built

    def _chunk_objects(
        self, start: int, end: int, labels: dict[str, str]
    ) -> list[tuple[int, Item]]:
        """The objects of rows ``start`` to ``end``, all of one chunk."""
        first = self._chunk(start)[0]
        emitted = [e for e, n in self.emit.items() if start <= n < end]
        rows = self.rows
        # The refers-to statements of the containers brought are among their properties.
        containers = {e for e in emitted if self.kinds[e][0] in CONTAINERS}
        sros = [
            row
            for row in rows[start:end]
            if row[_OBJECT] is not None
            and not (row[_PREDICATE] == "refers-to" and row[_SUBJECT] in containers)
        ]
        properties = [row for e in emitted for row in self.properties[e]]
        # An object is marked with the strictest of the statements behind it: its properties
        # and the statement that brought it into the collection.
        markings = {e: _MARKINGS[rows[self.emit[e]][_MARKING]] for e in emitted}
        for row in properties:
            markings[row[_SUBJECT]] = max(markings[row[_SUBJECT]], _MARKINGS[row[_MARKING]])
        for e in emitted:
            if e in self.summed:
                markings[e] = max(markings[e], _MARKINGS[self.summed[e][0]])
        refs = [row[_OBJECT] for row in properties if row[_OBJECT] is not None]
        found = self._entities(
            [*emitted, *(row[_SUBJECT] for row in sros), *(row[_OBJECT] for row in sros), *refs],
            labels,
            markings,
        )
        records = self._records([*properties, *sros], found)
        objects = {
            obj["id"]: obj
            for obj in stix_objects(
                records,
                [found[e] for e in emitted],
                endpoints=False,
                undated=lambda: self._first_time(first),
            )
        }
        built: list[tuple[int, Item]] = []
        for n in range(start, end):
            row = rows[n]
            added = row[_CREATED]
            for entity_id in (row[_SUBJECT], row[_OBJECT]):
                if entity_id and self.emit.get(entity_id) == n and entity_id in objects:
                    built.append((n, _item(objects[entity_id], added)))
            if row[_OBJECT] is not None:
                sro = objects.get(f"relationship--{row[_ID]}")
                if sro is not None:
                    built.append((n, _item(sro, added)))
        return built

    def _chunk(self, n: int, *, whole: bool = False) -> tuple[int, int]:
        """The first and the end row of the chunk of row ``n``, read whole if asked, else as
        far as read."""
        first = n // self.scan * self.scan
        if whole:
            self.read(first + self.scan)
        return first, min(first + self.scan, len(self.rows))

    def _entities(
        self, ids: Iterable[str], labels: dict[str, str], markings: dict[str, Marking]
    ) -> dict[str, ExportEntity]:
        ids = set(ids)
        self._look_up(ids)
        kinds = self.kinds
        return {
            e: ExportEntity(
                e,
                kinds[e][0],
                kinds[e][1],
                labels.get(e, kinds[e][1]),
                markings.get(e, Marking.CLEAR),
            )
            for e in ids
        }

    def _look_up(self, ids: Iterable[str]) -> None:
        """Read the type and key of the entities not read yet: the look-ups of earlier
        statements leave them out, which the entities that bring nothing never need."""
        missing = set(ids) - self.kinds.keys()
        for some in _batches(list(missing), 5000):
            found = Entity.objects.filter(_Among("id", some)).values_list("id", "type", "key")
            self.kinds.update((e, (type_, key)) for e, type_, key in fetch_rows(found))

    def _records(
        self, rows: Sequence[_Row], found: dict[str, ExportEntity]
    ) -> list[ExportStatement]:
        names = self.organizations.of(row[6] for row in rows)
        return [to_record(row, found, names) for row in rows]

    def enough(self, start: int, end: int, wanted: int) -> int:
        """Where the rows from ``start`` bring ``wanted`` objects (at most ``end``), deciding
        them a step at a time: rows that may not be needed cost look-ups and objects built.

        A row brings its relationship and the entities it brings, or fewer (a sighting, an
        opaque observable), so the cut may fall short, never beyond the page's last object."""
        rows = self.rows
        while True:
            have = 0
            for n in range(start, min(self.decided, end)):
                have += self.brings[n]
                if have >= wanted:
                    return n + 1
            first = self.decided
            if first >= end:
                return end
            # At least as far as each row bringing all it may would take, at most as far as
            # its relationship alone would; in between, as far as the rate of the rows decided
            # says, a tenth more.
            need, most, least = wanted - have, 0, 0
            fewest = most_rows = end
            named: set[str] = set()
            for n in range(first, end):
                row = rows[n]
                least += row[_OBJECT] is not None
                most += row[_OBJECT] is not None
                for entity_id in (row[_SUBJECT], row[_OBJECT]):
                    if entity_id and entity_id not in self.known and entity_id not in named:
                        named.add(entity_id)
                        most += 1
                if most >= need and fewest == end:
                    fewest = n + 1
                if least >= need:
                    most_rows = n + 1
                    break
            step = fewest
            if have:
                step = max(step, first + need * (first - start) * 11 // (10 * have) + 8)
            elif first > start:  # the rows decided so far bring nothing: twice as many
                step = max(step, 3 * first - 2 * start)
            self._decide(min(step, most_rows))

    def _decide(self, end: int) -> None:
        """Decide which entities the rows up to ``end`` bring: ask whether a statement of the
        collection named them before their chunk; count the objects each row brings."""
        rows = self.rows
        first_undecided = self.decided
        if end <= first_undecided:
            return
        new: dict[str, int] = {}  # entity: the first row naming it
        for n in range(first_undecided, end):
            for entity_id in (rows[n][_SUBJECT], rows[n][_OBJECT]):
                if entity_id and entity_id not in self.known and entity_id not in new:
                    new[entity_id] = n
        self.brings += [int(rows[n][_OBJECT] is not None) for n in range(first_undecided, end)]
        self.decided = end
        # In a contiguous stream, what came before a later chunk is what came before the
        # first one and the chunks read since, which name none of these.
        groups: dict[int, list[str]] = {}
        for entity_id, n in new.items():
            groups.setdefault(0 if self.contiguous else self._chunk(n)[0], []).append(entity_id)
        questions: list[Callable[[], list[tuple[str, bool, str, str]]]] = []
        for first, ids in groups.items():
            boundary = rows[first]
            if first not in self.named_before:
                self.named_before[first] = _NamedBefore(
                    self.base, boundary[_CREATED], boundary[_ID]
                )
            for some in _batches(ids, _ASKED[self.vendor == "postgresql"]):
                questions.append(functools.partial(self.named_before[first].ask, some))
        for answers in alongside.run(self.base.db, questions):
            for entity_id, seen, type_, key in answers:
                self.known.add(entity_id)
                self.kinds[entity_id] = (type_, key)
                if not seen:
                    self.emit[entity_id] = new[entity_id]
                    self.brings[new[entity_id]] += 1

    def _load(
        self, emitted: Iterable[str], labels: Callable[[], dict[str, str]] | None = None
    ) -> dict[str, str]:
        """Read the property statements of the entities brought, whole or summed up, for
        those not read yet; and, asked at the same time, ``labels``."""
        emitted = [e for e in emitted if e not in self.properties]
        self._look_up(emitted)
        whole: list[str] = []  # entities whose property statements are read whole
        summed: list[str] = []
        containers: list[str] = []  # and their refers-to statements too
        for entity_id in emitted:
            self.properties[entity_id] = []
            type_ = self.kinds[entity_id][0]
            wanted = folded_predicates(type_)
            (whole if wanted is None or wanted else summed).append(entity_id)
            if type_ in CONTAINERS:
                containers.append(entity_id)
        reads: list[Callable[[], Any]] = [labels or dict]
        reads += [functools.partial(self._whole, some) for some in _batches(whole, _LOADED)]
        reads += [functools.partial(self._refs, some) for some in _batches(containers, _LOADED)]
        whole_parts = len(reads)
        reads += [functools.partial(self._summed, some) for some in _batches(summed, _LOADED)]
        found: list[Any] = alongside.run(self.base.db, reads)
        for part in found[1:whole_parts]:
            for row in part:
                self.properties[row[_SUBJECT]].append(row)
        for entity_id in containers:  # their properties and refs, in arrival order
            self.properties[entity_id].sort(key=lambda row: (row[_CREATED], row[_ID]))
        for part in found[whole_parts:]:
            for entity_id, marking, first in part:
                self.summed[entity_id] = (marking, first)
        return found[0]  # type: ignore[no-any-return]

    def _whole(self, ids: list[str]) -> list[_Row]:
        """The property statements of these entities, in arrival order."""
        properties = self.base.filter(_Property(), _Among("subject_id", ids))
        return record_rows(properties.order_by("created_at", "id"))

    def _refs(self, containers: list[str]) -> list[_Row]:
        """The refers-to statements of these containers, in arrival order."""
        refers = self.base.filter(_Among("subject_id", containers), predicate="refers-to")
        return record_rows(refers.order_by("created_at", "id"))

    def _summed(self, ids: list[str]) -> list[tuple[Any, ...]]:
        """For each of these entities, the strictest marking and the first time of its
        property statements."""
        properties = self.base.filter(_Property(), _Among("subject_id", ids)).order_by()
        sums = properties.values("subject_id").annotate(
            strictest=Max("marking"), first=Min(Timestamp("created_at"))
        )
        return fetch_rows(sums.values_list("subject_id", "strictest", "first"))

    def _first_time(self, first: int) -> dt.datetime | None:
        """The time of the first statement the objects of the chunk starting at row ``first``
        are built from (the properties of the entities it brings, its relationships), those
        naming an opaque observable aside, as the builder counts them."""
        end = self._chunk(first, whole=True)[1]
        self._decide(end)
        self._load(e for e, n in self.emit.items() if first <= n < end)
        relationships = [row for row in self.rows[first:end] if row[_OBJECT] is not None]
        self._look_up([row[_SUBJECT] for row in relationships])
        self._look_up([row[_OBJECT] for row in relationships])
        kinds = self.kinds
        times = [
            row[_CREATED]
            for row in self.rows[first:end]
            if row[_OBJECT] is not None
            and kinds[row[_SUBJECT]][0] not in OPAQUE_OBSERVABLE_TYPES
            and kinds[row[_OBJECT]][0] not in OPAQUE_OBSERVABLE_TYPES
        ]
        brought = [e for e, n in self.emit.items() if first <= n < end]
        self._look_up(row[_OBJECT] for e in brought for row in self.properties[e] if row[_OBJECT])
        for entity_id in brought:
            if kinds[entity_id][0] not in OPAQUE_OBSERVABLE_TYPES:
                times += [
                    row[_CREATED]
                    for row in self.properties[entity_id]
                    if row[_OBJECT] is None or kinds[row[_OBJECT]][0] not in OPAQUE_OBSERVABLE_TYPES
                ]
                if entity_id in self.summed:
                    times.append(self.summed[entity_id][1])
        return min(times, default=None)


_MARKINGS = {int(m): m for m in Marking}
# Entities asked about in one query whether they were named before, elsewhere and on PostgreSQL:
# some hundreds at a time there, beyond a cost its planner would compile the query before
# running it (JIT); the questions of a step are asked side by side.
_ASKED = (5000, 700)
_LOADED = 5000  # entities whose properties one query reads


def _batches(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class _NamedBefore:
    """Whether a statement of the collection named each of some entities before (at, pk): one
    look-up by subject and one by object for each, stopping at the first statement found; with
    each entity's type and key, which the page needs of every entity it names.

    One statement, compiled once, asks about a list of ids given as one parameter. It may be
    asked from several threads at once, each on its own connection."""

    def __init__(self, base: QuerySet[Statement], at: dt.datetime, pk: uuid.UUID | str) -> None:
        earlier = base.filter(_before(at, pk)).order_by()
        self.alias = base.db
        vendor = connections[base.db].vendor
        lookups: list[str] = []
        params: list[Any] = []
        for column in ("subject_id", "object_id"):
            found = earlier.filter(**{column: _Wanted()}).values("pk")[:1]
            sql, found_params = found.query.sql_with_params()
            # PostgreSQL would otherwise hash the subquery as a whole, reading every statement
            # before the page to answer for a thousand entities; OFFSET 0 keeps it from it.
            lookups.append(f"EXISTS({sql}{' OFFSET 0' if vendor == 'postgresql' else ''})")
            params += found_params
        if vendor == "postgresql":
            ids = "unnest(string_to_array(%s, ',')) AS wanted(id)"
        elif vendor == "sqlite":
            ids = "(SELECT value AS id FROM json_each(%s)) AS wanted"
        else:
            ids = "(SELECT %s AS id) AS wanted"  # one at a time
        entity = Entity._meta.db_table
        self.sql = (
            f'SELECT wanted.id, {lookups[0]} OR {lookups[1]}, "{entity}"."type", "{entity}"."key" '
            f'FROM {ids} JOIN "{entity}" ON "{entity}"."id" = wanted.id'
        )
        self.params = params
        self.vendor = vendor

    def ask(self, ids: list[str]) -> list[tuple[str, bool, str, str]]:
        """The ids, each with whether it was named before, its type and its key."""
        if self.vendor == "postgresql":
            assert not any("," in value for value in ids)  # entity ids hold none
            given = [",".join(ids)]
        elif self.vendor == "sqlite":
            given = [orjson.dumps(ids).decode()]
        else:
            given = ids
        found: list[tuple[str, bool, str, str]] = []
        with connections[self.alias].cursor() as cursor:
            for value in given:
                cursor.execute(self.sql, [*self.params, value])
                found += [
                    (entity_id, bool(seen), type_, key)
                    for entity_id, seen, type_, key in cursor.fetchall()
                ]
        return found


class _Wanted(Expression):
    """The id a look-up of ``_NamedBefore`` asks about."""

    output_field = CharField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        return "wanted.id", ()


class _Among(ColumnCondition):
    """``column IN (values)`` with the values as they are: Django prepares each value of an
    ``__in`` lookup, which for the thousand entity ids of a page costs more than the query."""

    def __init__(self, column: str, values: Iterable[str]) -> None:
        super().__init__(column)
        self.values = list(values)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        (column,) = self.compiled(compiler)
        # One parameter, not a thousand.
        if connection.vendor == "postgresql":
            assert not any("," in value for value in self.values)  # entity ids hold none
            return f"{column} = ANY(string_to_array(%s, ','))", (",".join(self.values),)
        if connection.vendor == "sqlite":
            return f"{column} IN (SELECT value FROM json_each(%s))", (
                orjson.dumps(self.values).decode(),
            )
        if not self.values:
            return "1 = 0", ()
        return f"{column} IN ({', '.join(['%s'] * len(self.values))})", tuple(self.values)


class _Property(ColumnCondition):
    """``object_id IS NULL``, kept from SQLite's planner, which would walk the object index
    through every property statement rather than look up the few subjects wanted."""

    def __init__(self) -> None:
        super().__init__("object_id")

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        (column,) = self.compiled(compiler)
        unindexed = "+" if connection.vendor == "sqlite" else ""
        return f"{unindexed}{column} IS NULL", ()


def _item(stix: dict[str, Any], added: dt.datetime) -> Item:
    version = stix.get("modified") or stix.get("created") or timestamp(added)
    return Item(stix["id"], stix["type"], str(version), added, stix)


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
