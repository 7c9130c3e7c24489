"""The ingest core: turns an importer's records into statements, in one transaction.

Importers only read; here the records are validated, observables normalized, entities resolved
(domain objects by their STIX id, or by the names the importing user may read), duplicates
recognised, provenance and markings stamped, and everything written in bulk. A file-level error
anywhere, or any rejection under ``strict``, rolls the whole import back.

"New" means new to the importing user: an entity they could not see before counts as created,
even when it exists under statements they may not read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, cast

from django.db import connection, models, transaction
from django.utils import timezone

from cyberatlas.accounts.models import User
from cyberatlas.core import predicates
from cyberatlas.core.observables import OBSERVABLE_TYPES, InvalidObservable, normalize
from cyberatlas.core.references import (
    DOMAIN_TYPES,
    ENTITY_TYPES,
    BadReference,
    new_domain_object_id,
    parse_reference,
)
from cyberatlas.core.tlp import Marking
from cyberatlas.errors import CyberatlasError
from cyberatlas.investigations.models import Investigation
from cyberatlas.knowledge import entities, policy, services
from cyberatlas.knowledge.models import Entity, Grant, Statement, StatementVersion
from cyberatlas.knowledge.services import Audience, checked_audience, contributor_check

from .bulk import RowWriter
from .models import ImportRun
from .records import Claim, FileError, ImportContext, Importer, Ref, Rejected

BATCH = 2000
KEPT_REJECTIONS = 1000


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
) -> ImportSummary:
    """Import everything ``importer`` reads from ``stream`` as ``actor``, atomically."""
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
    with transaction.atomic():
        writer = _Writer(actor, importer, options, summary, f"sha256:{sha256}")
        for batch in _batches(importer.read(stream, context)):
            writer.write(batch)
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
        from .matching import propose_matches  # after the writes: it reads them

        summary.proposals = propose_matches(actor, writer.domain_entities)
    return summary


def _batches(records: Iterator[Claim | Rejected]) -> Iterator[list[Claim | Rejected]]:
    while batch := list(islice(records, BATCH)):
        yield batch


@dataclass
class _Resolved:
    claim: Claim
    subject: str
    object: str | None
    value: str | None
    marking: Marking


class _Writer:
    """Writes batches of records; keeps what it learnt (entities, names) across batches."""

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
        self.observables: dict[tuple[str, str], tuple[str, str] | str] = {}  # -> (id, key)|error
        self.known: set[str] = set()  # entity ids that exist in the database
        self.visible: set[str] = set()  # entity ids the actor could see before this import
        self.created_here: set[str] = set()  # entity ids this import created
        self.names: dict[tuple[str, str], str] = {}  # (type, folded name) -> entity id
        self.domain_entities: set[str] = set()
        self.seen_keys: set[tuple[str, str, str | None, str | None]] = set()
        self.pending_names: list[tuple[str, str]] = []  # entities this batch created by name
        self.recipients = [u for u in options.recipients if u.pk != actor.pk]

    # -- markings ------------------------------------------------------------------------

    def marking_for(self, claim: Claim) -> Marking:
        marking = claim.marking if claim.marking is not None else self.default_marking
        override = self.options.tlp
        if marking is None and override is None:
            raise FileError(
                "the input carries no TLP marking; give one with --tlp", location=claim.location
            )
        chosen = max(m for m in (marking, override) if m is not None)
        if chosen is Marking.AMBER and self.options.investigation is None:
            raise FileError(
                "the input has TLP:AMBER items, which belong to an investigation: "
                "give --investigation NAME",
                location=claim.location,
            )
        if chosen is Marking.RED and not self.options.recipients:
            raise FileError(
                "the input has TLP:RED items: name their readers with --recipient USERNAME",
                location=claim.location,
            )
        return chosen

    # -- entities ------------------------------------------------------------------------

    def _observable(self, ref: Ref) -> tuple[str, str]:
        """(entity id, key) of an observable the input gives by value; raises on bad input."""
        assert ref.value is not None
        cache_key = (ref.type, ref.value)
        cached = self.observables.get(cache_key)
        if cached is None:
            try:
                found = normalize(ref.type, ref.value)
                cached = (found.stix_id, found.key)
            except InvalidObservable as exc:
                cached = str(exc)
            self.observables[cache_key] = cached
        if isinstance(cached, str):
            raise _Reject(cached)
        return cached

    def _by_id(self, ref: Ref) -> str:
        assert ref.stix_id is not None
        try:
            parsed = parse_reference(ref.stix_id)
        except (BadReference, InvalidObservable) as exc:
            raise _Reject(str(exc)) from None
        if parsed.kind != "id" or parsed.type != ref.type:
            raise _Reject(f"{ref.stix_id!r} is not a {ref.type} identifier")
        return parsed.value

    def plan(self, claims: Sequence[Claim]) -> tuple[list[_Resolved], dict[str, Entity]]:
        """Resolve every ref of a batch; returns the resolved claims and the entities to add.

        An observable given by value, or an object the input describes (the subject of a
        property), is created when new. An identifier that only a relationship names must be
        in the input (earlier: importers emit objects before relationships) or already visible
        to the importing user; otherwise the item is rejected, and reveals nothing.
        """
        new: dict[str, Entity] = {}
        pending: list[tuple[Claim, list[tuple[Ref, str | None]]]] = []
        referenced: set[str] = set()
        wanted_names: set[tuple[str, str]] = set()
        for claim in claims:
            refs: list[tuple[Ref, str | None]] = []
            describes = not _is_relationship(claim.predicate)
            try:
                for ref in (claim.subject, claim.object):
                    if ref is None:
                        continue
                    if ref.type not in ENTITY_TYPES:
                        raise _Reject(f"unknown entity type {ref.type!r}")
                    if ref.type in OBSERVABLE_TYPES and ref.value is not None:
                        entity_id, key = self._observable(ref)
                        new.setdefault(entity_id, Entity(id=entity_id, type=ref.type, key=key))
                    elif ref.stix_id is not None:
                        entity_id = self._by_id(ref)
                        opaque_value = ref.type not in DOMAIN_TYPES and ref.value is not None
                        if opaque_value or (describes and ref is claim.subject):
                            key = (ref.value or "")[:2048] if opaque_value else ""
                            new.setdefault(entity_id, Entity(id=entity_id, type=ref.type, key=key))
                        else:
                            referenced.add(entity_id)
                    elif ref.type in DOMAIN_TYPES and ref.name:
                        wanted_names.add((ref.type, entities.fold(ref.name)))
                        entity_id = None
                    else:
                        raise _Reject(f"a {ref.type} needs a value, an identifier or a name")
                    refs.append((ref, entity_id))
            except _Reject as exc:
                self.summary.reject(Rejected(claim.location, exc.reason))
                continue
            pending.append((claim, refs))
        self._learn(set(new) | referenced, wanted_names)
        resolved: list[_Resolved] = []
        for claim, refs in pending:
            try:
                ids = [self._final_id(ref, entity_id, new) for ref, entity_id in refs]
                resolved.append(self._checked(claim, ids))
            except _Reject as exc:
                self.summary.reject(Rejected(claim.location, exc.reason))
        return resolved, new

    def _learn(self, ids: set[str], names: set[tuple[str, str]]) -> None:
        """One look-up per batch: which ids exist, which the actor sees, which names resolve."""
        fresh = ids - self.known - self.created_here
        if fresh:
            existing = set(Entity.objects.filter(pk__in=fresh).values_list("pk", flat=True))
            self.known |= existing
            self.visible |= set(
                policy.visible_entities(self.actor)
                .filter(pk__in=existing)
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

    def _final_id(self, ref: Ref, entity_id: str | None, new: dict[str, Entity]) -> str:
        if entity_id is not None:
            known = entity_id in self.visible or entity_id in self.created_here
            if entity_id not in new and not known:
                raise _Reject(f"{entity_id} is neither in the input nor known")
            return entity_id
        assert ref.name is not None
        key = (ref.type, entities.fold(ref.name))
        found = self.names.get(key)
        if found is not None and found.startswith("ambiguous:"):
            raise _Reject(f"{ref.type}:{ref.name} names several entities: {found[10:]}")
        if found is None:
            found = new_domain_object_id(ref.type)
            self.names[key] = found
            new[found] = Entity(id=found, type=ref.type, key="")
            self.pending_names.append((found, ref.name))
        return found

    def _checked(self, claim: Claim, ids: list[str]) -> _Resolved:
        try:
            predicate = predicates.get(claim.predicate)
        except KeyError as exc:
            raise _Reject(str(exc.args[0])) from None
        subject = ids[0]
        obj = ids[1] if len(ids) > 1 else None
        value: str | None = None
        if predicate.relationship:
            if obj is None:
                raise _Reject(f"the {predicate.name!r} relationship needs an object")
            if predicate.value_required or claim.value is not None:
                value = self._value(predicate, claim.value or "same")
        else:
            if claim.value is None:
                raise _Reject(f"the {predicate.name!r} property needs a value")
            value = self._value(predicate, claim.value)
        for role, entity_id, ref in (
            ("subject", subject, claim.subject),
            ("object", obj, claim.object),
        ):
            allowed = predicate.subject_types if role == "subject" else predicate.object_types
            if entity_id is not None and ref is not None and allowed and ref.type not in allowed:
                raise _Reject(f"{predicate.name!r} does not take a {ref.type} as its {role}")
        return _Resolved(claim, subject, obj, value, self.marking_for(claim))

    @staticmethod
    def _value(predicate: predicates.Predicate, text: str) -> str:
        try:
            return predicate.normalize_value(text)
        except predicates.InvalidValue as exc:
            raise _Reject(f"{text[:80]!r} for {predicate.name!r}: {exc}") from None

    # -- writing -------------------------------------------------------------------------

    def write(self, records: Sequence[Claim | Rejected]) -> None:
        self.pending_names = []
        claims: list[Claim] = []
        for record in records:
            if isinstance(record, Rejected):
                self.summary.reject(record)
            else:
                claims.append(record)
        resolved, new = self.plan(claims)
        to_create = [e for entity_id, e in new.items() if entity_id not in self.known]
        _WRITERS.entities().insert([(e.id, e.type, e.key) for e in to_create])
        self.created_here |= {e.id for e in to_create}
        self.known |= {e.id for e in to_create}
        self.domain_entities |= {r.subject for r in resolved if _domain(r.subject)} | {
            r.object for r in resolved if r.object and _domain(r.object)
        }
        names = [
            _Resolved(
                Claim(location="name", subject=Ref("name"), predicate="name", value=name),
                entity_id,
                None,
                name,
                self._name_marking(entity_id, resolved),
            )
            for entity_id, name in self.pending_names
        ]
        self._store(names + resolved)

    def _name_marking(self, entity_id: str, resolved: list[_Resolved]) -> Marking:
        """A name the input used is marked like the first item that named it."""
        markings = [r.marking for r in resolved if entity_id in (r.subject, r.object)]
        return markings[0] if markings else (self.options.tlp or Marking.CLEAR)

    def _existing(
        self, resolved: Sequence[_Resolved]
    ) -> tuple[dict[_Key, _Known], dict[_Slot, _Known]]:
        """The statements this organization already made about these subjects that the actor
        may read: by their full key, and by (subject, predicate) for functional predicates."""
        subjects = {r.subject for r in resolved}
        # Only the subject narrows in SQL: an organization filter tempts the planner to walk
        # that organization's whole (ever growing) index instead of each subject's few rows.
        rows = (
            policy.visible_statements(self.actor)
            .filter(subject_id__in=subjects)
            .order_by("created_at", "id")
            .values_list(
                "subject_id", "predicate", "value", "object_id", "pk", "source_modified",
                "organization_id",
            )
        )  # fmt: skip
        by_key: dict[_Key, _Known] = {}
        by_slot: dict[_Slot, _Known] = {}
        for subject, predicate, value, obj, pk, modified, org in rows:
            if org != self.org_id:
                continue
            known = _Known(pk, modified)
            by_key[(subject, predicate, value, obj)] = known
            if obj is None and _functional(predicate):
                by_slot[(subject, predicate)] = known
        return by_key, by_slot

    def _revise(self, revisions: list[tuple[_Known, _Resolved]]) -> None:
        """A newer version of what the source said: each statement gets a new version."""
        found = Statement.objects.select_for_update().in_bulk([k.pk for k, _ in revisions])
        for known, r in revisions:
            statement = found[known.pk]
            said = dict(zip(_SAID, self._said(r), strict=False))
            said.pop("investigation")
            if statement.marking > said["marking"]:
                said["marking"] = statement.marking  # a source's new version never lowers it
            for name, value in said.items():
                setattr(statement, name, value)
            statement.folded = entities.fold(r.value) if r.value is not None else ""
            statement.source_modified = r.claim.modified
            services.save_version(
                statement, StatementVersion.Change.REVISED, self.actor, "newer source version"
            )

    def _store(self, resolved: Sequence[_Resolved]) -> None:
        by_key, by_slot = self._existing(resolved)
        now = timezone.now()
        statements: list[tuple[Any, ...]] = []
        versions: list[tuple[Any, ...]] = []
        grants: list[tuple[Any, ...]] = []
        revisions: list[tuple[_Known, _Resolved]] = []
        for r in resolved:
            key = (r.subject, r.claim.predicate, r.value, r.object)
            known = by_key.get(key)
            functional = r.object is None and _functional(r.claim.predicate)
            if known is None and functional and r.claim.modified is not None:
                # Another version of a one-valued property, from a source that dates them.
                known = by_slot.get((r.subject, r.claim.predicate))
            if known is not None or key in self.seen_keys:
                if known is not None and _newer(r.claim.modified, known.modified):
                    revisions.append((known, r))
                    self.summary.merged += 1
                else:
                    self.summary.unchanged += 1
                continue
            self.seen_keys.add(key)
            if r.subject in self.visible or (r.object is not None and r.object in self.visible):
                self.summary.merged += 1
            else:
                self.summary.created += 1
            statement_id = uuid.uuid4()
            said = self._said(r)
            statements.append(
                (statement_id, r.subject, r.claim.predicate, r.object, self.org_id,
                 self.actor.pk, now, now, r.claim.modified, *said)
            )  # fmt: skip
            versions.append((statement_id, now, self.actor.pk, *said[:-1]))
            if r.marking is Marking.RED:
                grants += [(statement_id, u.pk, self.actor.pk, now) for u in self.recipients]
        _WRITERS.statements().insert(statements)
        _WRITERS.versions().insert(versions)
        _WRITERS.grants().insert(grants)
        if revisions:
            self._revise(revisions)

    def _said(self, r: _Resolved) -> tuple[Any, ...]:
        """What a statement and its first version both say, in ``_SAID`` order, then the
        statement's ``folded`` look-up column."""
        claim = r.claim
        source = claim.source or claim.original_source
        if claim.original_source and claim.source and claim.original_source not in claim.source:
            source = f"{claim.source} (by {claim.original_source})"
        needs_investigation = r.marking is Marking.AMBER or self.options.investigation is not None
        investigation = self.options.investigation if needs_investigation else None
        return (
            r.value,
            int(r.marking),
            investigation.pk if investigation else None,
            source[:4000],
            "; ".join((self.evidence, *claim.terms))[:4000],
            claim.first_seen,
            claim.last_seen,
            claim.confidence,
            claim.source_grade,
            claim.information_grade,
            entities.fold(r.value) if r.value is not None else "",
        )


_SAID = ("value", "marking", "investigation", "source", "evidence", "first_seen", "last_seen",
         "confidence", "source_grade", "information_grade")  # fmt: skip


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
        return self._get(
            "statements", lambda: _Constants(Statement, columns, ("unreviewed", 1, False))
        )

    def versions(self) -> RowWriter:
        columns = ("statement", "edited_at", "edited_by", *_SAID, "number", "change", "note",
                   "retracted")  # fmt: skip
        constants = (1, StatementVersion.Change.CREATED.value, "import", False)
        return self._get("versions", lambda: _Constants(StatementVersion, columns, constants))

    def grants(self) -> RowWriter:
        columns = ("statement", "user", "granted_by", "granted_at", "reason")
        constants = (Grant.Reason.RECIPIENT.value,)
        return self._get(
            "grants", lambda: _Constants(Grant, columns, constants, ignore_conflicts=True)
        )

    def entities(self) -> RowWriter:
        return self._get(
            "entities", lambda: RowWriter(Entity, ("id", "type", "key"), ignore_conflicts=True)
        )


class _Constants(RowWriter):
    """A writer that appends the same trailing values to every row."""

    def __init__(
        self,
        model: type[models.Model],
        columns: Sequence[str],
        constants: tuple[Any, ...],
        *,
        ignore_conflicts: bool = False,
    ) -> None:
        super().__init__(model, columns, ignore_conflicts=ignore_conflicts)
        self.constants = constants

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        super().insert([row + self.constants for row in rows])


_WRITERS = _Writers()


_Key = tuple[str, str, str | None, str | None]
_Slot = tuple[str, str]


@dataclass(frozen=True)
class _Known:
    pk: uuid.UUID
    modified: dt.datetime | None


def _newer(claimed: dt.datetime | None, stored: dt.datetime | None) -> bool:
    """Whether the input carries a later version (STIX ``modified``) than the stored one."""
    return claimed is not None and (stored is None or claimed > stored)


def _functional(predicate: str) -> bool:
    try:
        return predicates.get(predicate).functional
    except KeyError:
        return False


def _is_relationship(predicate: str) -> bool:
    try:
        return predicates.get(predicate).relationship
    except KeyError:
        return False


def _domain(entity_id: str) -> bool:
    return entity_id.partition("--")[0] in DOMAIN_TYPES


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Counted(io.RawIOBase):
    """A file that reports how many bytes were read, for a progress bar by size."""

    def __init__(self, raw: BinaryIO, progress: Callable[[int], None]) -> None:
        self.raw = raw
        self.progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        if count:
            self.progress(count)
        return int(count or 0)


def import_path(
    actor: User,
    path: Path,
    importer: Importer,
    *,
    options: ImportOptions,
    mapping: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import a file: its SHA-256 is taken first, then it is read once, streamed.

    ``progress`` is told how many bytes of the file each read consumed.
    """
    try:
        digest = sha256_of(path)
        raw = path.open("rb")
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror}") from None
    with raw:
        stream: BinaryIO = raw
        if progress is not None:
            stream = cast(BinaryIO, io.BufferedReader(_Counted(raw, progress), 1 << 16))
        return ingest(
            actor,
            importer,
            stream,
            options=options,
            context=ImportContext(filename=path.name, mapping=mapping or {}),
            sha256=digest,
        )


__all__ = [
    "ImportOptions",
    "ImportSummary",
    "StrictAbort",
    "import_path",
    "ingest",
]
