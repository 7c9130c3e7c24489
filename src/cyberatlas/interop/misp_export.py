"""MISP event export: one event (``{"Event": …}``) that pymisp's ``MISPEvent`` loads.

Each entity is one MISP object (its usual template for observables), each relationship an
ObjectReference; every attribute is tagged with the strictest marking of the statements that
show its entity, and the event with the strictest of all.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, TextIO

from cyberatlas.core.references import DOMAIN_TYPES
from cyberatlas.core.tlp import Marking

from . import records as r
from .misp import wallet_family

# --- export --------------------------------------------------------------------------------

_NAMESPACE = uuid.UUID("3b0c6f0e-5d1a-4c55-9a43-2f6e1c8d7b10")  # stable uuids per entity
_HASHES = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_CATEGORIES = {
    "file": "Payload delivery", "coin-address": "Financial fraud", "phone": "Person",
    "bank-account": "Financial fraud", "user-account": "Social network",
}  # fmt: skip
_META = {"file": "file", "coin-address": "financial", "bank-account": "financial"}
# (MISP object template, relation, MISP type) of the observables with one obvious form.
_OBJECTS = {
    "domain-name": ("domain-ip", "domain", "domain"),
    "hostname": ("domain-ip", "hostname", "hostname"),
    "ipv4-addr": ("ip-port", "ip", "ip-dst"), "ipv6-addr": ("ip-port", "ip", "ip-dst"),
    "url": ("url", "url", "url"), "email-addr": ("email", "from", "email-src"),
    "autonomous-system": ("asn", "asn", "AS"), "bank-account": ("bank-account", "iban", "iban"),
    "phone-number": ("phone", "msisdn", "phone-number"),
    "mac-addr": ("device", "MAC-address", "mac-address"),
}  # fmt: skip


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def _observable_parts(entity: r.ExportEntity) -> tuple[str, list[tuple[str, str, str]]] | None:
    """(MISP object name, [(object relation, MISP type, value)]) of an observable."""
    key, type_ = entity.key, entity.type
    if type_ in _OBJECTS:
        name, relation, misp_type = _OBJECTS[type_]
        return name, [(relation, misp_type, key)]
    if type_ == "file" and len(key) in _HASHES:
        return "file", [(_HASHES[len(key)], _HASHES[len(key)], key)]
    if type_ == "x509-certificate" and len(key) in (40, 64):
        relation = f"x509-fingerprint-{_HASHES[len(key)]}"
        return "x509", [(relation, relation, key)]
    if type_ == "cryptocurrency-wallet":
        family = wallet_family(key)
        if family in ("btc", "xmr"):  # the types MISP has; others by symbol
            return "coin-address", [("address" if family == "btc" else "address-xmr", family, key)]
        symbol = [("symbol", "text", family.upper())] if family else []
        return "coin-address", [("address-crypto", "text", key), *symbol]
    if type_ == "user-account" and ":" in key:
        platform, _, login = key.partition(":")
        return "user-account", [("username", "text", login), ("account-type", "text", platform)]
    return None


def _epoch(value: dt.datetime | None) -> str:
    return str(int(value.timestamp())) if value else ""


def misp_event(
    statements: Iterable[r.ExportStatement],
    *,
    info: str,
    org_name: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """One ``{"Event": …}`` of the statements, as ``pymisp.MISPEvent.load`` takes it.

    One MISP object per entity (observables in their usual template: ``domain-ip``, ``file``,
    ``coin-address``…; domain objects in one named by their type), one ObjectReference per
    relationship statement, its predicate as relationship type: attributes cannot reference
    each other, and comments would lose direction and type. ``label`` statements are tags,
    ``description`` the comment, a file's ``name`` its ``filename``, other properties text
    attributes named after the predicate. An attribute is tagged with the strictest marking of
    the statements showing its entity, relationships included (references carry no tags: a
    relationship never reads back less strict); the event with the strictest of all.
    """
    now = now or dt.datetime.now(dt.UTC)
    entities: dict[str, r.ExportEntity] = {}
    marking: dict[str, Marking] = {}
    properties: dict[str, list[r.ExportStatement]] = defaultdict(list)
    relationships: list[r.ExportStatement] = []
    for statement in statements:
        for entity in (statement.subject, statement.object):
            if entity is not None:
                entities.setdefault(entity.id, entity)
                marking[entity.id] = max(marking.get(entity.id, entity.marking), statement.marking)
        if statement.object is None:
            properties[statement.subject.id].append(statement)
        else:
            relationships.append(statement)
    objects = {
        entity_id: built
        for entity_id, entity in entities.items()
        if (built := _export_object(entity, properties[entity_id], marking[entity_id]))
    }
    for s in relationships:
        source, target = objects.get(s.subject.id), objects.get(s.object.id if s.object else "")
        if source is not None and target is not None:
            source["ObjectReference"].append({
                "uuid": _uid(s.id), "object_uuid": source["uuid"],
                "referenced_uuid": target["uuid"], "relationship_type": s.predicate,
                "comment": s.value or "",
            })  # fmt: skip
    org = {"name": org_name, "uuid": _uid("org", org_name)}
    return {
        "Event": {
            "uuid": str(uuid.uuid4()), "info": info, "date": now.date().isoformat(),
            "timestamp": _epoch(now), "analysis": "2", "threat_level_id": "4",
            "distribution": "0",  # the receiving MISP's own sharing; TLP tags say the rest
            "published": False, "Orgc": org, "Org": org,
            "Tag": [{"name": f"tlp:{max(marking.values(), default=Marking.CLEAR).slug}"}],
            "Attribute": [], "Object": list(objects.values()),
        }
    }  # fmt: skip


def _export_object(
    entity: r.ExportEntity, statements: list[r.ExportStatement], marking: Marking
) -> dict[str, Any] | None:
    object_uuid = _uid(entity.id)
    values: list[tuple[str, str, str]] = []  # (relation, MISP type, value)
    if entity.type in DOMAIN_TYPES:
        object_name = entity.type
        names = [s.value for s in statements if s.predicate == "name" and s.value]
        values.append(("name", "text", names[0] if names else entity.label))
    elif (parts := _observable_parts(entity)) is not None:
        object_name, values = parts
        values += [("filename", "filename", s.value) for s in statements
                   if s.predicate == "name" and s.value and object_name == "file"]  # fmt: skip
    else:
        return None
    main = values[0]
    done = {"name"} if entity.type in DOMAIN_TYPES or object_name == "file" else set()
    done |= {"label", "description"} if entity.type not in DOMAIN_TYPES else set()
    intrusion = object_name == "intrusion-set"  # its template says "aliases"
    values += [("aliases" if intrusion and s.predicate == "alias" else s.predicate, "text", s.value)
               for s in statements if s.value and s.predicate not in done]  # fmt: skip
    first = [s.first_seen for s in statements if s.first_seen]
    last = [s.last_seen for s in statements if s.last_seen]
    modified = max((s.modified for s in statements), default=None)
    attributes = []
    for relation, misp_type, value in values:
        attribute: dict[str, Any] = {
            "uuid": _uid(object_uuid, relation, value), "object_relation": relation,
            "type": misp_type, "value": value, "to_ids": False, "distribution": "5",
            "category": _CATEGORIES.get(object_name, "Network activity" if entity.key else "Other"),
            "disable_correlation": misp_type == "text", "timestamp": _epoch(modified),
            "Tag": [{"name": f"tlp:{marking.slug}"}],
        }  # fmt: skip
        if (relation, misp_type, value) == main and entity.type not in DOMAIN_TYPES:
            labels = [s.value for s in statements if s.predicate == "label" and s.value]
            attribute["Tag"] += [{"name": label} for label in labels]
            descriptions = [s.value for s in statements if s.predicate == "description" and s.value]
            attribute["comment"] = "\n".join(descriptions)[:65_000]
            attribute |= {"first_seen": min(first).isoformat()} if first else {}
            attribute |= {"last_seen": max(last).isoformat()} if last else {}
        attributes.append(attribute)
    return {
        "uuid": object_uuid, "name": object_name, "distribution": "5", "comment": "",
        "meta-category": _META.get(object_name, "network" if entity.key else "misc"),
        "timestamp": _epoch(modified), "Attribute": attributes, "ObjectReference": [],
    }  # fmt: skip


def write_misp_event(
    statements: Iterable[r.ExportStatement], stream: TextIO, org_name: str = "", *, info: str = ""
) -> None:
    """Write :func:`misp_event` as JSON to a text stream.

    ``org_name`` may come by position: the export command passes it so to every writer.
    """
    info = info or f"cyberatlas export{' by ' + org_name if org_name else ''}"
    json.dump(misp_event(statements, info=info, org_name=org_name), stream, ensure_ascii=False)
    stream.write("\n")
