"""MISP: events and galaxy cluster files in, one event out.

**Events** (:class:`MispImporter`; ``{"Event": …}``, ``{"response": [{"Event": …}]}`` or a list):
an attribute of a type in ``_ATTRIBUTE_TYPES``, top level or in an object, is an observable
``observed-in`` the event's info. On an event about a threat (threat-actor, intrusion-set,
malware or tool galaxy clusters on the event or attribute), the threat ``uses`` what an operation
runs on (domains, addresses, URLs, accounts, wallets: ``uses`` takes the capability of its
object's type, which choke-point analysis needs) and its ATT&CK techniques, and is
``related-to`` samples and certificates (evidence, not dependencies). ``domain|ip`` and
``domain-ip`` add ``resolves-to``, a file object's hashes are ``same-as`` each other, file names
are ``name``, comments ``description``, other attribute tags ``label``, object text attributes
named after a property predicate that property. An ObjectReference relates the entities of its
two ends by the registered predicate of its name, a mapped one (``_RELATIONS``) or
``related-to``; one to an ``av-signature`` object is a ``label`` (the detection name).
Unsupported types are rejected, naming the type; ``text``, ``comment``, ``link`` and ``other``
attributes (prose, references) are skipped.

Provenance: the strictest ``tlp:*`` tag of the attribute, else of the event, marks each claim
(every claim carries it: the ingest core asks ``default_marking()`` before reading);
``admiralty-scale`` tags give the grades, ``Orgc.name`` the original source, the event uuid the
source (``misp-event:<uuid>``), ``first_seen``/``last_seen`` (else ``timestamp`` as last seen)
the dates; ``to_ids``, a detection hint, is ignored.

**Galaxies** (:class:`MispGalaxyImporter`): a cluster is a domain object named by its value, with
``alias`` per synonym, ``description``, ISO ``country``, ``external-id`` (``misp-galaxy:<uuid>``,
ATT&CK ids); ransomware ``meta.links`` are ``uses`` URLs (and onion hosts as domains, the
identity other sources use), ransom-note e-mail addresses ``communicates-via``, wallets with a
valid checksum ``receives-payment-via``; ``related`` links within the file are relationships.
Galaxies carry no marking: ``--tlp`` is needed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, TypeAlias
from urllib.parse import urlsplit

import pycountry

from cyberatlas.core import predicates
from cyberatlas.core.observables import InvalidObservable, normalize
from cyberatlas.core.references import DOMAIN_TYPES
from cyberatlas.core.tlp import Marking
from cyberatlas.core.wallets import InvalidWallet, parse_wallet

from .records import Claim, FileError, ImportContext, Record, Ref, Rejected
from .text import find_indicators

__all__ = ["MispGalaxyImporter", "MispImporter", "wallet_family"]

_MAX_BYTES = 256 << 20  # MISP JSON is read whole: refuse what cannot be an event export
_THREATS = frozenset({"threat-actor", "intrusion-set", "malware", "tool", "campaign"})
_INFRASTRUCTURE = frozenset(predicates.OBSERVABLE_FUNCTIONS)  # what "uses" gives a capability
_PROPERTIES = frozenset(p.name for p in predicates.all_predicates() if not p.relationship)
_CHAINS = {"btc": "bitcoin", "ltc": "litecoin", "bch": "bitcoin-cash", "doge": "dogecoin",
           "eth": "ethereum", "trx": "tron", "xmr": "monero"}  # fmt: skip
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)

# --- shared: JSON, galaxies, relationship types --------------------------------------------


def _load_json(stream: BinaryIO) -> Any:
    raw = stream.read(_MAX_BYTES + 1)
    if len(raw) > _MAX_BYTES:
        raise FileError(f"larger than {_MAX_BYTES >> 20} MiB: not a MISP export")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        where = f"line {line}"
        reason = f"not UTF-8: invalid byte at byte offset {exc.start}"
        raise FileError(reason, location=where) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise FileError(f"not JSON: {exc.msg}", location=where) from None
    except RecursionError:  # json's C parser gives up near 1,000 levels: say where
        raise FileError("JSON nested too deeply", location=_too_deep(text)) from None


def _too_deep(text: str, limit: int = 500) -> str:
    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        depth += 1 if match.group() in "[{" else -1 if match.group() in "]}" else 0
        if depth > limit:
            line, start = text.count("\n", 0, match.start()) + 1, match.start()
            return f"line {line}, column {start - text.rfind(chr(10), 0, start)}"
    return "input"


_GALAXY_TYPES = {
    "threat-actor": "threat-actor", "mitre-intrusion-set": "intrusion-set",
    "intrusion-set": "intrusion-set", "microsoft-activity-group": "intrusion-set",
    "tool": "tool", "mitre-tool": "tool", "mitre-course-of-action": "course-of-action",
    "mitre-attack-pattern": "attack-pattern", "attack-pattern": "attack-pattern",
    "mitre-enterprise-attack-attack-pattern": "attack-pattern",
}  # fmt: skip
_MALWARE_GALAXIES = frozenset({
    "ransomware", "malpedia", "banker", "stealer", "rat", "botnet", "exploit-kit", "backdoor",
    "mitre-malware", "android", "malware", "cryptominers", "tds", "ddos",
})  # fmt: skip


def galaxy_entity_type(galaxy_type: str) -> str | None:
    """The entity type of a MISP galaxy's clusters, or None when it names no such entity."""
    galaxy_type = galaxy_type.strip().lower()
    if galaxy_type in _MALWARE_GALAXIES:
        return "malware"
    if galaxy_type.endswith("threat-actor"):  # eset-threat-actor and other vendors' lists
        return "threat-actor"
    return _GALAXY_TYPES.get(galaxy_type)


# MISP phrasings -> (registered predicate, reversed?). Registered names are taken as they are.
_RELATIONS: dict[str, tuple[str, bool]] = {
    "used-by": ("uses", True), "deploys": ("uses", False), "is-deployed-by": ("uses", True),
    "resolved-to": ("resolves-to", False), "connects-to": ("communicates-with", False),
    "dropped": ("drops", False), "dropped-by": ("drops", True),
    "delivered-by": ("delivers", True), "part-of": ("member-of", False),
    "downloaded-from": ("hosted-on", False),  # the file is served from that URL
    "successor-of": ("variant-of", False),  # a rebrand or next version of the same family
    "parent-of": ("variant-of", True),
    "revoked-by": ("duplicate-of", False),  # ATT&CK: the object replaces the subject
}  # fmt: skip


def _relation(kind: str, subject: Ref, obj: Ref) -> tuple[str, Ref, Ref]:
    """(predicate, subject, object) for a MISP relationship type between two entities."""
    mapped, backwards = _RELATIONS.get(kind.strip().lower(), (kind.strip().lower(), False))
    try:
        predicate = predicates.get(mapped)
    except KeyError:
        return "related-to", subject, obj
    if not predicate.relationship or predicate.value_required:
        return "related-to", subject, obj
    subject, obj = (obj, subject) if backwards else (subject, obj)
    fits = (not predicate.subject_types or subject.type in predicate.subject_types) and (
        not predicate.object_types or obj.type in predicate.object_types
    )
    return (predicate.name if fits else "related-to"), subject, obj


def _dict(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return item[key] if isinstance(item.get(key), dict) else {}


def _list(item: Mapping[str, Any], key: str) -> list[Any]:
    return item[key] if isinstance(item.get(key), list) else []


def _strings(value: object) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _country(value: str) -> str | None:
    """An ISO 3166-1 code, also from a country name ("Slovakia"), as MISP objects give them."""
    try:
        return predicates.get("country").normalize_value(value)
    except predicates.InvalidValue:
        try:
            return str(pycountry.countries.lookup(value).alpha_2)
        except LookupError:
            return None


_ATTACK_ID = re.compile(r"\b(T\d{4}(?:\.\d{3})?|[GS]\d{4}|TA\d{4})\b")


def _cluster_claims(
    ref: Ref, cluster: Mapping[str, Any], base: Claim, *, describe: bool = True
) -> Iterator[Claim]:
    """name, alias, description, country and external-id claims of one galaxy cluster."""
    meta, name = _dict(cluster, "meta"), ref.name or ""
    claims: list[tuple[str, str]] = [("name", name)]
    folded = {name.casefold()}
    for synonym in _strings(meta.get("synonyms")):
        if synonym.casefold() not in folded:  # the name again, in other case, is no alias
            folded.add(synonym.casefold())
            claims.append(("alias", synonym))
    if describe:
        claims += [("description", d) for d in _strings(cluster.get("description"))]
    claims += [("country", c) for c in map(_country, _strings(meta.get("country"))) if c]
    identifiers = _strings(meta.get("external_id"))
    if ref.type == "attack-pattern" and not identifiers:
        identifiers = _ATTACK_ID.findall(name)
    identifiers += [f"misp-galaxy:{u}" for u in _strings(cluster.get("uuid"))]
    claims += [("external-id", i) for i in identifiers]
    for predicate, value in claims:
        yield replace(base, subject=ref, predicate=predicate, value=value, object=None)


# --- MISP events ---------------------------------------------------------------------------

_Convert: TypeAlias = Callable[[str], list[tuple[str, str]]]


def _simple(type_: str) -> _Convert:
    return lambda v: [(type_, v)]


def _ip(value: str) -> list[tuple[str, str]]:
    return [("ipv6-addr" if ":" in value else "ipv4-addr", value)]


def _host(value: str) -> list[tuple[str, str]]:
    """A MISP hostname is a domain name when it has a public suffix, as other sources say."""
    try:
        normalize("domain-name", value)
    except InvalidObservable:
        return [("hostname", value)]
    return [("domain-name", value)]


def _account(platform: str) -> _Convert:
    return lambda v: [("user-account", f"{platform}:{v}")]


def _part(convert: _Convert, index: int) -> _Convert:
    """``filename|sha256`` (last part), ``ip-dst|port`` (first part): what cyberatlas holds."""
    return lambda v: convert(v.split("|")[index].strip())


_ATTRIBUTE_TYPES: dict[str, _Convert] = {
    "domain": _simple("domain-name"), "onion-address": _simple("domain-name"),
    "hostname": _host, "hostname|port": _part(_host, 0),
    "ip-src": _ip, "ip-dst": _ip, "ip-src|port": _part(_ip, 0), "ip-dst|port": _part(_ip, 0),
    "domain|ip": lambda v: [("domain-name", v.split("|", 1)[0]), *_ip(v.split("|", 1)[-1])],
    "url": _simple("url"), "AS": _simple("autonomous-system"),
    "x509-fingerprint-sha1": _simple("x509-certificate"),
    "x509-fingerprint-sha256": _simple("x509-certificate"),
    "btc": _simple("cryptocurrency-wallet"), "xmr": _simple("cryptocurrency-wallet"),
    "dash": _simple("cryptocurrency-wallet"), "iban": _simple("bank-account"),
    "phone-number": _simple("phone-number"), "whois-registrant-phone": _simple("phone-number"),
    "mac-address": _simple("mac-addr"), "jabber-id": _account("jabber"),
    "github-username": _account("github"), "twitter-id": _account("twitter"),
    "vulnerability": _simple("vulnerability"), "threat-actor": _simple("threat-actor"),
    "campaign-name": _simple("campaign"),
}  # fmt: skip
for _t in ("email", "email-src", "email-dst", "email-reply-to", "whois-registrant-email"):
    _ATTRIBUTE_TYPES[_t] = _simple("email-addr")
for _h in ("md5", "sha1", "sha256", "sha512"):
    _ATTRIBUTE_TYPES[_h] = _simple("file")
    _ATTRIBUTE_TYPES[f"filename|{_h}"] = _part(_simple("file"), -1)
_ATTRIBUTE_TYPES["malware-sample"] = _part(_simple("file"), -1)
# Object attributes typed "text" whose relation says what they hold.
_RELATION_TYPES = {("coin-address", "address-crypto"): "btc", ("phone", "msisdn"): "phone-number"}
_SKIPPED = frozenset({"text", "comment", "link", "other", "datetime", "counter", "port"})
# Which entity stands for a whole object in its references, by MISP type.
_PRIMARY = ("sha256", "sha1", "md5", "sha512", "url", "domain", "hostname", "onion-address")
_GRADE = re.compile(
    r'admiralty-scale:(source-reliability|information-credibility)\s*=\s*"?([a-f1-6])"?', re.I
)


def _tags(item: Mapping[str, Any]) -> list[str]:
    return [
        t["name"] for t in _list(item, "Tag") if isinstance(t, dict) and _strings(t.get("name"))
    ]


def _tag_provenance(tags: list[str], base: Claim) -> Claim:
    """The marking (the strictest TLP tag) and Admiralty grades that tags give."""
    markings: list[Marking] = []
    changes: dict[str, Any] = {}
    for tag in tags:
        if tag.lower().startswith("tlp:"):
            try:
                markings.append(Marking.parse(tag))
            except ValueError:
                continue  # TLP 1.0 extensions such as tlp:ex:chr
        elif match := _GRADE.match(tag.strip()):
            kind = "source_grade" if match.group(1).lower()[0] == "s" else "information_grade"
            changes[kind] = match.group(2).upper()
    if markings:
        changes["marking"] = max(markings)
    return replace(base, **changes)


def _labels(tags: list[str]) -> list[str]:
    return [
        t for t in tags if not t.lower().startswith(("tlp:", "admiralty-scale:", "misp-galaxy:"))
    ]


def _when(value: object) -> dt.datetime | None:
    try:
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
        if isinstance(value, str) and value.strip():
            parsed = dt.datetime.fromisoformat(value.strip())
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError):
        pass
    return None


def _events(data: Any) -> list[Mapping[str, Any]]:
    items = data.get("response", [data]) if isinstance(data, dict) else data
    items = items if isinstance(items, list) else [items]
    events = [i["Event"] for i in items if isinstance(i, dict) and isinstance(i.get("Event"), dict)]
    if not events or len(events) != len(items):
        raise FileError(
            'not a MISP event: expected {"Event": …}, {"response": [{"Event": …}]} or a list',
            location="top level",
        )
    return events


@dataclass
class _Event:
    """One event being read: its provenance, threats and the entities found so far."""

    base: Claim
    threats: list[Ref] = field(default_factory=list)
    techniques: dict[Ref, tuple[Mapping[str, Any], Claim]] = field(default_factory=dict)
    by_uuid: dict[str, tuple[Ref, Claim]] = field(default_factory=dict)  # for references
    signatures: dict[str, str] = field(default_factory=dict)  # av-signature object -> name
    found: list[tuple[str, Ref, Claim]] = field(default_factory=list)  # in the current object


class MispImporter:
    """MISP events (see the module docstring)."""

    name = "misp"
    media_types: tuple[str, ...] = ("application/json",)

    def __init__(self) -> None:
        self._marking: Marking | None = None

    def default_marking(self) -> Marking | None:
        return self._marking  # known once read; every claim carries its own anyway

    def read(self, stream: BinaryIO, context: ImportContext) -> Iterator[Record]:
        for number, event in enumerate(_events(_load_json(stream))):
            yield from self._event(event, number)

    def _event(self, event: Mapping[str, Any], number: int) -> Iterator[Record]:
        event_id = (_strings(event.get("uuid")) or [f"#{number}"])[0]
        info = (_strings(event.get("info")) or [f"MISP event {event_id}"])[0]
        base = Claim(
            location=f"Event {event_id}",
            subject=Ref("event"),  # a placeholder: every claim names its own subject
            predicate="observed-in",
            value=info[:1000],
            source=f"misp-event:{event_id}",
            original_source=str(_dict(event, "Orgc").get("name") or ""),
            modified=_when(event.get("timestamp")),
        )
        base = _tag_provenance(_tags(event), base)
        self._marking = self._marking or base.marking
        state = _Event(base)
        yield from self._clusters(event, state, state.threats, base)
        for technique, (cluster, where) in state.techniques.items():
            if state.threats:  # techniques of nobody in particular are not worth an entity
                yield from _cluster_claims(technique, cluster, where, describe=False)
            for threat in state.threats:
                yield replace(where, subject=threat, predicate="uses", value=None, object=technique)
        for index, attribute in enumerate(_list(event, "Attribute")):
            if isinstance(attribute, dict):
                yield from self._attribute(attribute, state, f"[{index}]", None)
        objects = [o for o in _list(event, "Object") if isinstance(o, dict)]
        for index, obj in enumerate(objects):
            yield from self._object(obj, state, f"{base.location} Object {obj.get('uuid', index)}")
        for obj in objects:
            yield from self._references(obj, state)

    def _clusters(
        self, item: Mapping[str, Any], state: _Event, threats: list[Ref], base: Claim
    ) -> Iterator[Claim]:
        """Claims for the galaxy clusters on an event or attribute; collects its threats."""
        seen_tags: set[str] = set()
        for galaxy in _list(item, "Galaxy"):
            for cluster in _list(galaxy, "GalaxyCluster") if isinstance(galaxy, dict) else []:
                if isinstance(cluster, dict) and _strings(cluster.get("value")):
                    seen_tags.add(str(cluster.get("tag_name")))
                    kind = str(cluster.get("type") or galaxy.get("type") or "")
                    yield from self._cluster(kind, cluster, state, threats, base)
        for tag in _tags(item):  # galaxy tags without their Galaxy section
            match = re.fullmatch(r'misp-galaxy:([\w-]+)="(.+)"', tag.strip())
            if match and tag not in seen_tags and not _UUID.fullmatch(match.group(2)):
                yield from self._cluster(match[1], {"value": match[2]}, state, threats, base)

    @staticmethod
    def _cluster(
        kind: str, cluster: Mapping[str, Any], state: _Event, threats: list[Ref], base: Claim
    ) -> Iterator[Claim]:
        type_, name = galaxy_entity_type(kind), " ".join(str(cluster["value"]).split())
        if type_ is None or not name:
            return
        ref = _cluster_ref(type_, cluster, name)
        where = replace(base, location=f"{base.location} GalaxyCluster {cluster.get('uuid', name)}")
        if type_ in _THREATS:
            threats.extend([ref] if ref not in threats else [])
            yield from _cluster_claims(ref, cluster, where)
        elif type_ == "attack-pattern":
            state.techniques.setdefault(ref, (cluster, where))

    def _attribute(
        self, attribute: Mapping[str, Any], state: _Event, index: str, obj: Mapping[str, Any] | None
    ) -> Iterator[Record]:
        """Claims for one attribute; notes its entity in ``state`` for objects and references."""
        misp_type, value = attribute.get("type"), attribute.get("value")
        location = f"{state.base.location} Attribute {attribute.get('uuid', index)}"
        if obj is not None:
            location = location.replace(" Attribute ", f" Object {obj.get('uuid')} Attribute ")
            relation = (str(obj.get("name")), str(attribute.get("object_relation")))
            misp_type = _RELATION_TYPES.get(relation, misp_type)
        if not isinstance(misp_type, str) or not isinstance(value, str) or not value.strip():
            yield Rejected(location, "an attribute needs a type and a value")
            return
        if misp_type in _SKIPPED:
            return
        convert = _ATTRIBUTE_TYPES.get(misp_type)
        if convert is None:
            yield Rejected(location, f"MISP type {misp_type!r} is not supported")
            return
        tags, scope = _tags(attribute), obj or {}
        claim = replace(
            _tag_provenance(tags, state.base),
            location=location,
            first_seen=_when(attribute.get("first_seen")) or _when(scope.get("first_seen")),
            last_seen=_when(attribute.get("last_seen"))
            or _when(scope.get("last_seen"))
            or _when(attribute.get("timestamp")),
            modified=_when(attribute.get("timestamp")) or state.base.modified,
        )
        refs = [
            Ref(t, name=v.strip()) if t in DOMAIN_TYPES else Ref(t, value=v.strip())
            for t, v in convert(value.strip())
        ]
        threats = list(state.threats)
        yield from self._clusters(attribute, state, threats, claim)
        said: list[tuple[str, str]] = [("label", label) for label in _labels(tags)]
        said += [("description", c) for c in _strings(attribute.get("comment"))]
        for ref in refs:
            yield replace(claim, subject=ref)  # observed-in the event
            for threat in (t for t in threats if t != ref):
                linked = "uses" if ref.type in _INFRASTRUCTURE else "related-to"
                yield replace(claim, subject=threat, predicate=linked, value=None, object=ref)
            family = wallet_family(ref.value or "") if ref.type == "cryptocurrency-wallet" else None
            chain = _CHAINS.get(family or "")
            for predicate, text in said + ([("chain", chain)] if chain else []):
                yield replace(claim, subject=ref, predicate=predicate, value=text)
        if misp_type.startswith("filename|") or misp_type == "malware-sample":
            yield replace(claim, subject=refs[0], predicate="name", value=value.split("|")[0])
        if len(refs) == 2:  # domain|ip
            yield replace(
                claim, subject=refs[0], predicate="resolves-to", value=None, object=refs[1]
            )
        state.found.append((misp_type, refs[0], claim))
        if isinstance(attribute.get("uuid"), str):
            state.by_uuid[attribute["uuid"]] = (refs[0], claim)

    def _object(self, obj: Mapping[str, Any], state: _Event, location: str) -> Iterator[Record]:
        attributes = [a for a in _list(obj, "Attribute") if isinstance(a, dict)]
        values: dict[str, list[str]] = defaultdict(list)  # object relation -> values
        for attribute in attributes:
            values[str(attribute.get("object_relation"))] += _strings(attribute.get("value"))
        name = str(obj.get("name") or "")
        base = replace(_tag_provenance([t for a in attributes for t in _tags(a)], state.base),
                       location=location)  # fmt: skip
        named = self._named(name, values)
        found = [("", named, base)] if named else []  # an account or a domain object
        if named is None:
            state.found = []
            for index, attribute in enumerate(attributes):
                if attribute.get("type") != "filename":  # a file's name, claimed below
                    yield from self._attribute(attribute, state, f"[{index}]", obj)
            found, state.found = state.found, []
        if not found:
            if values.get("signature") and isinstance(obj.get("uuid"), str):
                state.signatures[obj["uuid"]] = values["signature"][0]  # a detection name
            else:
                yield Rejected(location, f"a {name or 'nameless'} object holds no entity")
            return
        found.sort(key=lambda f: _PRIMARY.index(f[0]) if f[0] in _PRIMARY else len(_PRIMARY))
        primary, claim = found[0][1], found[0][2]
        if isinstance(obj.get("uuid"), str):
            state.by_uuid[obj["uuid"]] = (primary, claim)
        if primary.type == "user-account":
            yield replace(base, subject=primary)  # observed-in the event
            for threat in state.threats:
                yield replace(base, subject=threat, predicate="uses", value=None, object=primary)
        for _, ref, other in found[1:]:
            link = replace(other, subject=primary, value=None, object=ref)
            if primary.type == ref.type == "file":
                yield replace(link, predicate="same-as", value="same")  # one file, many hashes
            elif primary.type in ("domain-name", "hostname") and ref.type.startswith("ipv"):
                yield replace(link, predicate="resolves-to")
        said = [("name", v) for v in values.get("filename", [])]
        said += [("alias" if k == "aliases" else k, v) for k in values for v in values[k]
                 if k in _PROPERTIES | {"aliases"} and primary.type != "user-account"]  # fmt: skip
        wallet = primary.type == "cryptocurrency-wallet"
        chain = _CHAINS.get(wallet_family(primary.value or "") or "") if wallet else None
        for predicate, text in said:
            text = (_country(text) or "") if predicate == "country" else text
            if text and (predicate, text) != ("chain", chain):  # the chain is claimed already
                yield replace(claim, subject=primary, predicate=predicate, value=text)

    @staticmethod
    def _named(name: str, values: Mapping[str, list[str]]) -> Ref | None:
        """The entity of an object given by its text attributes: an account, a domain object."""
        if name in ("telegram-account", "user-account") and values.get("username"):
            platform = (values.get("account-type") or ["telegram" if name[0] == "t" else ""])[0]
            login = values["username"][0]
            return Ref("user-account", value=f"{platform.lower()}:{login}") if platform else None
        if name in DOMAIN_TYPES and values.get("name"):
            return Ref(name, name=values["name"][0])
        return None

    def _references(self, obj: Mapping[str, Any], state: _Event) -> Iterator[Record]:
        source = state.by_uuid.get(str(obj.get("uuid")))
        for index, reference in enumerate(_list(obj, "ObjectReference")):
            if not isinstance(reference, dict):
                continue
            location = f"{state.base.location} ObjectReference {reference.get('uuid', index)}"
            kind = str(reference.get("relationship_type") or "related-to")
            target_id = str(reference.get("referenced_uuid"))
            target = state.by_uuid.get(target_id)
            if source is not None and target_id in state.signatures:
                yield replace(source[1], location=location, subject=source[0], predicate="label",
                              value=state.signatures[target_id], object=None)  # fmt: skip
            elif source is None or target is None:
                end = "source" if source is None else "referenced"
                yield Rejected(location, f"{kind}: the {end} object holds no entity")
            else:
                predicate, subject, other = _relation(kind, source[0], target[0])
                # A reference has no tags: it is as strict as the stricter of its two ends.
                marking = max(
                    (m for m in (source[1].marking, target[1].marking) if m), default=None
                )
                yield replace(source[1], location=location, marking=marking, subject=subject,
                              predicate=predicate, value=None, object=other)  # fmt: skip


# --- MISP galaxy files ---------------------------------------------------------------------

_NOTE_KEYS = ("ransomnotes", "ransomenotes", "ransomnotes-refs", "ransomenotes-refs", "extensions")
_CONTACTS = {"email-addr": "communicates-via", "cryptocurrency-wallet": "receives-payment-via"}


def _onion_host(type_: str, value: str) -> str:
    """The host of an onion URL or domain, else ""."""
    try:
        host = value if type_ == "domain-name" else (urlsplit(value).hostname or "")
    except ValueError:
        return ""
    return host if host.lower().rstrip(".").endswith(".onion") else ""


class MispGalaxyImporter:
    """MISP galaxy cluster files (see the module docstring)."""

    name = "misp-galaxy"
    media_types: tuple[str, ...] = ("application/json",)

    def default_marking(self) -> Marking | None:
        return None  # galaxies carry no marking: the command needs --tlp

    def read(self, stream: BinaryIO, context: ImportContext) -> Iterator[Record]:
        data = _load_json(stream)
        if not isinstance(data, dict) or not isinstance(data.get("values"), list):
            raise FileError(
                'not a MISP galaxy clusters file: expected {"type": …, "values": [...]}',
                location="top level",
            )
        galaxy = str(data.get("type") or "")
        type_ = galaxy_entity_type(galaxy)
        if type_ is None:
            raise FileError(
                f"galaxy type {galaxy!r} names no entity cyberatlas holds", location="type"
            )
        names = [" ".join(_strings(c.get("value"))[0].split()) if isinstance(c, dict)
                 and _strings(c.get("value")) else "" for c in data["values"]]  # fmt: skip
        refs = {c["uuid"]: _cluster_ref(type_, c, n)
                for c, n in zip(data["values"], names, strict=True)
                if n and isinstance(c.get("uuid"), str)}  # fmt: skip
        base = Claim(
            location="",
            subject=Ref(type_),
            predicate="name",
            source=f"misp-galaxy:{galaxy}",
            original_source=str(data.get("source") or "")[:500],
        )
        links: list[Claim] = []
        for index, (cluster, name) in enumerate(zip(data["values"], names, strict=True)):
            if not name:
                yield Rejected(f"values[{index}]", "a cluster needs a value")
                continue
            ref = _cluster_ref(type_, cluster, name)
            claim = replace(base, location=f"values[{index}] {name}")
            yield from _cluster_claims(ref, cluster, claim)
            yield from self._contacts(ref, _dict(cluster, "meta"), claim)
            for related in _list(cluster, "related"):
                target = (
                    refs.get(str(related.get("dest-uuid"))) if isinstance(related, dict) else None
                )
                if target is not None and target != ref:  # other files' clusters: names unknown
                    predicate, subject, obj = _relation(str(related.get("type")), ref, target)
                    links.append(replace(claim, subject=subject, predicate=predicate, object=obj))
        # Links come after every cluster: a link may name a cluster further down the file.
        yield from links

    @staticmethod
    def _contacts(ref: Ref, meta: Mapping[str, Any], base: Claim) -> Iterator[Claim]:
        """Leak and negotiation sites, contact addresses and wallets of a ransomware group."""
        found: list[tuple[str, str, str]] = []  # (predicate, type, value)
        for link in _strings(meta.get("links")):
            found.append(("uses", "url" if "://" in link else "domain-name", link))
            if "://" in link and (host := _onion_host("url", link)):
                # The onion host is the service's identity (maltrail and others list hosts).
                found.append(("uses", "domain-name", host))
        for note in (n for key in _NOTE_KEYS for n in _strings(meta.get(key))):
            for start in range(0, min(len(note), 1 << 20), 16_384):
                for type_, value in find_indicators(note[start : start + 16_384]):
                    if type_ in _CONTACTS:
                        found.append((_CONTACTS[type_], type_, value))
                    elif type_ in ("url", "domain-name") and _onion_host(type_, value):
                        found.append(("uses", type_, value))  # a negotiation site
        seen: set[tuple[str, str]] = set()
        for predicate, type_, value in found:
            if value and (type_, value.lower()) not in seen:
                seen.add((type_, value.lower()))
                obj = Ref(type_, value=value)
                yield replace(base, subject=ref, predicate=predicate, value=None, object=obj)


def wallet_family(address: str) -> str | None:
    """The address family of a wallet, or None when unrecognised or invalid."""
    try:
        return parse_wallet(address).family
    except InvalidWallet:
        return None


def _cluster_ref(type_: str, cluster: Mapping[str, Any], name: str) -> Ref:
    """A galaxy cluster keeps its MISP uuid as its identifier, so that re-imports, events that
    cite it and other galaxies find the same entity; clusters of other sources with the same
    name stay apart (they become match proposals, never silent merges)."""
    try:
        key = uuid.UUID(str(cluster.get("uuid")))
    except ValueError:
        return Ref(type_, name=name)
    return Ref(type_, stix_id=f"{type_}--{key}", name=name)
