"""The STIX 2.1 exporter: a valid bundle (stix2-validator, stix2), and a round trip through the
importer that gives the same claims back."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from cyberatlas.core import predicates
from cyberatlas.core.observables import InvalidObservable, normalize
from cyberatlas.core.references import OBSERVABLE_TYPES
from cyberatlas.core.tlp import Marking
from cyberatlas.interop.records import (
    Claim,
    ExportEntity,
    ExportStatement,
    ImportContext,
    Ref,
    Rejected,
)
from cyberatlas.interop.stix import StixImporter, export_stix, stix_objects, write_stix
from cyberatlas.interop.stix_import import TLP2_IDS

T0 = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
T1 = dt.datetime(2024, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def sdo(type_: str, n: int, label: str, marking: Marking = Marking.GREEN) -> ExportEntity:
    return ExportEntity(f"{type_}--{n:08x}-2222-4222-8222-222222222222", type_, "", label, marking)


def sco(type_: str, raw: str, marking: Marking = Marking.GREEN) -> ExportEntity:
    found = normalize(type_, raw)
    return ExportEntity(found.stix_id, type_, found.key, found.key, marking)


ACTOR = sdo("threat-actor", 1, "Evil Corp", Marking.AMBER)
MALWARE = sdo("malware", 2, "Dridex")
INDICATOR = sdo("indicator", 3, "evil.com C2")
REPORT = sdo("report", 4, "Evil Corp in 2024")
LOCATION = sdo("location", 5, "Russia")
ORG = sdo("identity", 6, "ACME CERT")
CAMPAIGN = sdo("campaign", 7, "campaign 3f2a…")  # a neutral label: no name the reader may read
ANALYSIS = sdo("malware-analysis", 8, "CAPE")
OPINION = sdo("opinion", 9, "opinion 1a2b…")
DOMAIN = sco("domain-name", "evil.com")
IP = sco("ipv4-addr", "198.51.100.7")
ASN = sco("autonomous-system", "AS64500")
URL = sco("url", "hxxps://evil[.]com/pay")
EMAIL = sco("email-addr", "bob@evil.com")
ACCOUNT = sco("user-account", "telegram:@EvilBob")
FILE = sco("file", "b" * 64)
CERT = sco("x509-certificate", "c" * 40)
MAC = sco("mac-addr", "00:11:22:33:44:55")
WALLET = sco("cryptocurrency-wallet", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", Marking.RED)
IBAN = sco("bank-account", "DE89370400440532013000")
PHONE = sco("phone-number", "+44 20 7946 0958")
HOST = sco("hostname", "c2.lan")
TRAFFIC = ExportEntity(
    "network-traffic--12345678-2222-5222-8222-222222222222",
    "network-traffic",
    "198.51.100.7:443/tcp",
    "198.51.100.7:443/tcp",
    Marking.GREEN,
)

_count = 0


def st(
    subject: ExportEntity,
    predicate: str,
    value: str | None = None,
    obj: ExportEntity | None = None,
    *,
    marking: Marking = Marking.GREEN,
    source: str = "",
    confidence: int | None = None,
    first_seen: dt.datetime | None = None,
    last_seen: dt.datetime | None = None,
) -> ExportStatement:
    global _count
    _count += 1
    return ExportStatement(
        id=str(uuid.UUID(int=_count, version=4)),
        subject=subject,
        predicate=predicate,
        value=value,
        object=obj,
        marking=marking,
        organization="ACME CERT",
        source=source,
        confidence=confidence,
        first_seen=first_seen,
        last_seen=last_seen,
        created=T0,
        modified=T1,
    )


EXPORTED = [  # statements STIX can carry: the round trip gives each back
    st(ACTOR, "name", "Evil Corp"),
    st(ACTOR, "alias", "Indrik Spider", marking=Marking.AMBER),
    st(ACTOR, "description", "Russian cybercrime group"),
    st(ACTOR, "label", "crime-syndicate"),
    st(ACTOR, "role", "director"),
    st(ACTOR, "external-id", "mitre-attack:G0119", source="https://attack.mitre.org/groups/G0119"),
    st(ACTOR, "uses", None, MALWARE, confidence=80, first_seen=T0, last_seen=T1),
    st(ACTOR, "receives-payment-via", None, WALLET, marking=Marking.RED),
    st(ACTOR, "located-at", None, LOCATION),
    st(MALWARE, "name", "Dridex"),
    st(MALWARE, "label", "banking-trojan"),
    st(MALWARE, "sightings", "5"),
    st(INDICATOR, "name", "evil.com C2"),
    st(INDICATOR, "pattern", "[domain-name:value = 'evil.com']"),
    st(INDICATOR, "indicates", None, MALWARE),
    st(INDICATOR, "based-on", None, DOMAIN),
    st(INDICATOR, "sighted-at", None, ORG),
    st(REPORT, "name", "Evil Corp in 2024"),
    st(REPORT, "description", "What we saw"),
    st(REPORT, "refers-to", None, ACTOR, marking=Marking.AMBER),
    st(REPORT, "refers-to", None, MALWARE),
    st(LOCATION, "name", "Russia"),
    st(LOCATION, "country", "RU"),
    st(ORG, "name", "ACME CERT"),
    st(ANALYSIS, "label", "malicious"),
    st(ANALYSIS, "analysis-of", None, FILE),
    st(OPINION, "label", "agree"),
    st(OPINION, "refers-to", None, REPORT),
    st(CAMPAIGN, "uses", None, URL),
    st(DOMAIN, "resolves-to", None, IP),
    st(IP, "belongs-to", None, ASN),
    st(ASN, "name", "EXAMPLE-AS"),
    st(EMAIL, "belongs-to", None, ACCOUNT),
    st(ACCOUNT, "alias", "Bob"),
    st(ACCOUNT, "communicates-via", None, PHONE),
    st(FILE, "related-to", None, CERT),
    st(HOST, "resolves-to", None, IP),
    st(MAC, "related-to", None, HOST),
    st(WALLET, "related-to", None, IBAN, marking=Marking.RED),
]
DROPPED = [  # statements with no STIX home
    st(ACTOR, "country", "RU"),
    st(ACTOR, "same-as", "same", sdo("threat-actor", 99, "Indrik Spider")),
    st(DOMAIN, "observed-in", "feed.csv"),
    st(WALLET, "chain", "bitcoin", marking=Marking.RED),
    st(TRAFFIC, "communicates-with", None, IP),
    st(IP, "label", "c2"),
]
STATEMENTS = EXPORTED + DROPPED


@pytest.fixture(scope="module")
def exported() -> dict[str, Any]:
    return export_stix(STATEMENTS, identity_name="cyberatlas test")


def by_id(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {obj["id"]: obj for obj in bundle["objects"]}


def test_bundle_is_valid_stix(exported: dict[str, Any]) -> None:
    text = json.dumps(exported)
    results = validate_string(text, ValidationOptions(strict=False))
    assert results.is_valid, [str(e) for e in results.errors]
    warnings = {str(w) for w in results.warnings}
    # Best practices (SHOULDs) only: {103} ids that are UUIDv5 (SCOs as STIX §2.9 asks, and
    # the platform identity and extensions, deterministic on purpose), {202} relationship types
    # and endpoints beyond the suggested ones (cyberatlas predicates), {244} account types
    # beyond the vocabulary, {302} external references without a hash of their URL, {303} an
    # SDO with a name and no description, {143} a product name as the analyst wrote it.
    codes = {w.partition("{")[2].partition("}")[0] for w in warnings}
    assert codes <= {"103", "202", "244", "302", "303", "143"}, warnings
    parsed = stix2.parse(text, allow_custom=True)
    assert len(parsed.objects) == len(exported["objects"])


def test_every_entity_once(exported: dict[str, Any]) -> None:
    ids = [obj["id"] for obj in exported["objects"]]
    assert len(ids) == len(set(ids))
    objects = by_id(exported)
    for entity in (ACTOR, MALWARE, INDICATOR, REPORT, LOCATION, ORG, DOMAIN, IP, ASN, URL, WALLET):
        assert entity.id in objects
    assert TRAFFIC.id not in objects  # opaque: cannot be rebuilt from its summary
    assert objects[DOMAIN.id]["value"] == "evil.com"
    assert objects[ACCOUNT.id]["account_type"] == "telegram"
    assert objects[ACCOUNT.id]["account_login"] == "evilbob"
    assert objects[ASN.id]["number"] == 64500
    assert objects[FILE.id]["hashes"] == {"SHA-256": "b" * 64}
    assert objects[CERT.id]["hashes"] == {"SHA-1": "c" * 40}
    assert objects[IBAN.id]["iban"] == "DE89370400440532013000"
    assert objects[ASN.id]["name"] == "EXAMPLE-AS"
    assert objects[ACCOUNT.id]["display_name"] == "Bob"


def test_domain_objects(exported: dict[str, Any]) -> None:
    objects = by_id(exported)
    actor = objects[ACTOR.id]
    assert actor["name"] == "Evil Corp"
    assert actor["aliases"] == ["Indrik Spider"]
    assert actor["description"] == "Russian cybercrime group"
    assert actor["labels"] == ["crime-syndicate"]
    assert actor["roles"] == ["director"]
    assert {"source_name": "mitre-attack", "external_id": "G0119"} | {
        "url": "https://attack.mitre.org/groups/G0119"
    } in actor["external_references"]
    assert "country" not in actor
    indicator = objects[INDICATOR.id]
    assert indicator["pattern_type"] == "stix"
    assert indicator["valid_from"] == "2024-01-02T03:04:05.000Z"
    report = objects[REPORT.id]
    assert report["object_refs"] == [ACTOR.id, MALWARE.id]
    assert report["published"] == "2024-01-02T03:04:05.000Z"
    assert objects[LOCATION.id]["country"] == "RU"
    assert objects[CAMPAIGN.id]["name"] == "campaign 3f2a…"  # STIX requires a name
    assert objects[ANALYSIS.id]["product"] == "CAPE"
    assert objects[ANALYSIS.id]["result"] == "malicious"
    assert objects[OPINION.id]["opinion"] == "agree"
    assert objects[MALWARE.id]["is_family"] is True


def test_markings_and_creator(exported: dict[str, Any]) -> None:
    objects = by_id(exported)
    identity = next(
        o for o in exported["objects"] if o["type"] == "identity" and o["name"] == "cyberatlas test"
    )
    assert identity["identity_class"] == "system"
    # The strictest statement behind each object: the actor's alias, the report's refers-to.
    assert objects[ACTOR.id]["object_marking_refs"] == [TLP2_IDS[Marking.AMBER]]
    assert objects[REPORT.id]["object_marking_refs"] == [TLP2_IDS[Marking.AMBER]]
    assert objects[MALWARE.id]["object_marking_refs"] == [TLP2_IDS[Marking.GREEN]]
    assert objects[WALLET.id]["object_marking_refs"] == [TLP2_IDS[Marking.RED]]
    definitions = {o["id"]: o for o in exported["objects"] if o["type"] == "marking-definition"}
    assert set(definitions) == {
        TLP2_IDS[m] for m in (Marking.CLEAR, Marking.GREEN, Marking.AMBER, Marking.RED)
    }
    assert definitions[TLP2_IDS[Marking.AMBER]]["name"] == "TLP:AMBER"
    for obj in exported["objects"]:
        if obj["type"] not in ("marking-definition", "extension-definition"):
            assert len(obj["object_marking_refs"]) == 1
        if obj["type"] in ("threat-actor", "relationship", "sighting", "report"):
            assert obj["created_by_ref"] == identity["id"]
    uses = objects[f"relationship--{EXPORTED[6].id}"]
    assert uses["object_marking_refs"] == [TLP2_IDS[Marking.GREEN]]
    assert uses["confidence"] == 80
    assert uses["start_time"] == "2024-01-02T03:04:05.000Z"
    assert uses["stop_time"] == "2024-03-04T05:06:07.000Z"
    assert uses["created"] == "2024-01-02T03:04:05.000Z"
    assert uses["modified"] == "2024-03-04T05:06:07.000Z"


def test_custom_observables_are_declared(exported: dict[str, Any]) -> None:
    objects = by_id(exported)
    definitions = {o["name"]: o for o in exported["objects"] if o["type"] == "extension-definition"}
    assert set(definitions) == {"cryptocurrency-wallet", "bank-account", "phone-number", "hostname"}
    for entity in (WALLET, IBAN, PHONE, HOST):
        extension = definitions[entity.type]
        assert extension["extension_types"] == ["new-sco"]
        assert objects[entity.id]["extensions"] == {extension["id"]: {"extension_type": "new-sco"}}


def test_ids_are_stable() -> None:
    first = export_stix(STATEMENTS, identity_name="cyberatlas test")
    second = export_stix(STATEMENTS, identity_name="cyberatlas test")
    assert first["id"] != second["id"]  # a bundle is one transmission
    assert first["objects"] == second["objects"]


def test_write_stix_streams_the_same_objects(exported: dict[str, Any]) -> None:
    stream = io.StringIO()
    write_stix(STATEMENTS, stream, "cyberatlas test")
    written = json.loads(stream.getvalue())
    assert written["type"] == "bundle"
    assert sorted(written["objects"], key=lambda o: o["id"]) == sorted(
        exported["objects"], key=lambda o: o["id"]
    )
    empty = io.StringIO()
    write_stix([], empty, "cyberatlas test")
    assert validate_string(empty.getvalue()).is_valid


def test_stix_objects_for_taxii() -> None:
    stub = sdo("tool", 42, "Cobalt Strike")
    objects = by_id({"objects": stix_objects(EXPORTED[6:7], [stub])})
    assert set(objects) == {stub.id, ACTOR.id, MALWARE.id, f"relationship--{EXPORTED[6].id}"}
    assert objects[stub.id]["name"] == "Cobalt Strike"


def test_objects_that_cannot_be_expressed_are_left_out() -> None:
    bare_indicator, bare_report = sdo("indicator", 50, "x"), sdo("report", 51, "y")
    nowhere = sdo("location", 52, "Atlantis")
    bundle = export_stix(
        [
            st(bare_indicator, "name", "x"),
            st(bare_report, "name", "y"),
            st(nowhere, "name", "Atlantis"),
            st(bare_indicator, "indicates", None, MALWARE),
        ],
        identity_name="t",
    )
    objects = by_id(bundle)
    assert {bare_indicator.id, bare_report.id, nowhere.id}.isdisjoint(objects)
    assert validate_string(json.dumps(bundle)).is_valid, validate_string(json.dumps(bundle)).errors


def show(ref: Ref) -> str:
    if ref.type in OBSERVABLE_TYPES and ref.value is not None:
        return f"{ref.type}:{normalize(ref.type, ref.value).key}"
    return str(ref.stix_id)


def entity_name(entity: ExportEntity) -> str:
    return entity.id if entity.type not in OBSERVABLE_TYPES else f"{entity.type}:{entity.key}"


def test_round_trip(exported: dict[str, Any]) -> None:
    data = json.dumps(exported).encode()
    records = list(StixImporter().read(io.BytesIO(data), ImportContext(filename="export.json")))
    assert not [r for r in records if isinstance(r, Rejected)]
    found: dict[tuple[str, str, str], Claim] = {}
    for claim in records:
        assert isinstance(claim, Claim)
        key = (
            show(claim.subject),
            claim.predicate,
            show(claim.object) if claim.object else str(claim.value),
        )
        found[key] = claim
    expected = {
        (
            entity_name(s.subject),
            s.predicate,
            entity_name(s.object) if s.object else str(s.value),
        ): s
        for s in EXPORTED
    }
    assert set(expected) <= set(found), set(expected) - set(found)
    extra = {k for k in set(found) - set(expected) if k[1] != "observed-in"}
    identity = next(o["id"] for o in exported["objects"] if o["type"] == "identity")
    assert extra == {
        (identity, "name", "cyberatlas test"),
        (identity, "label", "identity-class:system"),
        (CAMPAIGN.id, "name", "campaign 3f2a…"),  # STIX requires the name
        (ANALYSIS.id, "name", "CAPE"),  # and the product of a malware analysis
    }
    for key, statement in expected.items():
        claim = found[key]
        assert claim.marking is not None
        assert claim.marking >= statement.marking, key  # never less strict
        if statement.object is not None or statement.subject.type not in OBSERVABLE_TYPES:
            assert claim.original_source == "cyberatlas test"  # SCOs have no created_by_ref
        if statement.object is not None and statement.predicate != "refers-to":
            # An SRO of its own (refers-to is folded into its container): all of it comes back.
            assert claim.marking is statement.marking
            assert claim.confidence == statement.confidence
            assert claim.first_seen == statement.first_seen
            assert claim.last_seen == statement.last_seen
            assert claim.modified == statement.modified


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stix"


def as_statements(claims: list[Claim]) -> list[ExportStatement]:
    """What the core would make of imported claims, as an exporter receives them."""
    names = {c.subject.stix_id: c.value for c in claims if c.predicate == "name" and c.value}

    def entity(ref: Ref) -> ExportEntity | None:
        if ref.type in OBSERVABLE_TYPES and ref.value is not None:
            try:
                found = normalize(ref.type, ref.value)
            except InvalidObservable:
                return None
            return ExportEntity(found.stix_id, ref.type, found.key, found.key, Marking.RED)
        assert ref.stix_id is not None
        label = names.get(ref.stix_id) or f"{ref.type} {ref.stix_id.partition('--')[2][:4]}…"
        return ExportEntity(ref.stix_id, ref.type, ref.value or "", label, Marking.RED)

    statements = []
    for n, claim in enumerate(claims):
        subject = entity(claim.subject)
        target = entity(claim.object) if claim.object else None
        if subject is None or (claim.object is not None and target is None):
            continue
        value = claim.value
        if value is not None and claim.object is None:
            try:
                value = predicates.get(claim.predicate).normalize_value(value)
            except predicates.InvalidValue:
                continue
        statements.append(
            ExportStatement(
                id=str(uuid.UUID(int=n + 1, version=4)),
                subject=subject,
                predicate=claim.predicate,
                value=value,
                object=target,
                marking=claim.marking or Marking.GREEN,
                organization="",
                source=claim.source,
                confidence=claim.confidence,
                first_seen=claim.first_seen,
                last_seen=claim.last_seen,
                created=T0,
                modified=claim.modified or T1,
            )
        )
    return statements


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_imported_data_exports_validly_and_comes_back(path: Path) -> None:
    importer = StixImporter()
    claims = [
        r
        for r in importer.read(io.BytesIO(path.read_bytes()), ImportContext(filename="in"))
        if isinstance(r, Claim)
    ]
    statements = as_statements(claims)
    bundle = export_stix(statements, identity_name="round trip")
    text = json.dumps(bundle)
    results = validate_string(text)
    assert results.is_valid, results.errors
    stix2.parse(text, allow_custom=True)
    again = list(importer.read(io.BytesIO(text.encode()), ImportContext(filename="out")))
    assert not [r for r in again if isinstance(r, Rejected)]

    def key(s: ExportStatement) -> tuple[str, str, str]:
        target = entity_name(s.object) if s.object else str(s.value)
        return entity_name(s.subject), s.predicate, target

    before = {key(s) for s in statements}
    after = {key(s) for s in as_statements([r for r in again if isinstance(r, Claim)])}
    identity = next(o["id"] for o in bundle["objects"] if o["type"] == "identity")
    invented = {k for k in after - before if k[1] != "observed-in" and k[0] != identity}
    # Nothing comes back that was not there, but names STIX requires of an object.
    assert all(k[1] == "name" for k in invented), invented
    # All comes back but the file's name and what the opaque network-traffic said.
    lost = {k for k in before - after if k[1] != "observed-in"}
    assert all(k[0].startswith("network-traffic--") for k in lost), lost
