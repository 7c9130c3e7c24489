"""The ingest core: turns an importer's records into statements, in one transaction.

Importers only read; here the records are validated, observables normalized, entities resolved
(domain objects by their STIX id, or by the names the importing user may read), duplicates
recognised, provenance and markings stamped, and everything written in bulk. A file-level error
anywhere, or any rejection under ``strict``, rolls the whole import back.

"New" means new to the importing user: an entity they could not see before counts as created,
even when it exists under statements they may not read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, cast

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from cyberatlas.accounts.models import User
from cyberatlas.core import predicates
from cyberatlas.core.references import DOMAIN_TYPES, new_domain_object_id, type_of
from cyberatlas.core.tlp import Marking
from cyberatlas.errors import CyberatlasError
from cyberatlas.investigations.models import Investigation
from cyberatlas.knowledge import entities, policy, services
from cyberatlas.knowledge.models import Entity, Grant, Statement, StatementVersion
from cyberatlas.knowledge.services import Audience, checked_audience, contributor_check

from . import pipeline
from .bulk import RowWriter, any_of, db_uuids
from .matching import KINDS, TELLING, OwnRow, UseRow, Written, counts, propose_matches
from .models import ImportRun
from .prepare import Prepared, Preparer, Ready, Reject, Target
from .records import FileError, ImportContext, Importer, Rejected

KEPT_REJECTIONS = 1000
KEPT_MOMENTS = 10_000  # timestamps remembered in the database's form
# SQLite's page cache while an import writes (KiB): the indexes that take random inserts fit
# for a million statements. Given back when the import ends.
IMPORT_CACHE_KIB = 512 * 1024
ANALYZE_AFTER = 20_000  # PostgreSQL: fresh statistics once an import wrote this many rows


class StrictAbort(CyberatlasError):
    """``--strict``: a rejected item aborts the whole import."""


@dataclass
class ImportSummary:
    filename: str
    sha256: str
    format: str
    created: int = 0
    merged: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[Rejected] = field(default_factory=list)
    run_id: int | None = None
    proposals: int = 0

    @property
    def items(self) -> int:
        return self.created + self.merged + self.unchanged + self.rejected

    def reject(self, item: Rejected) -> None:
        self.rejected += 1
        if len(self.rejections) < KEPT_REJECTIONS:
            self.rejections.append(item)


@dataclass(frozen=True)
class ImportOptions:
    """What the command says about the input: marking override, audience and strictness."""

    tlp: Marking | None = None  # applies where the input has no marking; raises lower ones
    investigation: Investigation | None = None
    recipients: tuple[User, ...] = ()
    strict: bool = False


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def ingest(
    actor: User,
    importer: Importer,
    stream: BinaryIO,
    *,
    options: ImportOptions,
    context: ImportContext,
    sha256: str,
    progress: Callable[[int], None] | None = None,
    separate_reader: bool = False,
) -> ImportSummary:
    """Import everything ``importer`` reads from ``stream`` as ``actor``, atomically.

    ``progress`` is told how many more bytes of the input are done, batch by batch. With
    ``separate_reader`` a forked process reads while this one writes (``pipeline.py``): for
    large files, from a single-threaded process such as the command line.
    """
    contributor_check(actor)
    checked_audience(
        actor,
        Audience(
            options.tlp or Marking.CLEAR,
            options.investigation,
            options.recipients if options.tlp is Marking.RED else (),
        ),
    )
    summary = ImportSummary(context.filename, sha256, importer.name)
    started = timezone.now()
    with _roomy_cache(), _young_collections(), transaction.atomic():
        writer = _Writer(actor, importer, options, summary, f"sha256:{sha256}")
        writer.words = _WordIndex.deferred()
        done = 0
        preparer = Preparer(writer.evidence)
        for batch in pipeline.batches(
            importer, stream, context, preparer, separate_process=separate_reader
        ):
            writer.write(batch.prepared)
            gc.freeze()  # see _young_collections
            if progress is not None and batch.position > done:
                progress(batch.position - done)
                done = batch.position
            if options.strict and summary.rejected:
                first = summary.rejections[0]
                raise StrictAbort(f"--strict: {first.location}: {first.reason}")
        run = ImportRun.objects.create(
            actor=actor,
            organization_id=writer.org_id,
            filename=context.filename[:500],
            sha256=sha256,
            format=importer.name,
            started_at=started,
            finished_at=timezone.now(),
            created=summary.created,
            merged=summary.merged,
            unchanged=summary.unchanged,
            rejected=summary.rejected,
            rejections=[
                {"location": r.location, "reason": r.reason} for r in summary.rejections[:200]
            ],
        )
        summary.run_id = run.pk
        if writer.words is not None:
            writer.words.restore()
        summary.proposals = propose_matches(
            actor, writer.domain_entities, Written(writer.about, writer.using)
        )
    return summary


class _WordIndex:
    """SQLite's word index (FTS5, migration 0003), fed per batch instead of per row.

    The index flushes what it has gathered at the end of every SQL statement; fed by its
    insert trigger, one row per statement, that is a flush per statement, four fifths of the
    cost of writing a statement. An import drops the trigger inside its transaction, adds each
    batch's rows in one statement, and puts the trigger back, as it was, before committing.
    Other connections never see it missing (their snapshot, or the write lock, keeps them out);
    a failed import rolls the drop back with everything else.
    """

    TRIGGER = "knowledge_statement_words_insert"

    def __init__(self, definition: str) -> None:
        self.definition = definition

    @classmethod
    def deferred(cls) -> _WordIndex | None:
        if connection.vendor != "sqlite":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = %s", [cls.TRIGGER]
            )
            row = cursor.fetchone()
            if row is None:
                return None
            cursor.execute(f"DROP TRIGGER {cls.TRIGGER}")
        return cls(row[0])

    @staticmethod
    def last_row() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(rowid), 0) FROM knowledge_statement")
            return int(cursor.fetchone()[0])

    @staticmethod
    def add_after(row: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO knowledge_statement_words(rowid, value) "
                "SELECT rowid, value FROM knowledge_statement WHERE rowid > %s",
                [row],
            )

    def restore(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(self.definition)


@contextlib.contextmanager
def _young_collections() -> Iterator[None]:
    """The garbage collector's full passes walk every object alive, and an import keeps
    millions (the keys and ids it has seen), more with each batch: at a million objects they
    took a fifth of the writer's time. What a batch leaves alive is moved out of their sight
    (``gc.freeze`` after each batch) and given back when the import ends."""
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _roomy_cache() -> Iterator[None]:
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (before,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(before)}")


class _Resolved(NamedTuple):
    item: Ready
    subject: str
    object: str | None
    marking: Marking


class _Writer:
    """Writes prepared batches; keeps what it learnt (entities, names) across batches."""

    def __init__(
        self,
        actor: User,
        importer: Importer,
        options: ImportOptions,
        summary: ImportSummary,
        evidence: str,
    ) -> None:
        assert actor.organization_id is not None  # contributor_check: a vetted organization
        self.actor = actor
        self.org_id: int = actor.organization_id
        self.options = options
        self.summary = summary
        self.evidence = evidence
        self.default_marking = importer.default_marking()
        self.investigation_id = options.investigation.pk if options.investigation else None
        self.known: set[str] = set()  # entity ids that exist in the database
        self.visible: set[str] = set()  # entity ids the actor could see before this import
        self.created_here: set[str] = set()  # entity ids this import created
        self.names: dict[tuple[str, str], str] = {}  # (type, folded name) -> entity id
        self.domain_entities: set[str] = set()
        self.seen_keys: set[_Key] = set()
        self.written_subjects: set[str] = set()  # subjects of statements this import wrote
        self.written_objects: set[str] = set()  # and their objects
        # What match proposals read of the entities this import made (``matching.Written``).
        self.about: dict[str, list[OwnRow]] = {}
        self.using: dict[str, list[UseRow]] = {}
        self.revised: set[str] = set()  # entities named by statements this import revised
        self.pending_names: list[tuple[str, str]] = []  # entities this batch created by name
        self.recipients = [u for u in options.recipients if u.pk != actor.pk]
        self.markings: dict[Marking | None, Marking] = {}
        self.postgres = connection.vendor == "postgresql"
        self.adapt_moment = connection.ops.adapt_datetimefield_value
        self.moments: dict[dt.datetime, Any] = {}
        self.words: _WordIndex | None = None
        self.unanalyzed = 0  # PostgreSQL: rows written since the planner's statistics
        self.analyzed = 0
        self.lock_timeout = "0"
        if self.postgres:
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('lock_timeout')")
                self.lock_timeout = cursor.fetchone()[0]

    # -- markings ------------------------------------------------------------------------

    def marking_for(self, item: Ready) -> Marking:
        chosen = self.markings.get(item.marking)
        if chosen is not None:
            return chosen
        marking = item.marking if item.marking is not None else self.default_marking
        override = self.options.tlp
        if marking is None and override is None:
            raise FileError(
                "the input carries no TLP marking; give one with --tlp", location=item.location
            )
        chosen = max(m for m in (marking, override) if m is not None)
        if chosen is Marking.AMBER and self.options.investigation is None:
            raise FileError(
                "the input has TLP:AMBER items, which belong to an investigation: "
                "give --investigation NAME",
                location=item.location,
            )
        if chosen is Marking.RED and not self.options.recipients:
            raise FileError(
                "the input has TLP:RED items: name their readers with --recipient USERNAME",
                location=item.location,
            )
        self.markings[item.marking] = chosen
        return chosen

    # -- entities ------------------------------------------------------------------------

    def write(self, batch: Prepared) -> None:
        """Resolve a batch's entities and write what is new.

        An observable, or an object the input describes, is created when new. An identifier
        that only a relationship names must be in the input (earlier: importers emit objects
        before relationships) or already visible to the importing user; otherwise the item is
        rejected, and reveals nothing.
        """
        self.pending_names = []
        for rejected in batch.rejected:
            self.summary.reject(rejected)
        new = batch.described  # grows by the domain objects made for names below
        self._learn(new, batch.referenced, batch.names)
        resolved: list[_Resolved] = []
        domain = self.domain_entities
        for item in batch.ready:
            try:
                subject = self._final_id(item.subject, new)
                obj = self._final_id(item.object, new) if item.object is not None else None
                if item.error is not None:
                    raise Reject(item.error)
                resolved.append(_Resolved(item, subject, obj, self.marking_for(item)))
            except Reject as exc:
                self.summary.reject(Rejected(item.location, exc.reason))
                continue
            if item.subject.type in DOMAIN_TYPES:
                domain.add(subject)
            if obj is not None and item.object.type in DOMAIN_TYPES:  # type: ignore[union-attr]
                domain.add(obj)
        named = [row for entity_id, row in new.items() if entity_id not in self.known]
        _WRITERS.entities().insert(named)  # domain objects made for names: new ids
        made = {row[0] for row in named}
        self.created_here |= made
        self.known |= made
        names = [
            _Resolved(
                self._name_item(name), entity_id, None, self._name_marking(entity_id, resolved)
            )
            for entity_id, name in self.pending_names
        ]
        self._store(names + resolved)

    def _learn(
        self, described: dict[str, _Row], referenced: set[str], names: set[tuple[str, str]]
    ) -> None:
        """Per batch: the entities the claims describe are created where missing (which tells
        which existed), then which of the existing ones the actor sees, which names resolve."""
        missing = [row for entity_id, row in described.items() if entity_id not in self.known]
        created = _WRITERS.entities().insert_missing(missing)
        self.created_here |= created
        self.known |= created
        existing = {row[0] for row in missing} - created
        unknown = referenced - self.known
        if unknown:
            existing |= set(
                Entity.objects.filter(pk__in=any_of(unknown)).values_list("pk", flat=True)
            )
        if existing:
            self.known |= existing
            self.visible |= set(
                policy.visible_entities(self.actor)
                .filter(pk__in=any_of(existing))
                .values_list("pk", flat=True)
            )
        fresh_names = {n for n in names if n not in self.names}
        if fresh_names:
            folded = {name for _, name in fresh_names}
            rows = (
                policy.visible_statements(self.actor)
                .filter(predicate__in=entities.NAME_PREDICATES, folded__in=folded)
                .values_list("subject_id", "subject__type", "folded")
            )
            matches: dict[tuple[str, str], set[str]] = {}
            for subject_id, type_, name in rows:
                matches.setdefault((type_, name), set()).add(subject_id)
            for key in fresh_names:
                found = matches.get(key, set())
                if len(found) == 1:
                    entity_id = found.pop()
                    self.names[key] = entity_id
                    self.known.add(entity_id)
                    self.visible.add(entity_id)
                elif len(found) > 1:
                    self.names[key] = "ambiguous:" + ", ".join(sorted(found))

    def _final_id(self, target: Target, new: dict[str, _Row]) -> str:
        entity_id = target.entity_id
        if entity_id is not None:
            known = entity_id in self.visible or entity_id in self.created_here
            if entity_id not in new and not known:
                raise Reject(f"{entity_id} is neither in the input nor known")
            return entity_id
        key = (target.type, target.folded)
        found = self.names.get(key)
        if found is not None and found.startswith("ambiguous:"):
            raise Reject(f"{target.type}:{target.name} names several entities: {found[10:]}")
        if found is None:
            found = new_domain_object_id(target.type)
            self.names[key] = found
            new[found] = (found, target.type, "")
            self.pending_names.append((found, target.name or ""))
        return found

    def _name_item(self, name: str) -> Ready:
        """The name an input used for a domain object it did not identify otherwise."""
        return Ready(
            "name", Target(None, "name", None), None, "name", name, _NAME_FUNCTIONAL, None,
            None, "", self.evidence, None, None, None, "", "", entities.fold(name), None,
        )  # fmt: skip

    def _name_marking(self, entity_id: str, resolved: list[_Resolved]) -> Marking:
        """A name the input used is marked like the first item that named it."""
        for r in resolved:
            if entity_id in (r.subject, r.object):
                return r.marking
        return self.options.tlp if self.options.tlp is not None else Marking.CLEAR

    # -- writing -------------------------------------------------------------------------

    def _existing(
        self, resolved: Sequence[_Resolved]
    ) -> tuple[dict[_Key, _Known], dict[_Slot, _Known]]:
        """The statements this organization already made about these subjects that the actor
        may read: by their full key, and by (subject, predicate) for functional predicates."""

        # An entity this import created is named by no statement but those it wrote in earlier
        # batches: most claims of a large import need no look-up at all.
        def had(entity_id: str, written: set[str]) -> bool:
            return entity_id not in self.created_here or entity_id in written

        subjects = {
            r.subject
            for r in resolved
            if had(r.subject, self.written_subjects)
            and (r.object is None or had(r.object, self.written_objects))
        }
        if not subjects:
            return {}, {}
        # The subject index holds the organization: other organizations' rows about these
        # subjects (all of them, for a shared corpus) are passed over in the index, unread.
        query = (
            policy.visible_statements(self.actor)
            .filter(subject_id__in=any_of(subjects), organization_id=self.org_id)
            .order_by("created_at", "id")
            .values_list("subject_id", "predicate", "value", "object_id", "pk", "source_modified")
        )
        sql, params = query.query.sql_with_params()  # plain rows: no converters per value
        with connection.cursor() as cursor:
            cursor.execute(_by_subject_index(sql), params)
            rows = cursor.fetchall()
        by_key: dict[_Key, _Known] = {}
        by_slot: dict[_Slot, _Known] = {}
        for subject, predicate, value, obj, pk, modified in rows:
            known = _Known(pk, _moment(modified))
            by_key[(subject, predicate, value, obj)] = known
            if obj is None and _functional(predicate):
                by_slot[(subject, predicate)] = known
        return by_key, by_slot

    def _revise(self, revisions: list[tuple[_Known, _Resolved]]) -> None:
        """A newer version of what the source said: each statement gets a new version."""
        found = Statement.objects.select_for_update().in_bulk([_uuid(k.pk) for k, _ in revisions])
        for known, r in revisions:
            statement = found[_uuid(known.pk)]
            for entity_id in (statement.subject_id, statement.object_id):
                if entity_id is None:
                    continue
                self.revised.add(entity_id)  # matching reads what is said of them now
                self.about.pop(entity_id, None)
                self.using.pop(entity_id, None)
            item = r.item
            said = {name: getattr(item, name) for name in _REVISED}
            said["marking"] = int(r.marking)
            if statement.marking > said["marking"]:
                said["marking"] = statement.marking  # a source's new version never lowers it
            for name, value in said.items():
                setattr(statement, name, value)
            statement.folded = item.folded
            statement.source_modified = item.modified
            services.save_version(
                statement, StatementVersion.Change.REVISED, self.actor, "newer source version"
            )

    def _store(self, resolved: Sequence[_Resolved]) -> None:
        by_key, by_slot = self._existing(resolved)
        revisions: list[tuple[_Known, _Resolved]] = []
        fresh: list[_Resolved] = []
        dated: dict[_Slot, int] = {}  # one-valued properties of this batch -> place in fresh
        seen_keys, visible, summary = self.seen_keys, self.visible, self.summary
        for r in resolved:
            item = r.item
            key = (r.subject, item.predicate, item.value, r.object)
            known = by_key.get(key)
            slot = (r.subject, item.predicate)
            if known is None and item.functional and item.modified is not None:
                # Another version of a one-valued property, from a source that dates them.
                known = by_slot.get(slot)
                if known is None and slot in dated and key not in seen_keys:
                    # Two versions in one batch (a bundle may hold several): the newer is kept.
                    place = dated[slot]
                    if _newer(item.modified, fresh[place].item.modified):
                        fresh[place] = r
                        summary.merged += 1
                    else:
                        summary.unchanged += 1
                    seen_keys.add(key)
                    continue
            if known is not None or key in seen_keys:
                if known is not None and _newer(item.modified, known.modified):
                    revisions.append((known, r))
                    summary.merged += 1
                else:
                    summary.unchanged += 1
                continue
            seen_keys.add(key)
            if r.subject in visible or (r.object is not None and r.object in visible):
                summary.merged += 1
            else:
                summary.created += 1
            if item.functional and item.modified is not None:
                dated[slot] = len(fresh)
            fresh.append(r)
        now = timezone.now()
        stamp = now if self.postgres else self.adapt_moment(now)
        author, org = self.actor.pk, self.org_id
        statements: list[tuple[Any, ...]] = []
        grants: list[tuple[Any, ...]] = []
        recipient = Grant.Reason.RECIPIENT.value
        stored, investigation = self._stored, self.investigation_id
        for r, statement_id in zip(
            fresh, db_uuids(len(fresh), postgres=self.postgres), strict=True
        ):
            item = r.item
            statements.append(
                (statement_id, r.subject, item.predicate, r.object, org, author, stamp, stamp,
                 stored(item.modified), item.value, int(r.marking), investigation, item.source,
                 item.evidence, stored(item.first_seen), stored(item.last_seen), item.confidence,
                 item.source_grade, item.information_grade, item.folded, "unreviewed", 1, False)
            )  # fmt: skip
            if r.marking is Marking.RED:
                grants += [(statement_id, u.pk, author, now, recipient) for u in self.recipients]
        before = self.words.last_row() if self.words is not None and statements else None
        _WRITERS.statements().insert(statements)
        if self.words is not None and before is not None:
            self.words.add_after(before)
        self.written_subjects.update(r.subject for r in fresh)
        made, revised = self.created_here, self.revised
        for r in fresh:
            item = r.item
            if item.subject.type not in KINDS:
                continue
            if r.subject in made and r.subject not in revised and counts(item.predicate, r.object):
                self.about.setdefault(r.subject, []).append(
                    (r.subject, item.predicate, item.folded, item.value, r.object, int(r.marking))
                )
            obj = r.object
            if obj is not None and obj in made and obj not in revised and type_of(obj) in TELLING:
                self.using.setdefault(obj, []).append((r.subject, obj, int(r.marking)))
        self.written_objects.update(r.object for r in fresh if r.object is not None)
        if self.postgres:
            self._keep_statistics(len(statements))
        _WRITERS.grants().insert(grants)
        if revisions:
            self._revise(revisions)

    def _keep_statistics(self, written: int) -> None:
        """PostgreSQL plans this import's look-ups by statistics taken before it: a table that
        was empty still looks empty with a million rows in it, and index look-ups turn into
        scans. ``ANALYZE`` counts the rows this transaction wrote; run each time the tables have
        grown by as many rows as the last statistics saw (a few times per import).

        The count starts from nothing at each import, however large the tables: the statistics
        must learn what this import writes, not only how much. Counted from the table's size, an
        organization's first import into a corpus of others' ran on statistics that gave it no
        rows, and its look-ups of what it had said before took 86 ms a batch instead of 15 ms
        (the PostgreSQL import of the benchmark went from 6,555 to 4,828 objects/s).

        ``ANALYZE`` holds a lock that another import's ``ANALYZE`` waits for until this import
        commits; so it waits for nobody (a short lock timeout, in a savepoint) and is skipped
        while another import holds it: that import's statistics serve this one too."""
        self.unanalyzed += written
        if self.unanalyzed < max(ANALYZE_AFTER, self.analyzed):
            return
        self.analyzed += self.unanalyzed
        self.unanalyzed = 0
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', '100ms', true)")
                cursor.execute("ANALYZE knowledge_statement, knowledge_entity")
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [self.lock_timeout])
        except OperationalError:
            pass  # rolled back to the savepoint, setting included

    def _stored(self, moment: dt.datetime | None) -> Any:
        """A timestamp as its column takes it; SQLite's text form is remembered (a batch's
        claims share few timestamps, and Django's adaptation costs microseconds)."""
        if moment is None or self.postgres:
            return moment
        found = self.moments.get(moment)
        if found is None:
            if len(self.moments) >= KEPT_MOMENTS:
                self.moments.clear()
            found = self.moments[moment] = self.adapt_moment(moment)
        return found


_SAID = ("value", "marking", "investigation", "source", "evidence", "first_seen", "last_seen",
         "confidence", "source_grade", "information_grade")  # fmt: skip
# What a source's newer version may change of a statement (its marking only upwards).
_REVISED = ("value", "source", "evidence", "first_seen", "last_seen", "confidence",
            "source_grade", "information_grade")  # fmt: skip
_NAME_FUNCTIONAL = predicates.get("name").functional


class _Writers:
    """Row writers per database vendor, built on first use."""

    def __init__(self) -> None:
        self._cache: dict[str, RowWriter] = {}

    def _get(self, name: str, build: Callable[[], RowWriter]) -> RowWriter:
        key = f"{connection.vendor}:{name}"
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def statements(self) -> RowWriter:
        columns = ("id", "subject", "predicate", "object", "organization", "author",
                   "created_at", "updated_at", "source_modified", *_SAID, "folded", "vetting",
                   "version", "retracted")  # fmt: skip
        return self._get("statements", lambda: RowWriter(Statement, columns, adapt_dates=False))

    def grants(self) -> RowWriter:
        columns = ("statement", "user", "granted_by", "granted_at", "reason")
        return self._get("grants", lambda: RowWriter(Grant, columns, ignore_conflicts=True))

    def entities(self) -> RowWriter:
        return self._get(
            "entities", lambda: RowWriter(Entity, ("id", "type", "key"), ignore_conflicts=True)
        )


_WRITERS = _Writers()


_Key = tuple[str, str, str | None, str | None]
_Row = tuple[str, str, str]  # an entity row: id, type, key
_Slot = tuple[str, str]


@dataclass(frozen=True)
class _Known:
    pk: Any  # as the database returns it: 32 hex digits on SQLite, a UUID on PostgreSQL
    modified: dt.datetime | None


def _by_subject_index(sql: str) -> str:
    """SQLite: look statements up by the subject index. Its planner otherwise answers the
    organization condition with each branch of the policy's OR over the organization index
    (every statement of the organization: 40 times slower at a million); PostgreSQL's
    statistics lead it to the subject index unaided."""
    table = 'FROM "knowledge_statement" '
    if connection.vendor != "sqlite" or sql.count(table) != 1:
        return sql
    return sql.replace(table, f'{table}INDEXED BY "stmt_subject" ')


def _uuid(pk: Any) -> uuid.UUID:
    return pk if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk))


def _moment(value: Any) -> dt.datetime | None:
    """A timestamp as read without the ORM: SQLite keeps UTC without a zone."""
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _newer(claimed: dt.datetime | None, stored: dt.datetime | None) -> bool:
    """Whether the input carries a later version (STIX ``modified``) than the stored one."""
    return claimed is not None and (stored is None or claimed > stored)


def _functional(predicate: str) -> bool:
    try:
        return predicates.get(predicate).functional
    except KeyError:
        return False


# Files at least this large are read by a separate process when the caller allows it.
SEPARATE_READER_BYTES = 8 << 20


def import_path(
    actor: User,
    path: Path,
    importer: Importer,
    *,
    options: ImportOptions,
    mapping: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    separate_reader: bool = False,
) -> ImportSummary:
    """Import a file: its SHA-256 is taken first, then it is read once, streamed.

    ``progress`` is told how many more bytes of the file are done. ``separate_reader``
    allows a reading process for files of ``SEPARATE_READER_BYTES`` or more (see ``ingest``).
    """
    try:
        digest = sha256_of(path)
        raw = path.open("rb")
        size = path.stat().st_size
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror}") from None
    with raw:
        return ingest(
            actor,
            importer,
            cast(BinaryIO, raw),
            options=options,
            context=ImportContext(filename=path.name, mapping=mapping or {}),
            sha256=digest,
            progress=progress,
            separate_reader=separate_reader and size >= SEPARATE_READER_BYTES,
        )


__all__ = [
    "ImportOptions",
    "ImportSummary",
    "StrictAbort",
    "import_path",
    "ingest",
]
