"""The STIX 2.1 importer: mapping, markings, item and file errors, reading paths."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cyberatlas.core.tlp import Marking
from cyberatlas.interop.records import Claim, FileError, ImportContext, Record, Ref, Rejected
from cyberatlas.interop.stix import StixImporter
from cyberatlas.interop.stix_import import pattern_observables

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stix"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "stix"

TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
TLP1_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
TLP2_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP2_AMBER_STRICT = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
TLP2_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


def uid(n: int) -> str:
    return f"{n:08x}-1111-4111-8111-111111111111"


def read(data: bytes | Any, filename: str = "test.json") -> list[Record]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return list(StixImporter().read(io.BytesIO(raw), ImportContext(filename=filename)))


def bundle(*objects: dict[str, Any]) -> dict[str, Any]:
    return {"type": "bundle", "id": f"bundle--{uid(0)}", "objects": list(objects)}


def claims(records: list[Record]) -> list[Claim]:
    return [r for r in records if isinstance(r, Claim)]


def rejected(records: list[Record]) -> list[Rejected]:
    return [r for r in records if isinstance(r, Rejected)]


def triples(records: list[Record]) -> set[tuple[str, str, str]]:
    """(subject, predicate, value or object) with refs shown as type:value or the id."""

    def show(ref: Ref) -> str:
        return f"{ref.type}:{ref.value}" if ref.value and not ref.stix_id else str(ref.stix_id)

    return {
        (show(c.subject), c.predicate, show(c.object) if c.object else str(c.value))
        for c in claims(records)
    }


def sdo(type_: str, n: int, **properties: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "spec_version": "2.1",
        "id": f"{type_}--{uid(n)}",
        "created": "2024-01-02T03:04:05.000Z",
        "modified": "2024-01-02T03:04:05.000Z",
        **properties,
    }


def rel(n: int, source: str, kind: str, target: str, **properties: Any) -> dict[str, Any]:
    return sdo(
        "relationship",
        n,
        relationship_type=kind,
        source_ref=source,
        target_ref=target,
        **properties,
    )


# --- real data (fixtures copied from permissively licensed sources) -----------------------


def test_importer_interface() -> None:
    importer = StixImporter()
    assert importer.name == "stix"
    assert "application/stix+json" in importer.media_types
    assert importer.default_marking() is None


def test_oasis_infrastructure_example() -> None:
    records = read((FIXTURES / "oasis-infrastructure.json").read_bytes(), "infra.json")
    assert not rejected(records)
    found = triples(records)
    infra = "infrastructure--38c47d93-d984-4fd9-b87b-d69d0841628d"
    assert (infra, "name", "Poison Ivy C2") in found
    assert (infra, "label", "command-and-control") in found
    assert (infra, "controls", "malware--16f4f3f9-1b68-4abb-bb66-7639d49f1e30") in found
    # An SCO in the bundle is named by value, and is visible through the bundle's name.
    assert (infra, "consists-of", "ipv4-addr:198.51.100.3") in found
    assert ("ipv4-addr:198.51.100.3", "observed-in", "infra.json") in found
    assert ("domain-name:example.com", "observed-in", "infra.json") in found


def test_relationships_come_after_every_description() -> None:
    """The core resolves an id a relationship names only if a claim described it before; the
    OASIS example lists relationships before the objects they join."""
    records = claims(read((FIXTURES / "oasis-infrastructure.json").read_bytes()))
    described: set[str] = set()
    for claim in records:
        if claim.object is None:
            described.add(str(claim.subject.stix_id or claim.subject.value))
        elif claim.object.value is None:
            assert claim.object.stix_id in described, claim
            assert claim.subject.stix_id in described or claim.subject.value, claim


def test_oasis_apt1_report() -> None:
    records = read((FIXTURES / "oasis-apt1.json").read_bytes())
    assert not rejected(records)
    found = triples(records)
    apt1 = "intrusion-set--da1065ce-972c-4605-8755-9cd1074e3b5a"
    assert (apt1, "name", "APT1") in found
    assert (apt1, "alias", "Comment Crew") in found
    assert (apt1, "label", "resource-level:government") in found
    assert (apt1, "label", "motivation:organizational-gain") in found
    report = next(c.subject.stix_id for c in claims(records) if c.subject.type == "report")
    refers = {c for c in claims(records) if c.predicate == "refers-to"}
    assert refers
    assert all(c.subject.stix_id == report for c in refers)
    # The report lists its relationships too: they are statements, not entities.
    assert all(c.object and c.object.type != "relationship" for c in refers)
    roles = {c.value for c in claims(records) if c.predicate == "role"}
    assert roles
    apt1_claim = next(c for c in claims(records) if c.subject.stix_id == apt1)
    assert apt1_claim.first_seen == dt.datetime(2006, 6, 1, 18, 13, 15, 684000, tzinfo=dt.UTC)
    assert apt1_claim.modified == dt.datetime(2015, 5, 15, 9, 12, 16, 432000, tzinfo=dt.UTC)


def test_oasis_indicators_and_course_of_action() -> None:
    records = read((FIXTURES / "oasis-indicators-for-C2-with-COA.json").read_bytes())
    assert not rejected(records)
    found = triples(records)
    assert any(p == "mitigates" for _, p, _ in found)
    assert sum(p == "indicates" for _, p, _ in found) == 2
    # The indicators' patterns name the C2 addresses they are based on.
    based_on = {o for _, p, o in found if p == "based-on"}
    assert based_on == {
        "ipv4-addr:10.0.0.0",
        "file:ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c",
    }
    creator = {c.original_source for c in claims(records) if c.subject.type == "indicator"}
    assert creator == {
        "The MITRE Corporation - DHS Support Team"
    }  # the identity's name, from the bundle


def test_feeds2stix_sample() -> None:
    records = read((FIXTURES / "feeds2stix-sslipbl-2024-sample.json").read_bytes(), "sslbl")
    found = triples(records)
    traffic = [c for c in claims(records) if c.subject.type == "network-traffic"]
    assert traffic[0].subject.value == "45.77.45.120:443/tcp"
    assert traffic[0].subject.stix_id == "network-traffic--c3b1c4d7-e923-5594-a7da-5640f196da47"
    assert (traffic[0].subject.stix_id, "communicates-with", "ipv4-addr:45.77.45.120") in found
    indicator = next(c for c in claims(records) if c.subject.type == "indicator")
    assert indicator.original_source == "feeds2stix"
    assert indicator.marking is Marking.CLEAR
    assert "This object was created using: https://github.com/muchdogesec/feeds2stix" in (
        indicator.terms
    )
    assert (indicator.subject.stix_id, "based-on", "ipv4-addr:45.77.45.120") in found
    # feeds2stix relates indicators to what they detect with "detects", not a STIX 2.1
    # type; the registry has it as a custom relationship, so nothing is rejected.
    assert rejected(records) == []
    assert any(predicate == "detects" for _, predicate, _ in found)


def test_feeds2stix_malware_sample_refs() -> None:
    records = read((FIXTURES / "feeds2stix-sslbl-bumblebee.json").read_bytes())
    found = triples(records)
    malware = "malware--86919ebd-2b01-50bb-9499-a4bf737476ff"
    digest = "3eef3d7311a2b60b600fab18bd722185836ad3cc"
    assert (malware, "label", "remote-access-trojan") in found
    assert (malware, "related-to", f"file:{digest}") in found
    assert ("indicator--86919ebd-2b01-50bb-9499-a4bf737476ff", "based-on", f"file:{digest}") in (
        found
    )


def test_ransomware_kb_sample() -> None:
    records = read((FIXTURES / "ransomware-kb-sample.json").read_bytes())
    assert not rejected(records)
    found = triples(records)
    assert any(p == "uses" for _, p, _ in found)
    ext = {v for _, p, v in found if p == "external-id"}
    assert any(v.startswith("ransomware-kb:") for v in ext)
    group = next(c for c in claims(records) if c.subject.type == "intrusion-set")
    assert group.original_source == "Ransomware Knowledgebase"
    assert group.marking is Marking.CLEAR


SHARED_FILES = sorted(SHARED.rglob("*.json")) if SHARED.is_dir() else []


@pytest.mark.skipif(not SHARED_FILES, reason=f"no shared STIX data at {SHARED}")
@pytest.mark.parametrize("path", SHARED_FILES, ids=lambda p: p.name)
def test_shared_data_imports(path: Path) -> None:
    with path.open("rb") as stream:  # a real file: the memory-mapped path
        records = list(StixImporter().read(stream, ImportContext(filename=path.name)))
    assert claims(records)
    # feeds2stix's non-STIX "detects" relationships are registered: nothing is rejected.
    assert rejected(records) == []


# --- mapping ------------------------------------------------------------------------------


def test_observables_by_value() -> None:
    records = read(
        bundle(
            {"type": "domain-name", "id": f"domain-name--{uid(1)}", "value": "evil[.]com"},
            {"type": "user-account", "id": f"user-account--{uid(2)}", "account_type": "telegram"}
            | {"account_login": "EvilBob", "display_name": "Bob"},
            {"type": "autonomous-system", "id": f"autonomous-system--{uid(3)}", "number": 13335}
            | {"name": "CLOUDFLARENET"},
            {"type": "file", "id": f"file--{uid(4)}", "name": "x.exe"}
            | {"hashes": {"MD5": "a" * 32, "sha256": "b" * 64, "SHA-1": "c" * 40}},
            {"type": "x509-certificate", "id": f"x509-certificate--{uid(5)}"}
            | {"hashes": {"SHA-1": "d" * 40}},
            {"type": "cryptocurrency-wallet", "id": f"cryptocurrency-wallet--{uid(6)}"}
            | {"value": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
            {
                "type": "x-opencti-cryptocurrency-wallet",
                "id": f"x-opencti-cryptocurrency-wallet--{uid(7)}",
            }
            | {"value": "0x52908400098527886E0F7030069857D2E4169EE7"},
            {
                "type": "bank-account",
                "id": f"bank-account--{uid(8)}",
                "iban": "DE89370400440532013000",
            },
            {"type": "phone-number", "id": f"phone-number--{uid(9)}", "value": "+44 20 7946 0958"},
            {"type": "hostname", "id": f"hostname--{uid(10)}", "value": "c2.internal"},
            {"type": "mac-addr", "id": f"mac-addr--{uid(11)}", "value": "00-11-22-33-44-55"},
            {"type": "email-addr", "id": f"email-addr--{uid(12)}", "value": "bob@evil.com"},
        ),
        "drop.json",
    )
    assert not rejected(records)
    found = triples(records)
    for ref in (
        "domain-name:evil[.]com",
        "user-account:telegram:EvilBob",
        "autonomous-system:13335",
        f"file:{'b' * 64}",  # SHA-256 preferred
        f"x509-certificate:{'d' * 40}",
        "cryptocurrency-wallet:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "cryptocurrency-wallet:0x52908400098527886E0F7030069857D2E4169EE7",
        "bank-account:DE89370400440532013000",
        "phone-number:+44 20 7946 0958",
        "hostname:c2.internal",
        "mac-addr:00-11-22-33-44-55",
        "email-addr:bob@evil.com",
    ):
        assert (ref, "observed-in", "drop.json") in found, ref
    assert ("autonomous-system:13335", "name", "CLOUDFLARENET") in found
    assert ("user-account:telegram:EvilBob", "alias", "Bob") in found
    assert (f"file:{'b' * 64}", "name", "x.exe") in found


def test_observables_without_identifying_value_are_rejected() -> None:
    records = read(
        bundle(
            {"type": "file", "id": f"file--{uid(1)}", "name": "x.exe"},
            {"type": "user-account", "id": f"user-account--{uid(2)}", "account_login": "bob"},
            {"type": "ipv4-addr", "id": f"ipv4-addr--{uid(3)}"},
        )
    )
    reasons = [r.reason for r in rejected(records)]
    assert len(reasons) == 3
    assert "hash" in reasons[0]
    assert "account_type" in reasons[1]
    assert "'value'" in reasons[2]


def test_opaque_observables() -> None:
    ip, ip6 = f"ipv4-addr--{uid(1)}", f"ipv6-addr--{uid(2)}"
    records = read(
        bundle(
            {"type": "network-traffic", "id": f"network-traffic--{uid(3)}", "src_ref": ip6}
            | {"dst_ref": ip, "dst_port": 443, "src_port": 50000, "protocols": ["ipv4", "tcp"]},
            {"type": "ipv4-addr", "id": ip, "value": "203.0.113.5"},
            {"type": "ipv6-addr", "id": ip6, "value": "2001:db8::1"},
            {"type": "process", "id": f"process--{uid(4)}", "command_line": "evil.exe  -x"},
            {"type": "mutex", "id": f"mutex--{uid(5)}", "name": "Global\\evil"},
            {"type": "software", "id": f"software--{uid(6)}", "name": "Word", "vendor": "MS"}
            | {"version": "2016"},
        )
    )
    assert not rejected(records)
    by_type = {c.subject.type: c.subject for c in claims(records)}
    assert by_type["network-traffic"].value == "[2001:db8::1]:50000 -> 203.0.113.5:443/tcp"
    assert by_type["network-traffic"].stix_id == f"network-traffic--{uid(3)}"
    assert by_type["process"].value == "evil.exe -x"
    assert by_type["mutex"].value == "Global\\evil"
    assert by_type["software"].value == "MS Word 2016"
    found = triples(records)
    assert (f"network-traffic--{uid(3)}", "communicates-with", "ipv4-addr:203.0.113.5") in found
    assert (f"network-traffic--{uid(3)}", "related-to", "ipv6-addr:2001:db8::1") in found
    assert (f"network-traffic--{uid(3)}", "observed-in", "test.json") in found


def test_sco_embedded_refs() -> None:
    domain, ip, asn = (
        f"domain-name--{uid(1)}",
        f"ipv4-addr--{uid(2)}",
        f"autonomous-system--{uid(3)}",
    )
    records = read(
        bundle(
            {"type": "domain-name", "id": domain, "value": "evil.com", "resolves_to_refs": [ip]},
            {"type": "ipv4-addr", "id": ip, "value": "198.51.100.7", "belongs_to_refs": [asn]},
            {"type": "autonomous-system", "id": asn, "number": 64500},
        )
    )
    found = triples(records)
    assert ("domain-name:evil.com", "resolves-to", "ipv4-addr:198.51.100.7") in found
    assert ("ipv4-addr:198.51.100.7", "belongs-to", "autonomous-system:64500") in found


def test_domain_object_properties() -> None:
    actor = sdo(
        "threat-actor",
        1,
        name="Evil Corp",
        description="Russian cybercrime group",
        aliases=["Indrik Spider", "Evil Corp"],
        threat_actor_types=["crime-syndicate"],
        labels=["ransomware"],
        roles=["agent", "director"],
        sophistication="expert",
        primary_motivation="personal-gain",
        secondary_motivations=["dominance"],
        first_seen="2007-01-01T00:00:00Z",
        last_seen="2024-05-06T07:08:09.123456789Z",
        confidence=80,
        external_references=[
            {
                "source_name": "mitre-attack",
                "external_id": "G0119",
                "url": "https://attack.mitre.org/groups/G0119",
            },
            {"source_name": "blog", "url": "https://example.org/evil-corp"},
            {"source_name": "no id"},
        ],
    )
    location = sdo("location", 2, name="Russia", country="RU", region="eastern-europe")
    records = read(bundle(actor, location))
    assert not rejected(records)
    found = triples(records)
    subject = actor["id"]
    expected = {
        ("name", "Evil Corp"),
        ("description", "Russian cybercrime group"),
        ("alias", "Indrik Spider"),
        ("alias", "Evil Corp"),
        ("label", "crime-syndicate"),
        ("label", "ransomware"),
        ("role", "agent"),
        ("role", "director"),
        ("label", "sophistication:expert"),
        ("label", "motivation:personal-gain"),
        ("label", "motivation:dominance"),
        ("external-id", "mitre-attack:G0119"),
    }
    assert {(p, v) for s, p, v in found if s == subject} == expected
    assert (location["id"], "country", "RU") in found
    assert (location["id"], "label", "region:eastern-europe") in found
    first = next(c for c in claims(records) if c.subject.stix_id == subject)
    assert first.confidence == 80
    assert first.first_seen == dt.datetime(2007, 1, 1, tzinfo=dt.UTC)
    assert first.last_seen == dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    assert first.source == "https://attack.mitre.org/groups/G0119"  # the first url
    ext = next(c for c in claims(records) if c.predicate == "external-id")
    assert ext.source == "https://attack.mitre.org/groups/G0119"


def test_containers_and_special_properties() -> None:
    malware, tool = f"malware--{uid(10)}", f"tool--{uid(11)}"
    records = read(
        bundle(
            sdo("malware", 10, name="Dridex", malware_types=["banking-trojan"], is_family=True),
            sdo("tool", 11, name="Cobalt Strike", tool_types=["remote-access"]),
            sdo(
                "report",
                1,
                name="Q1",
                published="2024-03-01T00:00:00Z",
                report_types=["threat-report"],
            )
            | {"object_refs": [malware, tool, f"relationship--{uid(9)}"]},
            sdo("note", 2, abstract="Heads up", content="Seen in the wild", object_refs=[malware]),
            sdo("opinion", 3, opinion="strongly-agree", explanation="yes", object_refs=[tool]),
            sdo("observed-data", 4, first_observed="2024-01-01T00:00:00Z")
            | {
                "last_observed": "2024-01-02T00:00:00Z",
                "number_observed": 7,
                "object_refs": [tool],
            },
            sdo(
                "malware-analysis",
                5,
                product="CAPE",
                result="malicious",
                sample_ref=f"file--{uid(6)}",
            ),
            sdo(
                "grouping", 6, name="cluster", context="suspicious-activity", object_refs=[malware]
            ),
        )
    )
    assert not rejected(records)
    found = triples(records)
    report, note, opinion = f"report--{uid(1)}", f"note--{uid(2)}", f"opinion--{uid(3)}"
    observed, analysis = f"observed-data--{uid(4)}", f"malware-analysis--{uid(5)}"
    assert {(report, "refers-to", malware), (report, "refers-to", tool)} <= found
    assert not any(o.startswith("relationship--") for _, _, o in found)
    assert (report, "label", "threat-report") in found
    assert {(note, "name", "Heads up"), (note, "description", "Seen in the wild")} <= found
    assert {(opinion, "label", "strongly-agree"), (opinion, "description", "yes")} <= found
    assert {(observed, "sightings", "7"), (observed, "refers-to", tool)} <= found
    assert {(analysis, "name", "CAPE"), (analysis, "label", "malicious")} <= found
    assert (analysis, "analysis-of", f"file--{uid(6)}") in found  # not in the bundle: by id
    assert (f"grouping--{uid(6)}", "refers-to", malware) in found
    observed_claim = next(c for c in claims(records) if c.subject.stix_id == observed)
    assert observed_claim.first_seen == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert observed_claim.last_seen == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    report_claim = next(c for c in claims(records) if c.subject.stix_id == report)
    assert report_claim.first_seen == dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def test_object_with_nothing_to_say_still_exists() -> None:
    records = read(bundle(sdo("malware", 1, is_family=False)), "b.json")
    assert triples(records) == {(f"malware--{uid(1)}", "observed-in", "b.json")}


def test_relationships() -> None:
    actor, malware = f"threat-actor--{uid(1)}", f"malware--{uid(2)}"
    records = read(
        bundle(
            rel(3, actor, "uses", malware, confidence=70, description="kept out")
            | {"start_time": "2020-01-01T00:00:00Z", "stop_time": "2021-01-01T00:00:00Z"},
            rel(4, actor, "hosted-on", f"ipv4-addr--{uid(5)}"),
            rel(5, actor, "dances-with", malware),
            rel(6, actor, "name", malware),
            rel(7, actor, "uses", "not-an-id"),
            rel(8, actor, "uses", f"marking-definition--{uid(9)}"),
            sdo("relationship", 9, relationship_type="uses", source_ref=actor),
        )
    )
    uses = claims(records)[0]
    assert uses.subject == Ref("threat-actor", stix_id=actor)
    assert uses.object == Ref("malware", stix_id=malware)  # not in the bundle: the core decides
    assert uses.predicate == "uses"
    assert uses.value is None
    assert uses.confidence == 70
    assert uses.first_seen == dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    assert uses.last_seen == dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    hosted = claims(records)[1]
    assert hosted.object == Ref("ipv4-addr", stix_id=f"ipv4-addr--{uid(5)}")
    reasons = [r.reason for r in rejected(records)]
    assert "'dances-with' is not a registered predicate" in reasons[0]
    assert "'name' is a property, not a relationship" in reasons[1]
    assert "'not-an-id' is not a STIX identifier" in reasons[2]
    assert "marking-definition, not an entity" in reasons[3]
    assert "needs relationship_type, source_ref and target_ref" in reasons[4]
    assert rejected(records)[0].location == f"objects[2] relationship--{uid(5)}"


def test_sightings() -> None:
    indicator, org = f"indicator--{uid(1)}", f"identity--{uid(2)}"
    records = read(
        bundle(
            sdo("sighting", 3, sighting_of_ref=indicator, where_sighted_refs=[org], count=4)
            | {"first_seen": "2024-02-01T00:00:00Z"},
            sdo("sighting", 4, sighting_of_ref=indicator),
        )
    )
    found = triples(records)
    assert found == {(indicator, "sighted-at", org), (indicator, "sightings", "4")} | {
        (indicator, "sightings", "1")
    }
    assert claims(records)[0].first_seen == dt.datetime(2024, 2, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[domain-name:value = 'evil.com']", [Ref("domain-name", value="evil.com")]),
        (
            "[ipv4-addr:value = '198.51.100.1' OR ipv4-addr:value = '198.51.100.2']",
            [Ref("ipv4-addr", value="198.51.100.1"), Ref("ipv4-addr", value="198.51.100.2")],
        ),
        (
            "([file:hashes.'SHA-256' = 'AB12'] OR [x509-certificate:hashes.'SHA-1' = 'cd34'])",
            [Ref("file", value="AB12"), Ref("x509-certificate", value="cd34")],
        ),
        ("[file:hashes.MD5 = 'ef56']", [Ref("file", value="ef56")]),
        ("[url:value = 'http://evil.com/it\\'s']", [Ref("url", value="http://evil.com/it's")]),
        (
            "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
            [Ref("ipv4-addr", value="198.51.100.0/24")],
        ),
        ("[autonomous-system:number = 64500]", [Ref("autonomous-system", value="64500")]),
        ("[email-addr:value NOT = 'bob@evil.com']", []),
        ("[file:name = 'evil.exe']", []),
        ("[file:hashes.'SHA3-256' = 'ab']", []),
        ("[domain-name:value MATCHES 'evil']", []),
        ("[x-opencti-hostname:value = 'c2.lan']", [Ref("hostname", value="c2.lan")]),
    ],
)
def test_pattern_observables(pattern: str, expected: list[Ref]) -> None:
    assert pattern_observables(pattern) == expected


def test_indicator_pattern_based_on() -> None:
    records = read(
        bundle(
            sdo("indicator", 1, pattern="[domain-name:value = 'evil.com']", pattern_type="stix")
            | {"valid_from": "2024-01-01T00:00:00Z"},
            sdo("indicator", 2, pattern="rule x { condition: true }", pattern_type="yara")
            | {"valid_from": "2024-01-01T00:00:00Z"},
        )
    )
    found = triples(records)
    assert (f"indicator--{uid(1)}", "based-on", "domain-name:evil.com") in found
    assert (f"indicator--{uid(2)}", "pattern", "rule x { condition: true }") in found
    assert not any(s == f"indicator--{uid(2)}" and p == "based-on" for s, p, _ in found)


# --- markings and provenance --------------------------------------------------------------


def marked(*refs: str, **extra: Any) -> dict[str, Any]:
    return sdo("malware", 1, name="x", object_marking_refs=list(refs), **extra)


@pytest.mark.parametrize(
    ("objects", "refs", "marking", "terms"),
    [
        ((), [TLP1_WHITE], Marking.CLEAR, ()),
        ((), [TLP1_AMBER], Marking.AMBER, ()),
        ((), [TLP2_AMBER_STRICT], Marking.AMBER_STRICT, ()),
        ((), [TLP2_GREEN, TLP2_RED, TLP1_WHITE], Marking.RED, ()),
        ((), [], None, ()),
        (
            (
                {"type": "marking-definition", "id": f"marking-definition--{uid(7)}"}
                | {"definition_type": "tlp", "definition": {"tlp": "amber"}},
            ),
            [f"marking-definition--{uid(7)}"],
            Marking.AMBER,
            (),
        ),
        (
            (
                {"type": "marking-definition", "id": f"marking-definition--{uid(7)}", "name": "x"}
                | {
                    "extensions": {
                        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                            "extension_type": "property-extension",
                            "tlp_2_0": "amber+strict",
                        }
                    }
                },
            ),
            [f"marking-definition--{uid(7)}"],
            Marking.AMBER_STRICT,
            (),
        ),
        (
            (  # OpenCTI's own TLP:AMBER+STRICT definition has its own id
                {"type": "marking-definition", "id": f"marking-definition--{uid(7)}"}
                | {
                    "definition_type": "TLP",
                    "name": "TLP:AMBER+STRICT",
                    "definition": {"TLP": "TLP:AMBER+STRICT"},
                },
                {"type": "marking-definition", "id": f"marking-definition--{uid(8)}"}
                | {
                    "definition_type": "PAP",
                    "name": "PAP:GREEN",
                    "definition": {"PAP": "PAP:GREEN"},
                },
            ),
            [f"marking-definition--{uid(7)}", f"marking-definition--{uid(8)}"],
            Marking.AMBER_STRICT,
            ("PAP:GREEN",),
        ),
        (
            (
                {"type": "marking-definition", "id": f"marking-definition--{uid(7)}"}
                | {"definition_type": "statement", "definition": {"statement": "Copyright  X"}},
            ),
            [f"marking-definition--{uid(7)}", f"marking-definition--{uid(9)}", TLP2_GREEN],
            Marking.GREEN,
            ("Copyright X", f"marking-definition--{uid(9)}"),
        ),
    ],
)
def test_markings(
    objects: tuple[dict[str, Any], ...],
    refs: list[str],
    marking: Marking | None,
    terms: tuple[str, ...],
) -> None:
    records = read(bundle(marked(*refs), *objects))  # definitions may come after their use
    claim = claims(records)[0]
    assert claim.marking is marking
    assert claim.terms == terms


def test_granular_markings_count_for_the_whole_object() -> None:
    obj = marked(TLP2_GREEN, granular_markings=[{"marking_ref": TLP2_RED, "selectors": ["name"]}])
    claim = claims(read(bundle(obj)))[0]
    assert claim.marking is Marking.RED


def test_created_by_ref() -> None:
    known, unknown = f"identity--{uid(5)}", f"identity--{uid(6)}"
    records = read(
        bundle(
            sdo("malware", 1, name="a", created_by_ref=known),
            sdo("malware", 2, name="b", created_by_ref=unknown),
            sdo("identity", 5, name="ACME CERT", identity_class="organization"),
        )
    )
    by_subject = {c.subject.stix_id: c.original_source for c in claims(records)}
    assert by_subject[f"malware--{uid(1)}"] == "ACME CERT"
    assert by_subject[f"malware--{uid(2)}"] == unknown  # absent: its id, not an error


# --- item-level errors --------------------------------------------------------------------


def test_item_errors_do_not_stop_the_import() -> None:
    records = read(
        bundle(
            {"id": f"malware--{uid(1)}", "name": "no type"},
            {"type": "malware", "name": "no id"},
            "a string",
            sdo("malware", 2, name=42),
            sdo("malware", 3, name="x", labels="not a list"),
            sdo("malware", 4, name="x", confidence=200),
            sdo("malware", 5, name="x", modified="yesterday"),
            {"type": "malware", "id": "malware--not-a-uuid", "name": "x"},
            {"type": "malware", "id": f"tool--{uid(6)}", "name": "x"},
            {"type": "x-custom-thing", "id": f"x-custom-thing--{uid(7)}"},
            sdo("malware", 8, name="fine"),
        )
    )
    reasons = [(r.location, r.reason) for r in rejected(records)]
    assert reasons == [
        ("objects[0]", "the object has no 'type'"),
        ("objects[1]", "the malware has no 'id'"),
        ("objects[2]", "not a STIX object but a string"),
        (f"objects[3] malware--{uid(2)}", "'name' must be a string, not a number"),
        (f"objects[4] malware--{uid(3)}", "'labels' must be a list of strings"),
        (f"objects[5] malware--{uid(4)}", "'confidence' must be a whole number from 0 to 100"),
        (f"objects[6] malware--{uid(5)}", "'modified' is not a STIX timestamp: 'yesterday'"),
        (
            "objects[7] malware--not-a-uuid",
            "'id' is not the STIX identifier of a malware (STIX §2.9)",
        ),
        (f"objects[8] tool--{uid(6)}", "'id' is not the STIX identifier of a malware (STIX §2.9)"),
        (
            f"objects[9] x-custom-thing--{uid(7)}",
            "'x-custom-thing' objects are not imported: no such entity type",
        ),
    ]
    assert triples(records) == {(f"malware--{uid(8)}", "name", "fine")}


def test_locations_in_a_list_and_a_single_object() -> None:
    records = read([sdo("malware", 1, name="a"), {"type": "malware"}])
    assert claims(records)[0].location == f"[0] malware--{uid(1)}"
    assert rejected(records)[0].location == "[1]"
    single = read(sdo("malware", 2, name="b"))
    assert claims(single)[0].location == f"object malware--{uid(2)}"


def test_observed_in_names_the_bundle_without_a_filename() -> None:
    raw = json.dumps(
        bundle({"type": "ipv4-addr", "id": f"ipv4-addr--{uid(1)}", "value": "1.2.3.4"})
    )
    records = list(StixImporter().read(io.BytesIO(raw.encode()), ImportContext()))
    assert claims(records)[0].value == f"bundle--{uid(0)}"


# --- file-level errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason", "location"),
    [
        (b"", "the file is empty", ""),
        (b"  \n ", "the file is empty", ""),
        (
            b'{"type": "bundle",\n "objects": [{"type": "malware"},\n {"id": tru}]}',
            "invalid JSON",
            "line 3, column 9",
        ),
        (b'{"type": "bundle", "objects": [{"type": "malware"', "invalid JSON", "line 1, column"),
        (
            b'{"type": "bundle", "objects": [{"type": "malware"}',
            "invalid JSON",
            "line 1, column 51",
        ),
        (
            b'{"type": "bundle", "objects": [{"type": "malware"}] x',
            "invalid JSON",
            "line 1, column 53",
        ),
        (b'{"type": "bundle", "objects": [] } {}', "invalid JSON", "line 1, column 36"),
        (
            b'{"type": "bundle", "objects": [{"name": "caf\xe9"}]}',
            "not valid UTF-8",
            "line 1, column 45",
        ),
        (b'{"type": "bundle", "objects": {"a": 1}}', "'objects' is not a list", ""),
        (b'{"id": "bundle--1"}', "the top-level object has no 'type'", ""),
        (b'{"type": 7}', "the top-level object has no 'type'", ""),
        (b"42", "the file holds a number", ""),
        (b'"bundle"', "the file holds a string", ""),
        (b"null", "the file holds null", ""),
        (b"nul", "invalid JSON", "line 1, column 4"),
        (b"[1, 2", "invalid JSON", "line 1, column"),
        (b'{"type": "bundle" "objects": []}', "expected ',' or '}'", "line 1, column 19"),
        (b'{"type" "bundle"}', "expected ':'", "line 1, column 9"),
        (b"{7: 1}", "expected a member name", "line 1, column 2"),
    ],
)
def test_file_errors(data: bytes, reason: str, location: str) -> None:
    with pytest.raises(FileError) as caught:
        read(data)
    assert reason in caught.value.reason
    assert caught.value.location.startswith(location)


def test_a_file_error_after_good_objects_comes_once_they_are_read() -> None:
    """Objects are described while the rest of the file is read: a bundle broken at its end
    yields the claims before the break, then the error at its place (an import is one
    transaction: ``test_ingest`` checks that none of them is kept)."""
    objects = [sdo("malware", n, name=f"m{n}") for n in range(50)]
    data = json.dumps(bundle(*objects)).encode()[:-5]
    records = StixImporter().read(io.BytesIO(data), ImportContext())
    assert isinstance(next(records), Claim)
    with pytest.raises(FileError) as caught:
        list(records)
    assert caught.value.location.startswith("line 1, column")
    # A bundle broken in its first object yields nothing.
    broken = StixImporter().read(
        io.BytesIO(json.dumps(bundle(objects[0])).encode()[:-5]), ImportContext()
    )
    with pytest.raises(FileError):
        next(broken)


def _forward_references() -> list[dict[str, Any]]:
    """Objects that name objects further on in the bundle, and some named twice."""
    ip, ip6, statement = (
        f"ipv4-addr--{uid(1)}",
        f"ipv6-addr--{uid(2)}",
        f"marking-definition--{uid(9)}",
    )
    creator = f"identity--{uid(8)}"
    return [
        sdo(
            "malware",
            3,
            name="early",
            created_by_ref=creator,
            object_marking_refs=[statement, TLP2_GREEN],
        ),
        {
            "type": "network-traffic",
            "id": f"network-traffic--{uid(4)}",
            "src_ref": ip6,
            "dst_ref": ip,
            "dst_port": 443,
        },
        {
            "type": "domain-name",
            "id": f"domain-name--{uid(5)}",
            "value": "evil.example",
            "resolves_to_refs": [ip],
        },
        rel(6, f"malware--{uid(3)}", "uses", f"domain-name--{uid(5)}"),
        sdo(
            "indicator",
            7,
            pattern="[ipv4-addr:value = '203.0.113.5']",
            pattern_type="stix",
            valid_from="2024-01-01T00:00:00Z",
            object_marking_refs=[TLP2_AMBER_STRICT],
        ),
        {"type": "ipv4-addr", "id": ip, "value": "203.0.113.5"},
        {"type": "ipv6-addr", "id": ip6, "value": "2001:db8::1"},
        sdo("identity", 8, name="Vendor Research", identity_class="organization"),
        {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": statement,
            "created": "2024-01-01T00:00:00.000Z",
            "definition_type": "statement",
            "definition": {"statement": "Copyright Vendor"},
        },
        sdo("malware", 10, name="late", created_by_ref=creator, object_marking_refs=[statement]),
        sdo("tool", 11, name="unmarked", created_by_ref=f"identity--{uid(99)}"),
    ]


def test_reading_ahead_gives_the_claims_of_the_two_passes() -> None:
    """Describing objects while reading (the bundle's type comes first) and after reading
    everything (its type comes after its objects) make the same claims, in an order where
    every link comes after every description."""
    objects = _forward_references()
    ahead = read({"type": "bundle", "id": f"bundle--{uid(0)}", "objects": objects})
    after = read({"id": f"bundle--{uid(0)}", "objects": objects, "type": "bundle"})
    assert sorted(map(repr, ahead)) == sorted(map(repr, after))
    assert len(ahead) == len(after) >= 15
    late = [c for c in claims(ahead) if c.location.startswith("objects[0] ")]
    assert {c.original_source for c in late} == {"Vendor Research"}
    assert {c.terms for c in late} == {("Copyright Vendor",)}
    assert {c.marking for c in late} == {Marking.GREEN}
    traffic = [c for c in claims(ahead) if c.subject.type == "network-traffic"]
    assert {c.subject.value for c in traffic} == {"2001:db8::1 -> 203.0.113.5:443"}
    first_link = min(n for n, c in enumerate(claims(ahead)) if c.location.startswith("objects[3] "))
    assert all(c.object is not None for c in claims(ahead)[first_link:])


def test_an_id_held_twice_is_known_by_one_version_throughout() -> None:
    """An identity in two versions, an object naming it between them: every claim names the
    creator alike."""
    creator = f"identity--{uid(8)}"
    records = read(
        bundle(
            sdo("identity", 8, name="Old Name", identity_class="organization"),
            sdo("malware", 1, name="a", created_by_ref=creator),
            sdo("identity", 8, name="New Name", modified="2025-01-01T00:00:00.000Z"),
            sdo("malware", 2, name="b", created_by_ref=creator),
        )
    )  # fmt: skip
    assert {c.original_source for c in claims(records) if c.subject.type == "malware"} == {
        "Old Name"
    }


def test_absurd_nesting_is_a_file_error_quickly() -> None:
    started = time.perf_counter()
    for data in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"type": "bundle", "objects": [' + b"[" * 100_000,
    ):
        with pytest.raises(FileError, match="nested too deeply"):
            read(data)
    assert time.perf_counter() - started < 2


def test_big_string_is_fine() -> None:
    big = "x" * 10_000_000
    started = time.perf_counter()
    records = read(bundle(sdo("malware", 1, name="big", description=big), sdo("tool", 2, name="t")))
    assert time.perf_counter() - started < 5
    assert len(claims(records)) == 3
    assert claims(records)[1].value == big


def test_bom_and_shapes() -> None:
    obj = sdo("malware", 1, name="a")
    assert claims(read(b"\xef\xbb\xbf" + json.dumps(bundle(obj)).encode()))
    # "objects" before "type", and a bundle without "type" but with its objects
    reordered = {"objects": [obj], "id": f"bundle--{uid(0)}", "type": "bundle"}
    assert claims(read(reordered))[0].location == f"objects[0] malware--{uid(1)}"
    assert claims(read({"objects": [obj]}))
    assert read(bundle()) == []
    assert read({"type": "bundle", "id": "x"}) == []
    assert read([]) == []


class _Chunky(io.RawIOBase):
    """A non-seekable stream that hands out a few bytes at a time."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.data[self.pos : self.pos + 7]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def many_objects(count: int) -> Iterator[dict[str, Any]]:
    for n in range(count):
        yield {
            "type": "ipv4-addr",
            "id": f"ipv4-addr--{uid(n)}",
            "value": f"10.0.{n >> 8}.{n & 255}",
        }
        yield sdo("indicator", n, name=f"big {n}", description="é" * (n * 97 % 9000 + 1))


def test_reading_paths_agree(tmp_path: Path) -> None:
    """Memory-mapped file, a non-seekable stream and bytes give the same records; items longer
    than the scanner's window, non-ASCII text and many objects included."""
    data = json.dumps(bundle(*many_objects(300)), ensure_ascii=False, indent=1).encode()
    expected = read(data)
    assert len(claims(expected)) == 300 * 3
    path = tmp_path / "bundle.json"
    path.write_bytes(data)
    with path.open("rb") as stream:
        assert list(StixImporter().read(stream, ImportContext(filename="test.json"))) == expected
    chunky = io.BufferedReader(_Chunky(data))
    assert list(StixImporter().read(chunky, ImportContext(filename="test.json"))) == expected


def test_stream_position_is_respected(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(b"garbage" + json.dumps(bundle(sdo("malware", 1, name="a"))).encode())
    with path.open("rb") as stream:
        stream.seek(7)
        assert claims(list(StixImporter().read(stream, ImportContext())))
    raw = io.BytesIO(b"garbage" + json.dumps([sdo("malware", 1, name="a")]).encode())
    raw.seek(7)
    assert claims(list(StixImporter().read(raw, ImportContext())))
