"""STIX 2.1 import mapping: one object to claims (:class:`ObjectMapper`), and the vocabulary the
importer and the exporter share. References are to the OASIS STIX 2.1 OS specification
(https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html), written "STIX §x";
``cyberatlas.interop.stix`` reads the file and has the mapping table for people.

Wrong property types reject the whole object (all or nothing), with the property named.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cyberatlas.core import predicates
from cyberatlas.core.observables import OBSERVABLE_TYPES
from cyberatlas.core.references import DOMAIN_TYPES, OPAQUE_OBSERVABLE_TYPES
from cyberatlas.core.tlp import Marking

from .records import Claim, Record, Ref, Rejected

if TYPE_CHECKING:  # the reader owns the index; importing it at run time would be circular
    from .stix import ObjectIndex

Obj = dict[str, Any]

# --- shared vocabulary (also used by the exporter) ---------------------------------------------

# TLP 1.0 marking definitions, STIX §7.2.1.4 (fixed identifiers). TLP:WHITE is TLP 2.0 CLEAR.
TLP1_IDS: dict[str, Marking] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Marking.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Marking.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Marking.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Marking.RED,
}
# TLP 2.0 marking definitions of the OASIS extension (cti-stix-common-objects,
# extension-definition-specifications/tlp-2.0): fixed identifiers, one per marking.
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_IDS: dict[Marking, str] = {
    Marking.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Marking.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Marking.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Marking.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Marking.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
KNOWN_MARKINGS: dict[str, Marking] = TLP1_IDS | {v: k for k, v in TLP2_IDS.items()}

# OpenCTI's custom observables (pycti ``CustomObservable*``): type -> identifying property.
# Older OpenCTI exports prefix the type with "x-opencti-"; other tools name the property
# differently (muchdogesec stix2extensions: "address", "number", "iban_number").
CUSTOM_SCO_TYPES: dict[str, tuple[str, ...]] = {
    "cryptocurrency-wallet": ("value", "address"),
    "bank-account": ("iban", "iban_number", "value"),
    "phone-number": ("value", "number"),
    "hostname": ("value",),
}
_VALUE_SCOS = {"domain-name", "ipv4-addr", "ipv6-addr", "url", "email-addr", "mac-addr"}
# STIX §6.1 hash-algorithm-ov keys the core identifies files and certificates by, preferred first.
FILE_HASHES = ("SHA-256", "SHA-512", "SHA-1", "MD5")
CERT_HASHES = ("SHA-256", "SHA-1")
SRO_TYPES = frozenset({"relationship", "sighting"})
# Meta objects (STIX §7, §8): consumed (markings) or not knowledge (extension definitions).
_META_TYPES = frozenset({"marking-definition", "extension-definition"})
_CONTAINERS = frozenset({"report", "grouping", "note", "opinion", "observed-data"})
# Embedded references that are not links between entities (STIX §3.2 common properties).
_NOT_LINKS = frozenset({"created_by_ref", "object_marking_refs", "object_refs"})


_OPENCTI_TYPES = {f"x-opencti-{type_}": type_ for type_ in CUSTOM_SCO_TYPES}


def canonical_type(type_: str) -> str:
    """OpenCTI's older "x-opencti-hostname" and friends are the current custom types."""
    return _OPENCTI_TYPES.get(type_, type_)


def hash_key(name: str) -> str:
    """ "sha256", "SHA256", "'SHA-256'" -> "SHA-256" (STIX §6.1 hash-algorithm-ov spelling)."""
    compact = name.strip("'\"").upper().replace("-", "").replace("_", "")
    return {"SHA256": "SHA-256", "SHA512": "SHA-512", "SHA1": "SHA-1"}.get(compact, compact)


# --- item-level checks ---------------------------------------------------------------------------


class Bad(Exception):
    """An object, or one of its parts, that cannot be taken."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    kinds: dict[type, str] = {str: "a string", list: "a list", dict: "an object"}
    return kinds.get(type(value), "null")


def get_str(obj: Obj, key: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise Bad(f"'{key}' must be a string, not {_kind(value)}")


def _strs(obj: Obj, key: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise Bad(f"'{key}' must be a list of strings")


def _int(obj: Obj, key: str, low: int, high: int) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Bad(f"'{key}' must be a whole number from {low} to {high}")
    return int(value)


_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")


@lru_cache(maxsize=8192)
def _parse_time(text: str) -> dt.datetime | None:
    """STIX §3.2 timestamps (RFC 3339, UTC, any sub-second precision); None if malformed."""
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        return None
    fraction = match.group(1)
    if fraction is not None and len(fraction) > 6:  # datetime holds microseconds
        text = text[: match.start(1) + 6] + text[match.end(1) :]
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _time(obj: Obj, key: str) -> dt.datetime | None:
    text = get_str(obj, key)
    if text is None:
        return None
    value = _parse_time(text)
    if value is None:
        raise Bad(f"'{key}' is not a STIX timestamp: {text[:40]!r}")
    return value


def _dicts(obj: Obj, key: str) -> list[Obj]:
    value = obj.get(key)
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    raise Bad(f"'{key}' must be a list of objects")


def _entity_type(stix_id: str) -> str | None:
    """The type of an identifier, or None when it is not a STIX identifier (STIX §2.9)."""
    prefix, _, uuid = stix_id.partition("--")
    if len(uuid) != 36 or uuid[8] + uuid[13] + uuid[18] + uuid[23] != "----" or not prefix:
        return None
    try:
        int(uuid.replace("-", ""), 16)
    except ValueError:
        return None
    return canonical_type(prefix) if _TYPE_NAME.fullmatch(prefix) else None


_TYPE_NAME = re.compile(r"[a-z0-9][a-z0-9-]*[a-z0-9]")


def sco_value(obj: Obj, type_: str) -> str | None:
    """The identifying value of an SCO the core normalizes (None: it has none we can use)."""
    if type_ in _VALUE_SCOS:
        return get_str(obj, "value")
    if type_ in CUSTOM_SCO_TYPES:
        for key in CUSTOM_SCO_TYPES[type_]:
            if (found := get_str(obj, key)) is not None:
                return found
        return None
    if type_ == "user-account":
        # STIX §6.15: account_type and account_login (or user_id) name an account; the core
        # keys accounts as "platform:login" and cannot place one without its platform.
        platform = get_str(obj, "account_type")
        login = get_str(obj, "account_login") or get_str(obj, "user_id")
        return f"{platform}:{login}" if platform and login else None
    if type_ == "autonomous-system":
        number = _int(obj, "number", 0, 2**32)
        return None if number is None else str(number)
    if type_ in ("file", "x509-certificate"):
        hashes = obj.get("hashes")
        if hashes is None:
            return None
        if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()):
            raise Bad("'hashes' must map algorithm names to strings")
        digests = {hash_key(str(name)): str(digest) for name, digest in hashes.items()}
        for name in FILE_HASHES if type_ == "file" else CERT_HASHES:
            if digests.get(name):
                return digests[name]
        return None
    return None


def summary(obj: Obj, type_: str) -> str | list[str]:
    """A short human label for an opaque SCO (STIX §6); a list is a network-traffic to finish
    once every address is known: [src_ref, src_port, dst_ref, dst_port, protocol]."""
    text: str | None = None
    if type_ == "network-traffic":
        protocols = [p.lower() for p in _strs(obj, "protocols")]
        transport = next((p for p in protocols if p in ("tcp", "udp", "sctp", "icmp")), "")
        ports = [_int(obj, k, 0, 65535) for k in ("src_port", "dst_port")]
        src, dst = get_str(obj, "src_ref") or "", get_str(obj, "dst_ref") or ""
        return [src, str(ports[0] or ""), dst, str(ports[1] or ""), transport or "".join(protocols)]
    if type_ == "process":
        pid = _int(obj, "pid", -(2**63), 2**63)
        text = get_str(obj, "command_line") or (f"pid {pid}" if pid is not None else None)
    elif type_ == "email-message":
        text = get_str(obj, "subject") or get_str(obj, "message_id")
    elif type_ == "software":
        parts = (get_str(obj, k) for k in ("vendor", "name", "version"))
        text = " ".join(p for p in parts if p) or get_str(obj, "cpe")
    elif type_ == "artifact":
        hashes = obj.get("hashes")
        if isinstance(hashes, dict):
            text = next((v for v in hashes.values() if isinstance(v, str)), None)
        text = text or get_str(obj, "url") or get_str(obj, "mime_type")
    elif type_ == "directory":
        text = get_str(obj, "path")
    elif type_ == "mutex":
        text = get_str(obj, "name")
    elif type_ == "windows-registry-key":
        text = get_str(obj, "key")
    return " ".join(text.split())[:200] if text and text.strip() else type_


# --- passes 2 and 3: objects to claims ------------------------------------------------------------


@dataclass(slots=True)  # not frozen: built once per object, and a frozen init is slower
class _Provenance:
    """What every claim made from one object carries (STIX §3.2 common properties)."""

    location: str
    marking: Marking | None
    terms: tuple[str, ...]
    confidence: int | None
    source: str
    original_source: str
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    modified: dt.datetime | None


# How a property becomes claims: (predicate, label prefix, kind). Kinds: "str" one string,
# "list" a list of strings, "count" a whole number.
_Rule = tuple[str, str, str]
_SKIP: _Rule = ("", "", "skip")
_COMMON: dict[str, _Rule] = dict.fromkeys(
    # Handled elsewhere, or nothing to claim: one look-up to move on.
    """type spec_version id created modified created_by_ref confidence object_marking_refs
    granular_markings lang revoked extensions valid_from valid_until pattern_type
    pattern_version first_seen last_seen published first_observed last_observed is_family
    value hashes defanged""".split(),  # noqa: SIM905 - a compact table
    _SKIP,
) | {
    "external_references": ("external-id", "", "external"),
    "object_refs": ("refers-to", "", "link"),
    "labels": ("label", "", "list"),
    "x_opencti_labels": ("label", "", "list"),  # OpenCTI puts labels on SCOs too
    "aliases": ("alias", "", "list"),
    "roles": ("role", "", "list"),  # threat-actor, identity
    "country": ("country", "", "str"),  # STIX §4.11 location: ISO 3166-1 alpha-2
    # *_types open vocabularies (STIX §4) are kinds, like labels.
    **dict.fromkeys(
        (f"{kind}_types" for kind in ("malware", "threat_actor", "infrastructure", "tool")),
        ("label", "", "list"),
    ),
    **dict.fromkeys(("report_types", "indicator_types"), ("label", "", "list")),
    # One-word vocabulary values mean little alone ("expert"): labels with a prefix.
    "sophistication": ("label", "sophistication:", "str"),
    "resource_level": ("label", "resource-level:", "str"),
    "primary_motivation": ("label", "motivation:", "str"),
    "secondary_motivations": ("label", "motivation:", "list"),
    "personal_motivations": ("label", "motivation:", "list"),
    "identity_class": ("label", "identity-class:", "str"),
    "sectors": ("label", "sector:", "list"),
    "region": ("label", "region:", "str"),
}
_SDO_RULES: dict[str, dict[str, _Rule]] = {
    type_: _COMMON
    | {
        {"note": "abstract", "malware-analysis": "product"}.get(type_, "name"): ("name", "", "str"),
        {"note": "content", "opinion": "explanation"}.get(type_, "description"): (
            "description",
            "",
            "str",
        ),
    }
    | {
        "indicator": {"pattern": ("pattern", "", "str")},
        "opinion": {"opinion": ("label", "", "str")},  # STIX §4.15 opinion-enum
        "malware-analysis": {"result": ("label", "", "str")},  # STIX §4.12 malware-result-ov
        "observed-data": {"number_observed": ("sightings", "", "count")},  # STIX §4.14
    }.get(type_, {})
    for type_ in DOMAIN_TYPES
}
_SCO_RULES: dict[str, _Rule] = _COMMON | {
    "name": ("name", "", "str"),  # autonomous-system, file (opaque SCOs: in their summary)
    "display_name": ("alias", "", "str"),  # email-addr, user-account
    "x_opencti_description": ("description", "", "str"),
}
# Embedded references with a more precise meaning than "related-to".
_LINK_PREDICATES = {
    ("domain-name", "resolves_to_refs"): "resolves-to",  # STIX §6.4
    ("ipv4-addr", "belongs_to_refs"): "belongs-to",  # STIX §6.5
    ("ipv6-addr", "belongs_to_refs"): "belongs-to",  # STIX §6.6
    ("email-addr", "belongs_to_ref"): "belongs-to",  # STIX §6.7
    ("network-traffic", "dst_ref"): "communicates-with",  # STIX §6.12: who it talks to
    ("malware-analysis", "sample_ref"): "analysis-of",  # STIX §4.12
}
_PATTERN_VALUE_TYPES = _VALUE_SCOS | {"hostname", "cryptocurrency-wallet", "phone-number"}
_COMPARISON = re.compile(
    r"(?P<type>[a-z0-9-]+):(?P<path>value|number|iban|hashes\.(?:'[^']*'|[A-Za-z0-9_-]+))"
    r"\s*(?P<not>NOT\s+)?(?P<op>=|ISSUBSET)\s*(?:'(?P<text>(?:[^'\\]|\\.)*)'|(?P<int>\d+))"
)
_UNESCAPE = re.compile(r"\\(.)")


def pattern_observables(pattern: str) -> list[Ref]:
    """Observables a STIX pattern (STIX §9) compares for equality with an identifying property:
    ``[domain-name:value = 'x']``, ``[file:hashes.'SHA-256' = '…' OR ipv4-addr:value = '…']``,
    ``[ipv4-addr:value ISSUBSET '198.51.100.0/24']``. A negated comparison (``NOT =``) names
    nothing the indicator is based on; other comparisons (ports, names) narrow the match and
    are left to the pattern itself."""
    found: list[Ref] = []
    for match in _COMPARISON.finditer(pattern):
        if match["not"]:
            continue
        type_, path = canonical_type(match["type"]), match["path"]
        value = match["int"] or _UNESCAPE.sub(r"\1", match["text"] or "")
        if match["op"] == "ISSUBSET" and type_ not in ("ipv4-addr", "ipv6-addr"):
            continue
        ok = (
            (path == "value" and type_ in _PATTERN_VALUE_TYPES)
            or (path == "number" and type_ == "autonomous-system")
            or (path == "iban" and type_ == "bank-account")
            or (
                path.startswith("hashes.")
                and hash_key(path[7:]) in {"file": FILE_HASHES}.get(type_, CERT_HASHES)
                and type_ in ("file", "x509-certificate")
            )
        )
        if ok and value.strip():
            ref = Ref(type_, value=value)
            if ref not in found:
                found.append(ref)
    return found


class ObjectMapper:
    """One STIX object to its describing claims (pass 2) or its relationship claims (pass 3)."""

    def __init__(self, index: ObjectIndex, bundle_name: str) -> None:
        self.index = index
        self.bundle_name = bundle_name
        self._markings: dict[tuple[str, ...], tuple[Marking | None, tuple[str, ...]]] = {}
        self._predicates: dict[str, predicates.Predicate | str] = {}

    def map(self, location: str, obj: Any, *, deferred: bool) -> tuple[list[Record], bool]:
        """Pass 2 (``deferred`` False): describing claims, and the links that name entities by
        value only (the core creates those in any order); also whether links are left for
        pass 3 (``deferred`` True): the links that name an object by its id, and all SROs."""
        if not isinstance(obj, dict):
            return [Rejected(location, f"not a STIX object but {_kind(obj)}")], False
        type_, stix_id = obj.get("type"), obj.get("id")
        if not isinstance(type_, str) or not type_:
            return [Rejected(location, "the object has no 'type'")], False
        if not isinstance(stix_id, str) or not stix_id:
            return [Rejected(location, f"the {type_[:60]} has no 'id'")], False
        location = f"{location} {stix_id[:120]}"
        raw_type, type_ = type_, _OPENCTI_TYPES.get(type_, type_)
        # The shape of "type--uuid" (STIX §2.9); the core checks the UUID of the ids it keeps.
        if len(stix_id) != len(raw_type) + 38 or not stix_id.startswith(raw_type + "--"):
            reason = f"'id' is not the STIX identifier of a {type_[:60]} (STIX §2.9)"
            return [Rejected(location, reason)], False
        if type_ in _META_TYPES:
            return [], False
        try:
            prov = self._provenance(location, type_, obj)
            if type_ == "relationship":
                return self._relationship(prov, obj), False
            if type_ == "sighting":
                return self._sighting(prov, obj), False
            if type_ in DOMAIN_TYPES:
                subject = Ref(type_, stix_id=stix_id)
            elif type_ in OBSERVABLE_TYPES or type_ in OPAQUE_OBSERVABLE_TYPES:
                subject = self._sco_subject(type_, stix_id, obj)
            else:
                reason = f"'{type_[:60]}' objects are not imported: no such entity type"
                return [Rejected(location, reason)], False
            if deferred:
                return [r for r in self._links(prov, type_, subject, obj) if _waits(r)], False
            records, has_links = self._describe(prov, type_, subject, obj)
            if not has_links:
                return records, False
            links = self._links(prov, type_, subject, obj)
            records += [r for r in links if not _waits(r)]
            return records, any(_waits(r) for r in links)
        except Bad as exc:
            return [Rejected(location, exc.reason)], False

    # -- provenance --------------------------------------------------------------------------

    def _provenance(self, location: str, type_: str, obj: Obj) -> _Provenance:
        marking, terms = self._marking(obj)
        creator = get_str(obj, "created_by_ref")
        # The creator's name when the bundle describes it; its id otherwise (not an error).
        original = self.index.identities.get(creator, creator) if creator else ""
        source = ""
        for reference in _dicts(obj, "external_references"):
            url = reference.get("url")
            if isinstance(url, str) and url:
                source = url
                break
        if type_ == "relationship":  # STIX §5.1
            first, last = _time(obj, "start_time"), _time(obj, "stop_time")
        elif type_ == "observed-data":  # STIX §4.14
            first, last = _time(obj, "first_observed"), _time(obj, "last_observed")
        elif type_ == "indicator":  # STIX §4.7: valid_from is when it was first seen to hold
            first, last = _time(obj, "valid_from"), None
        elif type_ == "report":  # STIX §4.17: published
            first, last = _time(obj, "published"), None
        else:
            first, last = _time(obj, "first_seen"), _time(obj, "last_seen")
        return _Provenance(
            location,
            marking,
            terms,
            _int(obj, "confidence", 0, 100),
            source,
            original,
            first,
            last,
            _time(obj, "modified"),
        )

    def _marking(self, obj: Obj) -> tuple[Marking | None, tuple[str, ...]]:
        """STIX §7.2.2: object markings; a granular marking counts for the whole object too
        (cyberatlas marks statements, not parts of them), so the strictest TLP of all wins.
        Other marking definitions become terms: their statement text, name or id."""
        refs = _strs(obj, "object_marking_refs")
        for granular in _dicts(obj, "granular_markings"):
            ref = granular.get("marking_ref")
            if isinstance(ref, str):
                refs = [*refs, ref]
        if not refs:
            return None, ()
        key = tuple(refs)
        cached = self._markings.get(key)
        if cached is None:
            tlp: list[Marking] = []
            terms: list[str] = []
            for ref in refs:
                # A bundle's definition of a TLP id is that TLP marking (``marking_definition``).
                known = KNOWN_MARKINGS.get(ref)
                found = known if known is not None else self.index.markings.get(ref, ref)
                if isinstance(found, Marking):
                    tlp.append(found)
                elif found not in terms:
                    terms.append(found)
            marking = (max(tlp) if tlp else None, tuple(terms))
            if not self.index.settled():
                return marking  # a definition further on may change it
            if len(self._markings) > 10_000:
                self._markings.clear()
            cached = self._markings[key] = marking
        return cached

    def _claim(
        self,
        prov: _Provenance,
        subject: Ref,
        predicate: str,
        value: str | None = None,
        obj: Ref | None = None,
        source: str | None = None,
    ) -> Claim:
        return Claim(
            location=prov.location,
            subject=subject,
            predicate=predicate,
            value=value,
            object=obj,
            marking=prov.marking,
            confidence=prov.confidence,
            source=prov.source if source is None else source,
            original_source=prov.original_source,
            first_seen=prov.first_seen,
            last_seen=prov.last_seen,
            modified=prov.modified,
            terms=prov.terms,
        )

    # -- references ----------------------------------------------------------------------------

    def _ref(self, stix_id: str) -> Ref:
        if (found := self.index.values.get(stix_id)) is not None:
            return Ref(found[0], value=found[1])
        if stix_id in self.index.opaque:
            return Ref(self.index.opaque[stix_id][0], stix_id=stix_id, value=self._label(stix_id))
        type_ = _entity_type(stix_id)
        if type_ is None:
            raise Bad(f"{stix_id[:80]!r} is not a STIX identifier")
        if type_ not in DOMAIN_TYPES | OBSERVABLE_TYPES | OPAQUE_OBSERVABLE_TYPES:
            raise Bad(f"{stix_id[:80]} is a {type_[:60]}, not an entity cyberatlas holds")
        # Not in this bundle: the claim names it by id. The ingest core takes it if the entity
        # is already known (and visible to the importing user) and rejects the claim otherwise.
        return Ref(type_, stix_id=stix_id)

    def _label(self, stix_id: str) -> str:
        """An opaque SCO's summary; a network-traffic's once its addresses are known."""
        type_, summary = self.index.opaque[stix_id]
        if isinstance(summary, str):
            return summary
        src, src_port, dst, dst_port, protocol = summary

        def end(ref: str, port: str) -> str:
            host = self.index.values.get(ref, ("", ""))[1] if ref else ""
            if port:
                return f"{f'[{host}]' if ':' in host else host or '?'}:{port}"
            return host

        text = " -> ".join(part for part in (end(src, src_port), end(dst, dst_port)) if part)
        text = (text or type_) + (f"/{protocol}" if protocol else "")
        if self.index.settled():
            self.index.opaque[stix_id] = (type_, text)
        return text

    def _sco_subject(self, type_: str, stix_id: str, obj: Obj) -> Ref:
        if type_ in OPAQUE_OBSERVABLE_TYPES:
            if stix_id not in self.index.opaque:
                self.index.opaque[stix_id] = (type_, summary(obj, type_))
            return Ref(type_, stix_id=stix_id, value=self._label(stix_id))
        value = sco_value(obj, type_)
        if value is None or not value.strip():
            raise Bad(_NO_VALUE.get(type_, f"the {type_} has no 'value'"))
        return Ref(type_, value=value)

    # -- describing claims (pass 2) ------------------------------------------------------------

    def _describe(
        self, prov: _Provenance, type_: str, subject: Ref, obj: Obj
    ) -> tuple[list[Record], bool]:
        out: list[Record] = []
        seen: set[tuple[str, str]] = set()

        def add(predicate: str, value: str, source: str | None = None) -> None:
            if value.strip() and (predicate, value) not in seen:
                seen.add((predicate, value))
                out.append(self._claim(prov, subject, predicate, value, source=source))

        domain = type_ in DOMAIN_TYPES
        if not domain:  # a bare observable becomes visible through the bundle it was seen in
            add("observed-in", self.bundle_name)
        rules = _SDO_RULES[type_] if domain else _SCO_RULES
        links = False
        for key in obj:  # the object's own keys, in its order: a few dict look-ups each
            rule = rules.get(key)
            if rule is None:
                if key.endswith(("_ref", "_refs")) and not key.startswith("x_"):
                    links = True
                continue
            predicate, prefix, kind = rule
            if kind == "skip":
                continue
            if kind == "external":
                self._external_ids(obj, add)
            elif kind == "link":
                links = links or type_ in _CONTAINERS
            elif kind == "str":
                if (text := get_str(obj, key)) is not None:
                    add(predicate, prefix + text if text.strip() else "")
            elif kind == "list":
                for text in _strs(obj, key):
                    add(predicate, prefix + text if text.strip() else "")
            elif (count := _int(obj, key, 0, 999_999_999)) is not None:
                add(predicate, str(count))
            if key == "pattern":
                links = True
        if not out:  # an object that says nothing else still exists in the bundle
            add("observed-in", self.bundle_name)
        return out, links

    @staticmethod
    def _external_ids(obj: Obj, add: Callable[[str, str, str | None], None]) -> None:
        """STIX §2.5: "mitre-attack:T1059", "cve:CVE-2021-44228"; the url is its source."""
        for reference in _dicts(obj, "external_references"):
            external_id, source_name, url = (
                reference.get(k) for k in ("external_id", "source_name", "url")
            )
            if isinstance(external_id, str) and external_id.strip():
                prefix = f"{source_name}:" if isinstance(source_name, str) and source_name else ""
                add("external-id", prefix + external_id, url if isinstance(url, str) else None)

    # -- relationship claims (pass 3) ----------------------------------------------------------

    def _links(self, prov: _Provenance, type_: str, subject: Ref, obj: Obj) -> list[Record]:
        out: list[Record] = []
        for key, value in obj.items():
            if key.startswith("x_") or (key in _NOT_LINKS and key != "object_refs"):
                continue
            if key == "object_refs":
                if type_ not in _CONTAINERS:
                    continue
                predicate = "refers-to"  # STIX §4.17 and siblings: what the container is about
            elif key.endswith(("_ref", "_refs")):
                predicate = _LINK_PREDICATES.get((type_, key), "related-to")
            else:
                continue
            targets = [value] if key.endswith("_ref") else value
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                out.append(Rejected(prov.location, f"'{key}' must hold STIX identifiers"))
                continue
            for position, target in enumerate(targets):
                if target.partition("--")[0] in _NOT_ENTITIES:
                    continue  # a report lists its relationships too: they are not entities
                try:
                    out.append(self._claim(prov, subject, predicate, obj=self._ref(target)))
                except Bad as exc:
                    where = f"{prov.location} {key}[{position}]"
                    out.append(Rejected(where, exc.reason))
        pattern = get_str(obj, "pattern") if type_ == "indicator" else None
        if pattern and (get_str(obj, "pattern_type") or "stix") == "stix":
            # STIX §4.7 / §5.1: an indicator is "based-on" what it detects; its pattern's
            # observables are what it is based on (the indicator *indicates* malware and
            # campaigns, not the addresses in its pattern).
            for found in pattern_observables(pattern):
                out.append(self._claim(prov, subject, "based-on", obj=found))
        return out

    def _predicate(self, name: str) -> predicates.Predicate:
        cached = self._predicates.get(name)
        if cached is None:
            try:
                cached = predicates.get(name)
                if not cached.relationship:
                    cached = f"relationship_type {name[:60]!r} is a property, not a relationship"
            except KeyError:
                cached = (
                    f"relationship_type {name[:60]!r} is not a registered predicate "
                    "(`cyberatlas predicates` lists them)"
                )
            self._predicates[name] = cached
        if isinstance(cached, str):
            raise Bad(cached)
        return cached

    def _relationship(self, prov: _Provenance, obj: Obj) -> list[Record]:
        """STIX §5.1: source_ref relationship_type target_ref; its description stays out."""
        name = get_str(obj, "relationship_type")
        source, target = get_str(obj, "source_ref"), get_str(obj, "target_ref")
        if not name or not source or not target:
            raise Bad("a relationship needs relationship_type, source_ref and target_ref")
        predicate = self._predicate(name)
        return [self._claim(prov, self._ref(source), predicate.name, obj=self._ref(target))]

    def _sighting(self, prov: _Provenance, obj: Obj) -> list[Record]:
        """STIX §5.2: what was sighted, where (identities, locations), how often."""
        sighted = get_str(obj, "sighting_of_ref")
        if not sighted:
            raise Bad("a sighting needs sighting_of_ref")
        where = _strs(obj, "where_sighted_refs")
        count = _int(obj, "count", 0, 999_999_999)
        subject = self._ref(sighted)
        out: list[Record] = [
            self._claim(prov, subject, "sighted-at", obj=self._ref(place)) for place in where
        ]
        if count is not None or not where:
            out.append(self._claim(prov, subject, "sightings", str(1 if count is None else count)))
        return out


def _waits(record: Record) -> bool:
    """A link naming an object by id only waits for pass 3, when every object is described."""
    return isinstance(record, Claim) and record.object is not None and record.object.value is None


_NOT_ENTITIES = SRO_TYPES | _META_TYPES | {"language-content"}
_NO_VALUE = {
    "file": "a file needs an MD5, SHA-1, SHA-256 or SHA-512 hash: files are known by hash",
    "x509-certificate": "an x509-certificate needs a SHA-1 or SHA-256 hash",
    "user-account": "a user-account needs account_type and account_login (or user_id)",
    "autonomous-system": "an autonomous-system needs its 'number'",
    "bank-account": "a bank-account needs its 'iban'",
}
