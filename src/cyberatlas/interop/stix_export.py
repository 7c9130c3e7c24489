"""STIX 2.1 exporter: the statements a reader may read, as one bundle.

References are to the OASIS STIX 2.1 OS specification, written "STIX §x".

- Each entity is one object. Observables get their deterministic id and the properties their key
  stands for (STIX §6); domain objects keep their id, with ``name`` = the label the reader sees.
- Property statements fold into the object's properties where STIX has one (table below); the
  others (``observed-in``, ``status``, ``victims``, ``losses``, ``provider-kind``, ``chain``…, and
  any property of an observable but its name) have no STIX home and are left out.
- Relationship statements become relationship SROs (STIX §5.1) whose id is the statement's UUID,
  so it stays the same from one export to the next. ``refers-to`` from a report, grouping,
  note, opinion or observed-data becomes its ``object_refs``; ``sighted-at`` (an SDO sighted at
  an identity or location) and ``sightings`` become sightings (STIX §5.2). ``same-as`` is a
  cyberatlas judgement with no STIX counterpart and is left out.
- Opaque observables (network-traffic, process…) are left out, with the statements naming them:
  their key is a summary, and the properties STIX requires of them cannot be rebuilt from it.
- A domain object that STIX cannot express without data it lacks is left out: an indicator with
  no pattern, a container (report, grouping, note, opinion, observed-data) that refers to
  nothing the reader may see, a location with neither country nor region.
- Every object carries the TLP 2.0 marking (OASIS TLP 2.0 extension) of the strictest statement
  behind it, and is created by an identity for the exporting platform.
- OpenCTI's custom observables (cryptocurrency-wallet, bank-account, phone-number, hostname) are
  declared by extension definitions (STIX §7.3, ``new-sco``), as STIX 2.1 requires of custom
  objects.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

import orjson

from cyberatlas.core.references import DOMAIN_TYPES, OPAQUE_OBSERVABLE_TYPES
from cyberatlas.core.tlp import Marking

from .records import ExportEntity, ExportStatement
from .stix_import import CUSTOM_SCO_TYPES, TLP2_EXTENSION, TLP2_IDS

Obj = dict[str, Any]

# Namespace for the ids this exporter derives (relationships, sightings, identity, extensions).
_NAMESPACE = uuid.UUID("5b1d3a3e-9e0c-5c49-9a77-3c1f7a2d0c11")
_EPOCH = dt.datetime(2022, 10, 1, tzinfo=dt.UTC)  # the TLP 2.0 definitions' "created"
_HASHES = {32: "MD5", 40: "SHA-1", 64: "SHA-256", 128: "SHA-512"}
# Objects whose ``object_refs`` are their ``refers-to`` statements, not SROs.
CONTAINERS = frozenset({"report", "grouping", "note", "opinion", "observed-data"})
_ALIASES = frozenset(
    {"campaign", "infrastructure", "intrusion-set", "malware", "threat-actor", "tool"}
    | {"attack-pattern"}
)
_SEEN = frozenset({"campaign", "infrastructure", "intrusion-set", "malware", "threat-actor"})
_NO_DESCRIPTION = frozenset({"note", "opinion", "observed-data", "malware-analysis"})
_NAME_OPTIONAL = frozenset({"indicator", "location", "grouping", "note", "opinion"})
_OPINIONS = ("strongly-disagree", "disagree", "neutral", "agree", "strongly-agree")
_RESULTS = ("malicious", "suspicious", "benign", "unknown")
_WHERE_SIGHTED = frozenset({"identity", "location"})
_SIGHTED = DOMAIN_TYPES - CONTAINERS  # what a "sightings" count is a sighting of
# A version 4 UUID as ``str(uuid.UUID(...))`` writes it, which needs no parsing.
_CANONICAL_V4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@functools.lru_cache(maxsize=4096)  # a page's statements share few times
def _ts(value: dt.datetime) -> str:
    """STIX §3.2 timestamp: UTC, millisecond precision."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _id(type_: str, *parts: str) -> str:
    return f"{type_}--{uuid.uuid5(_NAMESPACE, chr(31).join(parts))}"


@functools.lru_cache(maxsize=256)
def _extension_id(identity_name: str, type_: str) -> str:
    return _id("extension-definition", "new-sco", identity_name, type_)


def _statement_id(type_: str, statement_id: str) -> str:
    """An SRO's id: the statement's own UUID (stable, and what TAXII looks objects up by) when
    it is a version 4 UUID, as STIX §2.9 asks of SROs; otherwise one derived from it."""
    if _CANONICAL_V4.fullmatch(statement_id):
        return f"{type_}--{statement_id}"
    try:
        found = uuid.UUID(statement_id)
    except ValueError:
        return _id(type_, statement_id)
    if found.variant == uuid.RFC_4122 and found.version == 4:
        return f"{type_}--{found}"
    return _id(type_, statement_id)


def _pattern_type(pattern: str) -> str:
    """STIX §10.14 pattern-type-ov, guessed from the text: the predicate holds any language."""
    text = pattern.lstrip()
    if text.startswith(("[", "(")):
        return "stix"
    if text.startswith(("rule ", "private rule ", "import ")) and "condition:" in text:
        return "yara"
    if "detection:" in text and ("title:" in text or "logsource:" in text):
        return "sigma"
    if text.startswith(("alert ", "drop ", "reject ", "pass ")):
        return "snort"
    return "unknown"


# What an observable's object takes from its property statements: the first value of one
# predicate, as one property.
_SCO_VALUES = {
    "autonomous-system": ("name", "name"),
    "file": ("name", "name"),
    "email-addr": ("alias", "display_name"),
    "user-account": ("alias", "display_name"),
}


def folded_predicates(type_: str) -> frozenset[str] | None:
    """The predicates of the property statements whose values the object of an entity of
    this type takes, all (None) for a domain object; its marking takes them all."""
    if type_ in DOMAIN_TYPES:
        return None
    found = _SCO_VALUES.get(type_)
    return frozenset({found[0]}) if found else frozenset()


def sco_properties(entity: ExportEntity) -> Obj | None:
    """The STIX properties an observable key stands for (the core's ID-contributing ones)."""
    key, type_ = entity.key, entity.type
    if not key:
        return None
    if type_ == "user-account":
        platform, sep, login = key.partition(":")
        return {"account_type": platform, "account_login": login} if sep else None
    if type_ == "autonomous-system":
        digits = key.upper().removeprefix("AS")
        return {"number": int(digits)} if digits.isdigit() else None
    if type_ in ("file", "x509-certificate"):
        algorithm = _HASHES.get(len(key))
        return {"hashes": {algorithm: key}} if algorithm else None
    if type_ == "bank-account":
        return {"iban": key}
    return {"value": key}


class _Entity:
    __slots__ = ("entity", "markings", "properties", "refs", "statements")

    def __init__(self, entity: ExportEntity) -> None:
        self.entity = entity
        self.markings = {entity.marking}
        self.properties: dict[str, list[str]] = {}  # distinct values by predicate, in order
        self.refs: list[str] = []  # object_refs of a container
        self.statements: list[ExportStatement] = []  # all folded into it

    def fold(self, statement: ExportStatement) -> None:
        self.markings.add(statement.marking)
        self.statements.append(statement)
        value = statement.value
        if value is not None:
            values = self.properties.get(statement.predicate)
            if values is None:
                self.properties[statement.predicate] = [value]
            elif value not in values:
                values.append(value)

    def values(self, predicate: str) -> list[str]:
        return list(self.properties.get(predicate, ()))


class _Builder:
    def __init__(
        self, identity_name: str, undated: Callable[[], dt.datetime | None] | None = None
    ) -> None:
        self.identity_name = identity_name
        self.identity_id = _id("identity", "cyberatlas-platform", identity_name)
        self.entities: dict[str, _Entity] = {}
        self.markings: set[Marking] = {Marking.CLEAR}  # the identity's
        self.custom_types: set[str] = set()
        self.first_created: dt.datetime | None = None
        self.undated = undated  # the time of the batch these statements are part of

    def entity(self, entity: ExportEntity) -> _Entity:
        found = self.entities.get(entity.id)
        if found is None:
            found = self.entities[entity.id] = _Entity(entity)
        return found

    def _common(self, object_id: str, marking: Marking) -> Obj:
        self.markings.add(marking)
        return {"spec_version": "2.1", "id": object_id, "object_marking_refs": [TLP2_IDS[marking]]}

    def add(self, statement: ExportStatement) -> Obj | None:
        """Take one statement; the SRO it becomes, if any (entities come at the end)."""
        subject, target = statement.subject, statement.object
        if subject.type in OPAQUE_OBSERVABLE_TYPES or (
            target is not None and target.type in OPAQUE_OBSERVABLE_TYPES
        ):
            return None
        if self.first_created is None or statement.created < self.first_created:
            self.first_created = statement.created
        entities = self.entities
        holder = entities.get(subject.id) or self.entity(subject)
        if target is None:
            if statement.predicate == "sightings" and subject.type in _SIGHTED:
                return self._sighting(statement, None)
            holder.fold(statement)
            return None
        if statement.predicate == "same-as":
            return None
        if target.id not in entities:
            self.entity(target)
        if statement.predicate == "refers-to" and subject.type in CONTAINERS:
            holder.markings.add(statement.marking)
            holder.statements.append(statement)
            if target.id not in holder.refs:
                holder.refs.append(target.id)
            return None
        if (
            statement.predicate == "sighted-at"
            and subject.type in DOMAIN_TYPES
            and target.type in _WHERE_SIGHTED
        ):
            return self._sighting(statement, target)
        return self._relationship(statement, target)

    def _provenance(self, obj: Obj, statement: ExportStatement) -> Obj:
        obj["created_by_ref"] = self.identity_id
        obj["created"] = _ts(statement.created)
        obj["modified"] = _ts(max(statement.modified, statement.created))
        if statement.confidence is not None:
            obj["confidence"] = statement.confidence
        if reference := self._source(statement):
            obj["external_references"] = [reference]
        return obj

    def _relationship(self, statement: ExportStatement, target: ExportEntity) -> Obj:
        marking = statement.marking
        self.markings.add(marking)
        obj: Obj = {
            "type": "relationship",
            "spec_version": "2.1",
            "id": _statement_id("relationship", statement.id),
            "object_marking_refs": [TLP2_IDS[marking]],
        }
        self._provenance(obj, statement)
        obj["relationship_type"] = statement.predicate
        obj["source_ref"] = statement.subject.id
        obj["target_ref"] = target.id
        first, last = statement.first_seen, statement.last_seen
        if first is not None:
            obj["start_time"] = _ts(first)
        if last is not None and (first is None or _ts(last) > _ts(first)):
            obj["stop_time"] = _ts(last)  # STIX §5.1: stop_time MUST be later than start_time
        return obj

    def _sighting(self, statement: ExportStatement, where: ExportEntity | None) -> Obj:
        obj: Obj = {"type": "sighting"} | self._common(
            _statement_id("sighting", statement.id), statement.marking
        )
        self._provenance(obj, statement)
        obj["sighting_of_ref"] = statement.subject.id
        if where is not None:
            obj["where_sighted_refs"] = [where.id]
        elif statement.value is not None and statement.value.isdigit():
            obj["count"] = min(int(statement.value), 999_999_999)
        first, last = statement.first_seen, statement.last_seen
        if first is not None:
            obj["first_seen"] = _ts(first)
        if last is not None and (first is None or _ts(last) >= _ts(first)):
            obj["last_seen"] = _ts(last)
        return obj

    def _sources(self, statements: Iterable[ExportStatement]) -> list[Obj]:
        """STIX §2.5 external references: each statement's source, and external ids."""
        found: list[Obj] = []
        for statement in statements:
            reference = self._source(statement)
            if reference is not None and reference not in found:
                found.append(reference)
        return found

    def _source(self, statement: ExportStatement) -> Obj | None:
        source = statement.source.strip()
        if not source and statement.predicate != "external-id":
            return None
        name = statement.organization or self.identity_name
        reference: Obj | None = None
        if statement.predicate == "external-id" and statement.value:
            prefix, sep, external_id = statement.value.partition(":")
            reference = (
                {"source_name": prefix, "external_id": external_id}
                if sep and prefix and external_id
                else {"source_name": name, "external_id": statement.value}
            )
            if source.startswith(("http://", "https://")):
                reference["url"] = source
        elif source.startswith(("http://", "https://")):
            reference = {"source_name": name, "url": source}
        elif source:
            reference = {"source_name": name, "description": source}
        return reference

    # -- entities -----------------------------------------------------------------------------

    def objects(self, ids: Iterable[str] | None = None) -> Iterator[Obj]:
        """The objects of these entities (by default all seen), each folded from its statements."""
        holders = self.entities.values() if ids is None else (self.entities[i] for i in ids)
        for holder in holders:
            built = self._sdo(holder) if holder.entity.type in DOMAIN_TYPES else self._sco(holder)
            if built is not None:
                yield built

    def _undated(self) -> dt.datetime:
        """The creation time of an object no statement dates: the batch's first statement's."""
        if self.undated is not None:
            self.first_created, self.undated = self.undated(), None
        return self.first_created or _EPOCH

    def _sco(self, holder: _Entity) -> Obj | None:
        entity = holder.entity
        properties = sco_properties(entity)
        if properties is None:
            return None
        marking = max(holder.markings)
        self.markings.add(marking)
        obj: Obj = {
            "type": entity.type,
            "spec_version": "2.1",
            "id": entity.id,
            "object_marking_refs": [TLP2_IDS[marking]],
            **properties,
        }
        value = _SCO_VALUES.get(entity.type)
        if value is not None and value[0] in holder.properties:
            obj[value[1]] = holder.properties[value[0]][0]
        if entity.type in CUSTOM_SCO_TYPES:
            # STIX §7.3: a custom SCO names the extension definition that defines it.
            self.custom_types.add(entity.type)
            extension = _extension_id(self.identity_name, entity.type)
            obj["extensions"] = {extension: {"extension_type": "new-sco"}}
        return obj

    def _sdo(self, holder: _Entity) -> Obj | None:
        entity, type_ = holder.entity, holder.entity.type
        statements = holder.statements
        obj: Obj = {"type": type_} | self._common(entity.id, max(holder.markings))
        obj["created_by_ref"] = self.identity_id
        created = min(s.created for s in statements) if statements else self._undated()
        modified = max((s.modified for s in statements), default=created)
        obj["created"], obj["modified"] = _ts(created), _ts(max(created, modified))
        confidences = [s.confidence for s in statements if s.confidence is not None]
        if confidences:
            obj["confidence"] = min(confidences)
        names = holder.values("name")
        name_key = {"note": "abstract", "malware-analysis": "product"}.get(type_, "name")
        if type_ not in ("opinion", "observed-data") and (names or type_ not in _NAME_OPTIONAL):
            obj[name_key] = entity.label
        aliases = [n for n in names if n != entity.label] + holder.values("alias")
        if aliases and type_ in _ALIASES:
            obj["aliases"] = list(dict.fromkeys(aliases))
        descriptions = "\n\n".join(holder.values("description"))
        description_key = {"note": "content", "opinion": "explanation"}.get(type_, "description")
        if descriptions and type_ not in _NO_DESCRIPTION:
            obj["description"] = descriptions
        labels = holder.values("label")
        if type_ == "opinion":
            chosen = next((v for v in labels if v in _OPINIONS), "neutral")
            obj["opinion"], labels = chosen, [v for v in labels if v != chosen]
            if descriptions:
                obj[description_key] = descriptions
        elif type_ == "malware-analysis":
            chosen = next((v for v in labels if v in _RESULTS), "unknown")
            obj["result"], labels = chosen, [v for v in labels if v != chosen]
        elif type_ == "note":
            obj["content"] = descriptions or entity.label
        if labels:
            obj["labels"] = labels
        roles = holder.values("role")
        if roles and type_ in ("threat-actor", "identity"):
            obj["roles"] = roles
        first = min((s.first_seen for s in statements if s.first_seen), default=None)
        last = max((s.last_seen for s in statements if s.last_seen), default=None)
        if type_ in _SEEN:
            if first is not None:
                obj["first_seen"] = _ts(first)
            if last is not None and (first is None or last >= first):
                obj["last_seen"] = _ts(last)
        if type_ == "malware":
            obj["is_family"] = True  # STIX §4.10 requires it; the knowledge base holds families
        elif type_ == "indicator":
            patterns = holder.values("pattern")
            if not patterns:
                return None
            obj["pattern"] = patterns[0]
            obj["pattern_type"] = _pattern_type(patterns[0])
            obj["valid_from"] = _ts(first or created)
        elif type_ == "location":
            countries = holder.values("country")
            regions = [v[7:] for v in labels if v.startswith("region:")]
            if countries:
                obj["country"] = countries[0]
            elif regions:
                obj["region"] = regions[0]
            else:
                return None
        if type_ in CONTAINERS:
            if not holder.refs:
                return None
            obj["object_refs"] = holder.refs
            if type_ == "report":
                obj["published"] = _ts(first or created)
            elif type_ == "grouping":
                obj["context"] = "unspecified"
            elif type_ == "observed-data":
                obj["first_observed"] = _ts(first or created)
                obj["last_observed"] = _ts(max(last or first or created, first or created))
                counts = [int(v) for v in holder.values("sightings") if v.isdigit()]
                obj["number_observed"] = max(1, min(max(counts, default=1), 999_999_999))
        if references := self._sources(statements):
            obj["external_references"] = references
        return obj

    # -- meta objects ---------------------------------------------------------------------------

    def meta(self) -> Iterator[Obj]:
        created = _ts(self.first_created or _EPOCH)
        yield {
            "type": "identity",
            "spec_version": "2.1",
            "id": self.identity_id,
            "created": created,
            "modified": created,
            "name": self.identity_name,
            "identity_class": "system",
            "object_marking_refs": [TLP2_IDS[Marking.CLEAR]],
        }
        for type_ in sorted(self.custom_types):
            properties = ", ".join(CUSTOM_SCO_TYPES[type_][:1])
            yield {
                "type": "extension-definition",
                "spec_version": "2.1",
                "id": _extension_id(self.identity_name, type_),
                "created_by_ref": self.identity_id,
                "created": created,
                "modified": created,
                "name": type_,
                "description": f"The {type_} observable of OpenCTI (pycti custom observable).",
                "schema": (
                    f"A STIX 2.1 cyber-observable of type '{type_}' whose identifying (and "
                    f"ID-contributing) property is '{properties}', a string, as OpenCTI "
                    "defines it (pycti, utils/constants.py)."
                ),
                "version": "1.0.0",
                "extension_types": ["new-sco"],
            }
        for marking in sorted(self.markings):
            # The TLP 2.0 marking definitions exactly as the OASIS extension publishes them.
            yield {
                "type": "marking-definition",
                "spec_version": "2.1",
                "id": TLP2_IDS[marking],
                "created": _ts(_EPOCH),
                "name": marking.label,
                "extensions": {
                    TLP2_EXTENSION: {
                        "extension_type": "property-extension",
                        "tlp_2_0": marking.slug,
                    }
                },
            }


def stix_objects(
    statements: Iterable[ExportStatement],
    entities: Iterable[ExportEntity] = (),
    *,
    identity_name: str = "cyberatlas",
    endpoints: bool = True,
    undated: Callable[[], dt.datetime | None] | None = None,
) -> list[Obj]:
    """The STIX objects (SDOs, SCOs, SROs) of these statements and of these entities even when
    no statement describes them, without the bundle's identity and marking definitions (TAXII
    serves objects one by one). ``endpoints=False`` leaves out the entities that only the
    relationships name; ``undated`` gives, when asked, the time of an object that no statement
    dates when these statements are part of a larger batch (by default the first of these)."""
    builder = _Builder(identity_name, undated)
    given = [builder.entity(entity).entity.id for entity in entities]
    relations = [obj for obj in map(builder.add, statements) if obj is not None]
    return list(builder.objects(None if endpoints else given)) + relations


def _bundle_id() -> str:
    return f"bundle--{uuid.uuid4()}"


def export_stix(statements: Iterable[ExportStatement], *, identity_name: str) -> Obj:
    """The statements as a STIX 2.1 bundle (a dict ready for ``json.dumps``)."""
    builder = _Builder(identity_name)
    relations = [obj for obj in map(builder.add, statements) if obj is not None]
    entities = list(builder.objects())
    objects = list(builder.meta()) + entities + relations
    return {"type": "bundle", "id": _bundle_id(), "objects": objects}


def write_stix(statements: Iterable[ExportStatement], stream: TextIO, identity_name: str) -> None:
    """Write the bundle to a text stream, relationships as they come: memory holds the entities
    (their properties are folded from statements anywhere in the input), not the relationships.
    """
    builder = _Builder(identity_name)
    stream.write(f'{{"type": "bundle", "id": "{_bundle_id()}", "objects": [')
    first = True

    def put(obj: Obj) -> None:
        nonlocal first
        stream.write(("\n" if first else ",\n") + orjson.dumps(obj).decode())
        first = False

    for statement in statements:
        if (obj := builder.add(statement)) is not None:
            put(obj)
    for obj in builder.objects():
        put(obj)
    for obj in builder.meta():
        put(obj)
    stream.write("\n]}\n")
