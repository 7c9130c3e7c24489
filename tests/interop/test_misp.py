"""MISP events and galaxy files in, one MISP event out."""

from __future__ import annotations

import collections
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyberatlas.core.tlp import Marking
from cyberatlas.interop.misp import MispGalaxyImporter, MispImporter, galaxy_entity_type
from cyberatlas.interop.misp_export import misp_event, write_misp_event
from cyberatlas.interop.records import (
    Claim,
    ExportEntity,
    ExportStatement,
    FileError,
    ImportContext,
    Record,
    Ref,
    Rejected,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "misp"
SHARED = (Path(__file__).parents[2] / ".." / "shared" / "data" / "misp").resolve()
UTC = dt.UTC


def read(data: bytes | dict[str, Any] | list[Any], importer: Any = None) -> list[Record]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return list((importer or MispImporter()).read(io.BytesIO(raw), ImportContext()))


def fixture(name: str, importer: Any = None) -> list[Record]:
    return read((FIXTURES / name).read_bytes(), importer)


def claims(records: list[Record]) -> list[Claim]:
    return [r for r in records if isinstance(r, Claim)]


def reasons(records: list[Record]) -> collections.Counter[str]:
    return collections.Counter(r.reason for r in records if isinstance(r, Rejected))


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (shared data sets are not in the repository)")
    return path


def find(records: list[Record], **fields: Any) -> list[Claim]:
    """Claims whose fields equal these; a ref given by name also matches that name with the
    cluster's identifier (galaxy clusters keep their MISP uuid as their STIX id)."""
    return [c for c in claims(records) if all(_same(getattr(c, k), v) for k, v in fields.items())]


def _same(got: Any, wanted: Any) -> bool:
    if isinstance(got, Ref) and isinstance(wanted, Ref) and wanted.stix_id is None:
        return (got.type, got.value, got.name) == (wanted.type, wanted.value, wanted.name)
    return bool(got == wanted)


# --- events: shapes, observables, provenance -----------------------------------------------


def test_response_shape_glupteba() -> None:
    records = fixture("glupteba-trimmed.json")
    assert reasons(records) == {"MISP type 'regkey' is not supported": 1}
    domain = Ref("domain-name", value="server-1.ostdownload.xyz")
    (observed,) = find(records, subject=domain)
    assert observed.predicate == "observed-in"
    assert observed.value == "Glupteba.AY research related IoCs"
    assert observed.source == "misp-event:5aa2e21b-79d8-4fd7-b15d-34670a016219"
    assert observed.original_source == "ESET"
    assert observed.marking is None  # the event has no tlp tag: the command needs --tlp
    assert (
        observed.last_seen == observed.modified == dt.datetime(2018, 3, 9, 19, 37, 32, tzinfo=UTC)
    )
    resolves = find(records, predicate="resolves-to")
    assert [(c.subject.value, c.object.value if c.object else "") for c in resolves] == [
        ("burnandfire5.com", "104.31.89.75"),
        ("burnandfire5.com", "104.31.88.75"),
    ]
    (name,) = find(records, predicate="name")
    assert (name.subject, name.value) == (
        Ref("file", value="1645ad8468a2fb54763c0ebeb766dfd8c643f3db"),
        "csrss.exe",
    )


def test_event_shape_sshdoor_endor() -> None:
    records = fixture("sshdoor-endor.json")
    assert len(claims(records)) == 12
    assert reasons(records) == {"MISP type 'filename' is not supported": 7}
    assert {c.value for c in claims(records)} == {"SSHDoor : Endor"}
    assert collections.Counter(c.subject.type for c in claims(records)) == {
        "file": 11,
        "email-addr": 1,
    }


def _event(**extra: Any) -> dict[str, Any]:
    event = {
        "uuid": "0b5c2d35-5a7e-4a2d-9a53-6a2f3c1e9d10",
        "info": "Paper Lantern C2",
        "Orgc": {"name": "CERT-EX"},
        "timestamp": "1700000000",
        "Tag": [
            {"name": "tlp:amber"},
            {"name": 'admiralty-scale:source-reliability="b"'},
            {"name": 'admiralty-scale:information-credibility="2"'},
        ],
        "Attribute": [
            {"uuid": "a1", "type": "domain", "value": "evil[.]com", "timestamp": "1700000100",
             "first_seen": "2023-11-01T00:00:00+00:00", "comment": "C2 panel",
             "Tag": [{"name": "tlp:green"}, {"name": "tlp:red"}, {"name": "c2"}]},
            {"uuid": "a2", "type": "ip-dst|port", "value": "185.220.101.47|8080",
             "Tag": [{"name": "tlp:white"},
                     {"name": 'admiralty-scale:source-reliability="a"'}]},
            {"uuid": "a3", "type": "btc", "value": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
            {"uuid": "a4", "type": "jabber-id", "value": "lantern@exploit.im"},
            {"uuid": "a5", "type": "regkey", "value": "HKLM\\Run"},
            {"uuid": "a6", "type": "comment", "value": "prose"},
        ],
    }  # fmt: skip
    event.update(extra)
    return event


def test_markings_and_admiralty_grades_from_tags() -> None:
    records = read({"Event": _event()})
    by_subject = {c.subject.value: c for c in find(records, predicate="observed-in")}
    domain, ip = by_subject["evil[.]com"], by_subject["185.220.101.47"]
    assert domain.marking is Marking.RED  # the strictest of the attribute's own tags
    assert ip.marking is Marking.CLEAR  # tlp:white is TLP 2.0 CLEAR
    assert by_subject["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"].marking is Marking.AMBER
    assert (domain.source_grade, domain.information_grade) == ("B", "2")
    assert (ip.source_grade, ip.information_grade) == ("A", "2")
    assert domain.first_seen == dt.datetime(2023, 11, 1, tzinfo=UTC)
    assert domain.last_seen == dt.datetime.fromtimestamp(1_700_000_100, tz=UTC)
    assert ip.last_seen is None  # no dates on the attribute: the event's version only
    assert ip.modified == dt.datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert [(c.predicate, c.value) for c in find(records, subject=domain.subject)][1:] == [
        ("label", "c2"),
        ("description", "C2 panel"),
    ]
    wallet = Ref("cryptocurrency-wallet", value="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
    assert [c.value for c in find(records, subject=wallet, predicate="chain")] == ["bitcoin"]
    assert find(records, subject=Ref("user-account", value="jabber:lantern@exploit.im"))
    assert reasons(records) == {"MISP type 'regkey' is not supported": 1}
    importer = MispImporter()
    read({"Event": _event()}, importer)
    assert importer.default_marking() is Marking.AMBER


def test_list_of_events_and_response_of_several() -> None:
    one, two = _event(info="one"), _event(info="two", uuid="e2")
    for data in ([{"Event": one}, {"Event": two}], {"response": [{"Event": one}, {"Event": two}]}):
        values = {c.value for c in find(read(data), predicate="observed-in")}  # type: ignore[arg-type]
        assert values == {"one", "two"}


def test_threat_galaxy_on_the_event_links_to_every_observable() -> None:
    galaxy = [
        {"type": "ransomware", "GalaxyCluster": [
            {"type": "ransomware", "value": "LockBit", "uuid": "u-lockbit",
             "meta": {"synonyms": ["LockBit 3.0", "lockbit"]}}]},
        {"type": "mitre-attack-pattern", "GalaxyCluster": [
            {"type": "mitre-attack-pattern", "value": "Data Encrypted for Impact - T1486"}]},
    ]  # fmt: skip
    records = read({"Event": _event(Galaxy=galaxy)})
    lockbit = Ref("malware", name="LockBit")
    assert [(c.predicate, c.value) for c in find(records, subject=lockbit, object=None)] == [
        ("name", "LockBit"),
        ("alias", "LockBit 3.0"),  # "lockbit" is the name again
        ("external-id", "misp-galaxy:u-lockbit"),
    ]
    links = {(c.predicate, c.object.type) for c in find(records, subject=lockbit) if c.object}
    assert links == {
        ("uses", "domain-name"),
        ("uses", "ipv4-addr"),
        ("uses", "cryptocurrency-wallet"),
        ("uses", "user-account"),
        ("uses", "attack-pattern"),
    }
    technique = Ref("attack-pattern", name="Data Encrypted for Impact - T1486")
    assert ("external-id", "T1486") in {
        (c.predicate, c.value) for c in find(records, subject=technique)
    }


def test_galaxy_tag_without_its_galaxy_section_still_names_the_threat() -> None:
    tags = [{"name": 'misp-galaxy:threat-actor="Wizard Spider"'}]
    records = read({"Event": _event(Tag=tags)})
    actor = Ref("threat-actor", name="Wizard Spider")
    assert {c.object.type for c in find(records, subject=actor) if c.object} >= {"domain-name"}


def test_objects_and_references_ebury() -> None:
    records = fixture("ebury-trimmed.json")
    ebury = Ref("threat-actor", name="Ebury")
    assert ("alias", "Operation Windigo") in {
        (c.predicate, c.value) for c in find(records, subject=ebury)
    }
    domain = Ref("domain-name", value="op3f1libgh.biz")
    # domain-ip "used-by" file: MISP's phrasing, reversed into the registered "uses".
    users = find(records, predicate="uses", object=domain)
    assert {c.subject.type for c in users} == {"file", "threat-actor"}
    assert len([c for c in users if c.subject.type == "file"]) == 2
    (exfiltration,) = find(records, predicate="exfiltrates-to")
    assert exfiltration.object == Ref("domain-name", value="pbarsec.com")
    assert exfiltration.location.startswith(
        "Event 13cb1207-0674-4a54-a999-df5ff8e35c1a ObjectReference"
    )
    # A file object's three hashes are one file; detection names are labels.
    same = find(records, predicate="same-as")
    assert same
    assert all(c.value == "same" and c.subject.type == "file" for c in same)
    assert {c.value for c in find(records, predicate="label")} == {"Linux/Ebury.J"} or all(
        c.value.startswith("Linux/") for c in find(records, predicate="label") if c.value
    )
    assert reasons(records)["includes: the referenced object holds no entity"] > 0
    assert all(r.location.startswith("Event ") for r in records)


def test_real_eset_events() -> None:
    root = shared("eset-misp-events")
    expected = {  # file: (claims, rejected)
        "glupteba/glupteba.misp-event.json": (334, 1),
        "windigo/ebury.misp.json": (876, 102),
        "mozi/mozi.misp-event.json": (176, 29),
        "stantinko/stantinko.misp-event.json": (492, 46),
        "badiis/misp-badiis.json": (272, 51),
        "sshdoor/misp-events/onderon.json": (9, 9),
    }
    for name, (n_claims, n_rejected) in expected.items():
        records = read((root / name).read_bytes())
        assert all(c.subject.type != "event" and c.subject != c.object for c in claims(records))
        assert (len(claims(records)), len(records) - len(claims(records))) == (
            n_claims,
            n_rejected,
        ), name
    ebury = read((root / "windigo/ebury.misp.json").read_bytes())
    domain = Ref("domain-name", value="op3f1libgh.biz")
    assert [c.object for c in find(ebury, subject=domain, predicate="resolves-to")] == [
        Ref("ipv4-addr", value="135.181.148.230")
    ]
    mozi = read((root / "mozi/mozi.misp-event.json").read_bytes())
    # An ip-port object says "country: Slovakia": the country name becomes its ISO code.
    assert [c.value for c in find(mozi, predicate="country")] == ["SK"]
    hosted = find(mozi, predicate="hosted-on")  # file "downloaded-from" url
    assert len(hosted) == 21
    assert all(c.object and c.object.type == "url" for c in hosted)


@pytest.mark.parametrize(
    ("data", "location", "message"),
    [
        (b'{"Event": {"info": "x"', "line 1, column 23", "not JSON"),
        (b'{"Event": {"info": "x", }}', "line 1, column 25", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "line 1, column 501", "nested too deeply"),
        (b'{"Event": {"info": "caf\xe9"}}', "line 1", "not UTF-8"),
        (b'{"type": "bundle", "objects": []}', "top level", "not a MISP event"),
        (b'[{"Event": {}}, 3]', "top level", "not a MISP event"),
        (b"", "line 1, column 1", "not JSON"),
    ],
)
def test_whole_file_problems(data: bytes, location: str, message: str) -> None:
    with pytest.raises(FileError) as error:
        read(data)
    assert error.value.location == location
    assert message in error.value.reason


# --- galaxies ------------------------------------------------------------------------------


def test_ransomware_galaxy_sites_contacts_wallets_and_related() -> None:
    records = fixture("galaxy-ransomware-trimmed.json", MispGalaxyImporter())
    assert reasons(records) == {}
    lockbit = Ref("malware", name="LockBit")
    sites = {
        (c.predicate, c.object.type, c.object.value)
        for c in find(records, subject=lockbit)
        if c.object
    }
    assert ("uses", "url", "http://lockbitkodidilol.onion") in sites
    assert ("uses", "domain-name", "lockbitkodidilol.onion") in sites  # the onion host too
    roza = Ref("malware", name="RozaLocker Ransomware")
    wallet = Ref("cryptocurrency-wallet", value="3FjtFZWjyj46UcfDY4AiUrEv7wLtyzZv5o")
    assert [(c.predicate, c.object) for c in find(records, subject=roza) if c.object] == [
        ("communicates-via", Ref("email-addr", value="aoneder@mail.ru")),
        ("receives-payment-via", wallet),
    ]
    vortex = Ref("malware", name="Vortex Ransomware")
    # The note glues "…@airmail.cc2 files": only the well-delimited address is taken.
    contacts = find(records, subject=vortex, predicate="communicates-via")
    assert {c.object.value for c in contacts if c.object} == {"rsapl@openmailbox.org"}
    # "Conti parent-of X" becomes "X variant-of Conti"; only links inside the file are kept.
    conti = Ref("malware", name="Conti")
    variants = {c.subject.name for c in find(records, predicate="variant-of", object=conti)}
    assert variants
    assert all(c.object and c.object.name in {r.subject.name for r in claims(records)}
               for c in claims(records) if c.object and c.object.type == "malware")  # fmt: skip
    assert all(c.marking is None and c.source == "misp-galaxy:ransomware" for c in claims(records))
    assert MispGalaxyImporter().default_marking() is None


def test_threat_actor_galaxy_countries_and_aliases() -> None:
    records = fixture("galaxy-threat-actor-trimmed.json", MispGalaxyImporter())
    apt1 = Ref("threat-actor", name="APT1")
    said = {(c.predicate, c.value) for c in find(records, subject=apt1)}
    assert ("country", "CN") in said
    assert ("alias", "COMMENT PANDA") in said
    assert ("external-id", "misp-galaxy:c3f6d6b5-4b6c-4d6f-9f6d-5c9c5b5f2d4c") not in said
    assert any(p == "external-id" and v and v.startswith("misp-galaxy:") for p, v in said)


def test_real_galaxy_files() -> None:
    root = shared("misp-galaxy", "clusters")
    expected = {
        "ransomware.json": 13_692,
        "threat-actor.json": 5_030,
        "mitre-intrusion-set.json": 1_378,
    }
    for name, count in expected.items():
        records = read((root / name).read_bytes(), MispGalaxyImporter())
        assert (len(claims(records)), len(reasons(records))) == (count, 0), name
    ransomware = read((root / "ransomware.json").read_bytes(), MispGalaxyImporter())
    counts = collections.Counter(c.predicate for c in claims(ransomware))
    assert counts["receives-payment-via"] == 19  # the BTC addresses of ransom notes
    assert counts["communicates-via"] == 161
    lockbit = Ref("malware", name="LockBit")
    assert find(
        ransomware, subject=lockbit, object=Ref("domain-name", value="lockbitks2tvnmwk.onion")
    )
    actors = read((root / "threat-actor.json").read_bytes(), MispGalaxyImporter())
    countries = [c.value for c in find(actors, predicate="country")]
    assert len(countries) == 476
    assert all(v and len(v) == 2 for v in countries)


def test_galaxy_file_problems() -> None:
    with pytest.raises(FileError, match="not a MISP galaxy clusters file"):
        read({"Event": {}}, MispGalaxyImporter())
    with pytest.raises(FileError, match="galaxy type 'sector' names no entity"):
        read({"type": "sector", "values": []}, MispGalaxyImporter())
    records = read({"type": "tool", "values": [{"value": "  "}, 3, {"value": "Cobalt Strike"}]},
                   MispGalaxyImporter())  # fmt: skip
    assert [(r.location, r.reason) for r in records if isinstance(r, Rejected)] == [
        ("values[0]", "a cluster needs a value"),
        ("values[1]", "a cluster needs a value"),
    ]
    assert galaxy_entity_type("eset-threat-actor") == "threat-actor"
    assert galaxy_entity_type("mitre-intrusion-set") == "intrusion-set"


# --- export --------------------------------------------------------------------------------


def _entity(id_: str, type_: str, key: str, label: str, marking: Marking) -> ExportEntity:
    return ExportEntity(id_, type_, key, label, marking)


def _statements() -> list[ExportStatement]:
    actor = _entity("threat-actor--1b9f2a0e-6a51-4b38-9d43-2b0f3d4c5e6f", "threat-actor", "",
                    "LockBit", Marking.GREEN)  # fmt: skip
    onion = _entity("url--5a1c", "url", "http://lockbitkodidilol.onion/", "…", Marking.CLEAR)
    evm = "0x52908400098527886E0F7030069857D2E4169EE7"
    wallet = _entity("cryptocurrency-wallet--9d", "cryptocurrency-wallet", evm, "0x5290…",
                     Marking.GREEN)  # fmt: skip
    domain = _entity("domain-name--7e", "domain-name", "lockbit-decryptor.com", "…", Marking.CLEAR)
    ip = _entity("ipv4-addr--3c", "ipv4-addr", "185.220.101.47", "…", Marking.CLEAR)
    when = dt.datetime(2024, 2, 19, tzinfo=UTC)

    def s(
        n: int,
        subject: ExportEntity,
        predicate: str,
        value: str | None = None,
        obj: ExportEntity | None = None,
        marking: Marking = Marking.CLEAR,
    ) -> ExportStatement:
        return ExportStatement(f"st-{n}", subject, predicate, value, obj, marking, "CERT-EX", "",
                               None, when, when, when, when)  # fmt: skip

    return [
        s(1, actor, "name", "LockBit", marking=Marking.GREEN),
        s(2, actor, "alias", "LockBit 3.0", marking=Marking.GREEN),
        s(3, actor, "uses", obj=onion),
        s(4, actor, "receives-payment-via", obj=wallet, marking=Marking.AMBER),
        s(5, domain, "resolves-to", obj=ip),
        s(6, domain, "label", "leak site"),
        s(7, wallet, "chain", "ethereum", marking=Marking.GREEN),
    ]


def test_export_loads_in_pymisp() -> None:
    pymisp = pytest.importorskip("pymisp")
    stream = io.StringIO()
    write_misp_event(_statements(), stream, info="LockBit infrastructure", org_name="CERT-EX")
    event = pymisp.MISPEvent()
    event.load(stream.getvalue())
    assert event.info == "LockBit infrastructure"
    assert [t.name for t in event.tags] == ["tlp:amber"]  # the strictest of all
    assert sorted(o.name for o in event.objects) == [
        "coin-address", "domain-ip", "ip-port", "threat-actor", "url",
    ]  # fmt: skip
    actor = next(o for o in event.objects if o.name == "threat-actor")
    assert sorted(r.relationship_type for r in actor.references) == ["receives-payment-via", "uses"]
    wallet = next(o for o in event.objects if o.name == "coin-address")
    assert {a.object_relation for a in wallet.attributes} == {"address-crypto", "symbol", "chain"}
    # The wallet is shown by an AMBER relationship: its attributes are AMBER too.
    assert {t.name for a in wallet.attributes for t in a.tags} == {"tlp:amber"}


def test_export_round_trips_through_the_importer() -> None:
    stream = io.StringIO()
    write_misp_event(_statements(), stream, "CERT-EX", info="LockBit infrastructure")
    records = read(stream.getvalue().encode())
    assert reasons(records) == {}
    actor = Ref("threat-actor", name="LockBit")
    said = {(c.predicate, c.value, c.object) for c in find(records, subject=actor)}
    assert said >= {
        ("name", "LockBit", None),
        ("alias", "LockBit 3.0", None),
        ("uses", None, Ref("url", value="http://lockbitkodidilol.onion/")),
        ("receives-payment-via", None,
         Ref("cryptocurrency-wallet", value="0x52908400098527886E0F7030069857D2E4169EE7")),
    }  # fmt: skip
    (payment,) = find(records, predicate="receives-payment-via")
    assert payment.marking is Marking.AMBER  # never less strict than exported
    domain = Ref("domain-name", value="lockbit-decryptor.com")
    assert [c.object for c in find(records, subject=domain, predicate="resolves-to")] == [
        Ref("ipv4-addr", value="185.220.101.47")
    ]
    assert [c.value for c in find(records, subject=domain, predicate="label")] == ["leak site"]
    wallet = Ref("cryptocurrency-wallet", value="0x52908400098527886E0F7030069857D2E4169EE7")
    assert [c.value for c in find(records, subject=wallet, predicate="chain")] == ["ethereum"]
    assert {c.original_source for c in claims(records)} == {"CERT-EX"}
    assert {c.value for c in find(records, predicate="observed-in")} == {"LockBit infrastructure"}


def test_export_of_nothing_is_an_empty_event() -> None:
    event = misp_event([], info="empty", org_name="CERT-EX")["Event"]
    assert (event["Object"], event["Tag"]) == ([], [{"name": "tlp:clear"}])


# --- fuzzing -------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(["Event", "Attribute", "Object", "tlp:red", "domain", "evil.com", "values"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Event",
                    "response",
                    "Attribute",
                    "Object",
                    "ObjectReference",
                    "Tag",
                    "Galaxy",
                    "GalaxyCluster",
                    "type",
                    "value",
                    "uuid",
                    "name",
                    "info",
                    "referenced_uuid",
                    "relationship_type",
                    "meta",
                    "values",
                    "related",
                    "dest-uuid",
                    "links",
                    "ransomnotes",
                    "synonyms",
                    "object_relation",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@given(_JSON)
def test_arbitrary_json_gives_records_or_a_file_error(data: Any) -> None:
    for importer in (MispImporter(), MispGalaxyImporter()):
        try:
            records = read(json.dumps(data).encode(), importer)
        except FileError:
            continue
        assert all(isinstance(r, Claim | Rejected) for r in records)
        assert all(c.subject.type != "event" for c in claims(records))  # no placeholder leaks


@given(st.binary(max_size=500))
def test_arbitrary_bytes_give_records_or_a_file_error(data: bytes) -> None:
    for importer in (MispImporter(), MispGalaxyImporter()):
        try:
            records = read(data, importer)
        except FileError:
            continue
        assert all(isinstance(r, Claim | Rejected) for r in records)


def test_galaxy_clusters_keep_their_uuid_as_identifier() -> None:
    records = fixture("galaxy-ransomware-trimmed.json", MispGalaxyImporter())
    names = [c for c in claims(records) if c.predicate == "name"]
    assert names
    for claim in names:
        assert claim.subject.stix_id is not None
        assert claim.subject.stix_id.startswith("malware--")
        assert claim.subject.name == claim.value


def test_galaxy_links_between_clusters_come_after_every_cluster() -> None:
    records = fixture("galaxy-ransomware-trimmed.json", MispGalaxyImporter())
    found = claims(records)
    cluster_ids = {c.subject.stix_id for c in found if c.predicate == "name"}
    links = [
        n for n, c in enumerate(found) if c.object is not None and c.object.stix_id in cluster_ids
    ]
    last_name = max(n for n, c in enumerate(found) if c.predicate == "name")
    assert links
    assert all(n > last_name for n in links)
