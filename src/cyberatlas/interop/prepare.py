"""Claims made ready to write: everything about a claim that needs no database.

Observables are normalized and identified, identifiers checked, the predicate and its value
validated, provenance composed. What is left for the writer (``ingest.py``) needs the
database: which entities exist and which the importer may see, names to look up, what the
organization said before. Preparing is pure, so it may run in a reading process of its own
(``pipeline.py``); a prepared claim is a plain tuple, cheap to send there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import NamedTuple

from cyberatlas.core import predicates
from cyberatlas.core.observables import OBSERVABLE_TYPES, InvalidObservable, normalize
from cyberatlas.core.references import (
    DOMAIN_TYPES,
    ENTITY_TYPES,
    BadReference,
    parse_reference,
)
from cyberatlas.core.tlp import Marking
from cyberatlas.knowledge.entities import fold

from .records import Claim, Record, Ref, Rejected

CACHED = 200_000  # normalized values and ids remembered, each (then forgotten: bounded memory)


class Target(NamedTuple):
    """One end of a claim: an entity by id, or a domain object by name."""

    entity_id: str | None  # None: found (or made) by ``name``
    type: str
    key: str | None  # the input describes or gives it by value: created when new, with this key
    name: str | None = None  # as the input wrote it, to look up (folded) and to record
    folded: str = ""


class Ready(NamedTuple):
    """A claim with its entities identified and its value checked."""

    location: str
    subject: Target
    object: Target | None
    predicate: str
    value: str | None
    functional: bool  # one value per subject: a newer source version revises it
    marking: Marking | None  # as the input marks it
    modified: dt.datetime | None
    source: str
    evidence: str
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    confidence: int | None
    source_grade: str
    information_grade: str
    folded: str
    error: str | None  # why it is rejected, unless an unknown entity rejects it first


class Prepared(NamedTuple):
    rejected: list[Rejected]  # the importer's own rejections first, then bad references
    ready: list[Ready]
    # What the writer looks up for the whole batch, gathered here to spare it a pass:
    described: dict[str, tuple[str, str, str]]  # entities the claims give: id -> (id, type, key)
    referenced: set[str]  # ids the claims only name (they must exist)
    names: set[tuple[str, str]]  # (type, folded name) of domain objects given by name


class Reject(Exception):
    """An item the import rejects, with the reason it reports."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Preparer:
    """Prepares an import's claims; remembers each observable it normalized."""

    def __init__(self, evidence: str) -> None:
        self.evidence = evidence
        self.observables: dict[tuple[str, str], tuple[str, str] | str] = {}
        self.ids: dict[tuple[str, str], tuple[str, str]] = {}  # -> (canonical id, error)

    def prepare(self, records: Iterable[Record]) -> Prepared:
        rejected: list[Rejected] = []
        bad_refs: list[Rejected] = []
        ready: list[Ready] = []
        for record in records:
            if isinstance(record, Rejected):
                rejected.append(record)
                continue
            try:
                ready.append(self._ready(record))
            except Reject as exc:
                bad_refs.append(Rejected(record.location, exc.reason))
        described: dict[str, tuple[str, str, str]] = {}
        referenced: set[str] = set()
        names: set[tuple[str, str]] = set()
        for item in ready:
            for target in (item.subject, item.object):
                if target is None:
                    continue
                if target.entity_id is None:
                    names.add((target.type, target.folded))
                elif target.key is None:
                    referenced.add(target.entity_id)
                elif target.entity_id not in described:
                    described[target.entity_id] = (target.entity_id, target.type, target.key)
        return Prepared(rejected + bad_refs, ready, described, referenced, names)

    def _ready(self, claim: Claim) -> Ready:
        predicate: predicates.Predicate | None
        error: str | None = None
        try:
            predicate = predicates.get(claim.predicate)
        except KeyError as exc:
            predicate, error = None, str(exc.args[0])
        describes = predicate is None or not predicate.relationship
        subject = self._target(claim.subject, creates=describes)
        obj = self._target(claim.object, creates=False) if claim.object is not None else None
        value: str | None = claim.value
        if predicate is not None:
            try:
                value = self._checked(predicate, claim, obj)
            except Reject as exc:
                error = exc.reason
        source = claim.source or claim.original_source
        if claim.original_source and claim.source and claim.original_source not in claim.source:
            source = f"{claim.source} (by {claim.original_source})"
        return Ready(
            claim.location,
            subject,
            obj,
            claim.predicate,
            value,
            predicate is not None and predicate.functional and obj is None,
            claim.marking,
            claim.modified,
            source[:4000],
            "; ".join((self.evidence, *claim.terms))[:4000],
            claim.first_seen,
            claim.last_seen,
            claim.confidence,
            claim.source_grade,
            claim.information_grade,
            fold(value) if value is not None else "",
            error,
        )

    def _target(self, ref: Ref, *, creates: bool) -> Target:
        if ref.type not in ENTITY_TYPES:
            raise Reject(f"unknown entity type {ref.type!r}")
        if ref.type in OBSERVABLE_TYPES and ref.value is not None:
            entity_id, key = self._observable(ref.type, ref.value)
            return Target(entity_id, ref.type, key)
        if ref.stix_id is not None:
            entity_id = self._by_id(ref.type, ref.stix_id)
            opaque_value = ref.type not in DOMAIN_TYPES and ref.value is not None
            if opaque_value:
                return Target(entity_id, ref.type, (ref.value or "")[:2048])
            return Target(entity_id, ref.type, "" if creates else None)
        if ref.type in DOMAIN_TYPES and ref.name:
            return Target(None, ref.type, None, ref.name, fold(ref.name))
        raise Reject(f"a {ref.type} needs a value, an identifier or a name")

    def _observable(self, type_: str, raw: str) -> tuple[str, str]:
        cache_key = (type_, raw)
        found = self.observables.get(cache_key)
        if found is None:
            try:
                observable = normalize(type_, raw)
                found = (observable.stix_id, observable.key)
            except InvalidObservable as exc:
                found = str(exc)
            if len(self.observables) >= CACHED:
                self.observables.clear()
            self.observables[cache_key] = found
        if isinstance(found, str):
            raise Reject(found)
        return found

    def _by_id(self, type_: str, stix_id: str) -> str:
        """The canonical form of a STIX id of this type (relationships repeat them: cached)."""
        cache_key = (type_, stix_id)
        found = self.ids.get(cache_key)
        if found is None:
            try:
                parsed = parse_reference(stix_id)
                if parsed.kind != "id" or parsed.type != type_:
                    found = ("", f"{stix_id!r} is not a {type_} identifier")
                else:
                    found = (parsed.value, "")
            except (BadReference, InvalidObservable) as exc:
                found = ("", str(exc))
            if len(self.ids) >= CACHED:
                self.ids.clear()
            self.ids[cache_key] = found
        if found[1]:
            raise Reject(found[1])
        return found[0]

    def _checked(
        self, predicate: predicates.Predicate, claim: Claim, obj: Target | None
    ) -> str | None:
        value: str | None = None
        if predicate.relationship:
            if obj is None:
                raise Reject(f"the {predicate.name!r} relationship needs an object")
            if predicate.value_required or claim.value is not None:
                value = _value(predicate, claim.value or "same")
        else:
            if claim.value is None:
                raise Reject(f"the {predicate.name!r} property needs a value")
            value = _value(predicate, claim.value)
        for role, ref, allowed in (
            ("subject", claim.subject, predicate.subject_types),
            ("object", claim.object, predicate.object_types),
        ):
            if ref is not None and allowed and ref.type not in allowed:
                raise Reject(f"{predicate.name!r} does not take a {ref.type} as its {role}")
        return value


def _value(predicate: predicates.Predicate, text: str) -> str:
    try:
        return predicate.normalize_value(text)
    except predicates.InvalidValue as exc:
        raise Reject(f"{text[:80]!r} for {predicate.name!r}: {exc}") from None
