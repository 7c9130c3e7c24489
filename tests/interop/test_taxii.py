"""The TAXII 2.1 server, with the taxii2-client library as the client, over a live server."""

from __future__ import annotations

import gc
import os

import pytest
import requests
from django.test import Client
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from cyberatlas.accounts import services as accounts
from cyberatlas.accounts import two_factor
from cyberatlas.core.tlp import Marking
from cyberatlas.interop.exports import export_records
from cyberatlas.interop.stix_export import export_stix
from cyberatlas.interop.stix_import import TLP2_IDS
from cyberatlas.interop.taxii_objects import COMMUNITY, collection_id, timestamp
from cyberatlas.knowledge import services
from cyberatlas.knowledge.models import AuditEvent
from tests.factories import investigation, org, person, say

PASSWORD = "correct horse battery staple"
STRICT = Marking.AMBER_STRICT


class Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@pytest.fixture
def world(transactional_db):
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    bank, vendor = org("Bank"), org("Vendor", sector="cybersecurity-vendor")
    police = org("Police", kind="partner", sector="law-enforcement")
    alice, carol = person("alice", bank), person("carol", vendor)
    pat = person("pat", police, roles=("partner",))
    for user in (alice, carol, pat):
        user.set_password(PASSWORD)
        user.save()
    for n in range(25):
        say(alice, f"domain-name:d{n:02d}.example.com", "status", "active")
    say(alice, "domain-name:d00.example.com", "hosted-on", "ipv4-addr:203.0.113.5")
    say(alice, "domain-name:secret.example.com", "status", "active", Marking.AMBER_STRICT)
    target = say(alice, "threat-actor:Wire Gang", "country", "RU").subject
    case = investigation("Op Wire", target, bank, alice)
    say(alice, "threat-actor:Wire Gang", "alias", "WG", Marking.AMBER, investigation=case)
    return {"alice": alice, "carol": carol, "pat": pat, "case": case}


def server(live_server, username: str = "", token: str = "") -> Server:
    auth = Bearer(token) if token else None
    user, password = (username, PASSWORD) if username else (None, None)
    return Server(f"{live_server.url}/taxii2/", user=user, password=password, auth=auth)


def community(live_server, username: str) -> Collection:
    root = server(live_server, username).api_roots[0]
    return next(c for c in root.collections if c.id == COMMUNITY)


def test_discovery_root_and_collections_follow_the_audiences(live_server, world):
    alice_root: ApiRoot = server(live_server, "alice").default
    assert "application/taxii+json;version=2.1" in alice_root.versions
    assert {c.title for c in alice_root.collections} == {"Community", "Op Wire"}
    carol_root = server(live_server, "carol").api_roots[0]
    assert [c.title for c in carol_root.collections] == ["Community"]
    assert carol_root.collections[0].can_write
    # Partners must use a second factor: a password alone is refused, a token works.
    with pytest.raises(requests.HTTPError, match="401"):
        _ = server(live_server, "pat").api_roots
    pat_root = server(live_server, token=accounts.create_token(None, "pat")).api_roots[0]
    assert [c.can_write for c in pat_root.collections] == [False]


def test_objects_page_with_limit_and_next_and_serve_only_what_is_readable(live_server, world):
    collection = community(live_server, "carol")
    seen = []
    for envelope in as_pages(collection.get_objects, per_request=10):
        seen += envelope.get("objects", [])
    ids = [o["id"] for o in seen]
    assert len(ids) == len(set(ids))
    values = {o.get("value") for o in seen}
    assert {f"d{n:02d}.example.com" for n in range(25)} <= values
    assert "203.0.113.5" in values
    assert "secret.example.com" not in values
    assert any(o["type"] == "relationship" for o in seen)
    assert all(o.get("spec_version", "2.1") == "2.1" for o in seen)
    alice_values = {
        o.get("value")
        for page in as_pages(community(live_server, "alice").get_objects, per_request=50)
        for o in page.get("objects", [])
    }
    assert "secret.example.com" in alice_values


def test_filters_manifest_object_and_versions(live_server, world):
    collection = community(live_server, "carol")
    ips = collection.get_objects(type="ipv4-addr")["objects"]
    assert [o["value"] for o in ips] == ["203.0.113.5"]
    first = collection.get_objects(limit=1)
    added = first["objects"][0]
    manifest = collection.get_manifest(limit=5)
    assert len(manifest["objects"]) == 5
    assert manifest["objects"][0]["id"] == added["id"]
    one = collection.get_object(added["id"])
    assert [o["id"] for o in one["objects"]] == [added["id"]]
    versions = collection.object_versions(added["id"])
    assert len(versions["versions"]) == 1
    later = collection.get_objects(added_after=manifest["objects"][-1]["date_added"])
    assert all(o["id"] != added["id"] for o in later.get("objects", []))
    assert collection.get_objects(spec_version="2.0").get("objects") is None


def test_add_objects_imports_as_the_member_and_reports_status(live_server, world):
    collection = community(live_server, "carol")
    green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
    envelope = {
        "objects": [
            {
                "type": "domain-name",
                "spec_version": "2.1",
                "id": "domain-name--dd3d3c5b-6a9d-5a1b-8c0e-2d3c2a4c7b11",
                "value": "new.example.org",
                "object_marking_refs": [green],
            },
            {
                "type": "ipv4-addr",
                "spec_version": "2.1",
                "id": "ipv4-addr--aa3d3c5b-6a9d-5a1b-8c0e-2d3c2a4c7b11",
                "value": "999.1.1.1",
                "object_marking_refs": [green],
            },
        ]
    }
    status = collection.add_objects(envelope)
    assert status.status == "complete"
    assert status.success_count == 1
    assert status.failure_count == 1
    assert "999.1.1.1" in status.failures[0]["message"]
    assert collection.get_objects(type="domain-name", limit=100)
    values = {
        o["value"]
        for page in as_pages(collection.get_objects, per_request=100, type="domain-name")
        for o in page.get("objects", [])
    }
    assert "new.example.org" in values


def test_basic_auth_is_refused_to_second_factor_accounts_and_tokens_work(live_server, world):
    two_factor.enrol_confirmed(world["alice"])
    response = requests.get(
        f"{live_server.url}/taxii2/",
        auth=("alice", PASSWORD),
        headers={"Accept": "application/taxii+json;version=2.1"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/taxii+json")
    token = accounts.create_token(None, "alice")
    assert server(live_server, token=token).api_roots
    wrong = requests.get(f"{live_server.url}/taxii2/", headers={"Accept": "text/html"}, timeout=10)
    assert wrong.status_code == 406


def test_the_status_of_an_add_request_is_kept_for_its_requester(live_server, world):
    root = server(live_server, "carol").api_roots[0]
    collection = next(c for c in root.collections if c.id == COMMUNITY)
    green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
    status = collection.add_objects(
        {
            "objects": [
                {
                    "type": "domain-name",
                    "spec_version": "2.1",
                    "id": "domain-name--bb3d3c5b-6a9d-5a1b-8c0e-2d3c2a4c7b11",
                    "value": "kept.example.org",
                    "object_marking_refs": [green],
                }
            ]
        }
    )
    again = root.get_status(status.id)
    assert (again.status, again.success_count) == ("complete", 1)
    alice_root = server(live_server, "alice").api_roots[0]
    with pytest.raises(requests.HTTPError, match="404"):
        alice_root.get_status(status.id)


# What is served, read through the objects and manifest endpoints with a test client.

MEDIA = "application/taxii+json;version=2.1"


def reader(user) -> Client:
    token = accounts.create_token(None, user.username)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT=MEDIA)


def served(user, collection: str = COMMUNITY, endpoint: str = "objects", **params) -> list[dict]:
    """Every object (or manifest entry) of a collection, paging with ``next``."""
    client, found, cursor = reader(user), [], None
    while True:
        query = {**params, **({"next": cursor} if cursor else {})}
        body = client.get(f"/taxii2/api/collections/{collection}/{endpoint}/", query).json()
        found += body.get("objects", [])
        if not body["more"]:
            return found
        cursor = body["next"]


def by_value(objects: list[dict]) -> dict[str, dict]:
    return {o["value"]: o for o in objects if "value" in o}


@pytest.fixture
def members(db):
    bank, vendor = org("Bank"), org("Vendor", sector="cybersecurity-vendor")
    return person("alice", bank), person("bob", bank), person("carol", vendor)


def test_an_object_is_marked_with_the_strictest_statement_behind_it_its_reader_reads(members):
    alice, _, carol = members
    say(alice, "domain-name:m.example.com", "status", "active")
    say(carol, "domain-name:m.example.com", "status", "active", Marking.CLEAR)
    say(alice, "domain-name:m.example.com", "status", "inactive", Marking.AMBER_STRICT)
    link = say(alice, "domain-name:m.example.com", "hosted-on", "ipv4-addr:203.0.113.9")
    strict = say(
        alice, "domain-name:m.example.com", "hosted-on", "ipv4-addr:203.0.113.7",
        Marking.AMBER_STRICT,
    )  # fmt: skip
    for_alice, for_carol = served(alice), served(carol)
    marking = {o["id"]: o["object_marking_refs"] for o in for_alice}
    assert by_value(for_alice)["m.example.com"]["object_marking_refs"] == [
        TLP2_IDS[Marking.AMBER_STRICT]
    ]
    assert marking[f"relationship--{link.pk}"] == [TLP2_IDS[Marking.GREEN]]
    assert marking[f"relationship--{strict.pk}"] == [TLP2_IDS[Marking.AMBER_STRICT]]
    # The statement that first brings an entity marks it too.
    assert by_value(for_alice)["203.0.113.7"]["object_marking_refs"] == [
        TLP2_IDS[Marking.AMBER_STRICT]
    ]
    assert by_value(for_carol)["m.example.com"]["object_marking_refs"] == [TLP2_IDS[Marking.GREEN]]
    assert {o["id"] for o in for_carol} == {
        by_value(for_carol)["m.example.com"]["id"],
        by_value(for_carol)["203.0.113.9"]["id"],
        f"relationship--{link.pk}",
    }


def test_an_entity_comes_once_at_the_statement_that_first_names_it(members):
    alice, _, carol = members
    first = say(alice, "domain-name:a.example.com", "status", "active")
    say(carol, "domain-name:a.example.com", "status", "active")
    link = say(alice, "domain-name:a.example.com", "hosted-on", "ipv4-addr:203.0.113.5")
    say(carol, "ipv4-addr:203.0.113.5", "status", "active")
    manifest = served(carol, endpoint="manifest")
    assert [entry["id"].partition("--")[0] for entry in manifest] == [
        "domain-name",
        "ipv4-addr",
        "relationship",
    ]
    added = [entry["date_added"] for entry in manifest]
    assert added == [timestamp(first.created_at), timestamp(link.created_at), added[2]]
    assert manifest[2]["id"] == f"relationship--{link.pk}"
    assert [o["id"] for o in served(carol, limit=2)] == [entry["id"] for entry in manifest]


def test_a_page_may_end_among_the_objects_of_one_statement(members):
    alice, _, _ = members
    link = say(alice, "domain-name:a.example.com", "hosted-on", "ipv4-addr:203.0.113.5")
    say(alice, "domain-name:b.example.com", "status", "active")
    everything = [o["id"] for o in served(alice)]
    assert len(everything) == 4
    assert everything[2] == f"relationship--{link.pk}"
    for limit in (1, 2, 3):
        assert [o["id"] for o in served(alice, limit=limit)] == everything
        assert [e["id"] for e in served(alice, endpoint="manifest", limit=limit)] == everything


def test_an_entity_named_in_many_chunks_comes_once(members):
    alice, _, carol = members
    for n in range(130):
        say(alice, f"domain-name:d{n:03d}.example.com", "status", "active")
        say(carol, f"domain-name:d{n // 2:03d}.example.com", "status", "inactive")
    for limit in (7, 1000):
        values = [o["value"] for o in served(alice, limit=limit)]
        assert values == [f"d{n:03d}.example.com" for n in range(130)]


def test_statements_that_bring_nothing_are_passed_over_whatever_the_limit(members):
    alice, _, carol = members
    for n in range(30):
        say(alice, f"domain-name:d{n:03d}.example.com", "status", "active")
    say(alice, "domain-name:s.example.com", "status", "active", Marking.AMBER_STRICT)
    for n in range(30):  # named before: they bring nothing
        say(carol, f"domain-name:d{n:03d}.example.com", "status", "inactive")
    say(carol, "domain-name:s.example.com", "status", "inactive")  # the first carol reads
    say(alice, "domain-name:z.example.com", "status", "active")
    values = [f"d{n:03d}.example.com" for n in range(30)]
    for limit in (1, 29, 30, 31, 1000):
        assert [o["value"] for o in served(carol, limit=limit)] == [
            *values,
            "s.example.com",
            "z.example.com",
        ]
        assert [o["value"] for o in served(alice, limit=limit)] == [
            *values,
            "s.example.com",
            "z.example.com",
        ]
    strict = TLP2_IDS[Marking.AMBER_STRICT]
    assert by_value(served(carol))["s.example.com"]["object_marking_refs"] != [strict]
    assert by_value(served(alice))["s.example.com"]["object_marking_refs"] == [strict]


def test_a_container_refers_to_what_all_its_statements_refer_to_whatever_the_limit(members):
    alice, _, carol = members
    say(alice, "report:Spring campaign", "refers-to", "domain-name:early.example.com")
    for n in range(250):  # the next refers-to statement lies in another chunk of a small page
        say(alice, f"domain-name:d{n:03d}.example.com", "status", "active")
    say(carol, "report:Spring campaign", "refers-to", "domain-name:late.example.com")
    say(carol, "report:Spring campaign", "refers-to", "domain-name:own.example.com", STRICT)
    ids = {o["value"]: o["id"] for o in served(alice) if "value" in o}
    exported = next(
        o
        for o in export_stix(export_records(alice), identity_name="cyberatlas")["objects"]
        if o["type"] == "report"
    )
    for limit in (1, 7, 1000):
        objects = served(alice, limit=limit)
        (report,) = [o for o in objects if o["type"] == "report"]
        assert report["object_refs"] == [ids["early.example.com"], ids["late.example.com"]]
        assert report == exported
        assert objects.index(report) == 0  # it comes at its first statement
    for_carol = served(carol, limit=1)
    (report,) = [o for o in for_carol if o["type"] == "report"]
    assert len(report["object_refs"]) == 3
    assert report["object_marking_refs"] == [TLP2_IDS[STRICT]]
    assert report["object_refs"][2] in {o["id"] for o in for_carol}


def test_hidden_statements_never_show(members):
    alice, bob, carol = members
    target = say(alice, "threat-actor:Wire Gang", "country", "RU").subject
    case = investigation("Op Wire", target, alice.organization, alice)
    say(alice, "threat-actor:Wire Gang", "alias", "WG", Marking.AMBER, investigation=case)
    say(alice, "domain-name:case.example.com", "status", "active", investigation=case)
    say(alice, "domain-name:red.example.com", "status", "active", Marking.RED, recipients=[carol])
    gone = say(alice, "domain-name:gone.example.com", "status", "active")
    services.retract(alice, gone.pk)
    community = {o.get("value") or o.get("name") for o in served(bob)}
    assert community == {"Wire Gang"}
    assert "aliases" not in served(alice)[0]
    assert {o.get("value") for o in served(carol)} >= {"red.example.com"}
    in_case = served(alice, collection=collection_id(case))
    assert {o.get("value") for o in in_case} == {None, "case.example.com"}
    assert next(o for o in in_case if o["type"] == "threat-actor")["aliases"] == ["WG"]
    hidden = gone.subject_id
    response = reader(bob).get(f"/taxii2/api/collections/{COMMUNITY}/objects/{hidden}/")
    assert response.status_code == 404


def test_a_page_leaves_the_cycle_collector_as_it_found_it(members):
    alice = members[0]
    say(alice, "domain-name:a.example.com", "status", "active")
    assert gc.isenabled()
    assert served(alice, limit=1)
    assert gc.isenabled()
    gc.disable()
    try:
        assert served(alice, endpoint="manifest")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_serving_strict_objects_is_audited_and_open_ones_are_not(members):
    alice, _, carol = members
    say(alice, "domain-name:open.example.com", "status", "active")
    assert served(alice)
    assert served(alice, endpoint="manifest")
    assert not AuditEvent.objects.filter(action__startswith="taxii.").exists()
    say(alice, "domain-name:red.example.com", "status", "active", Marking.RED, recipients=[carol])
    served(carol)
    event = AuditEvent.objects.get(action="taxii.objects")
    assert (event.actor, event.markings, event.count) == (carol, "red", 1)
    served(carol, endpoint="manifest")
    assert AuditEvent.objects.filter(action="taxii.manifest", actor=carol).count() == 1


@pytest.mark.django_db(transaction=True)
def test_reads_asked_side_by_side_serve_what_reads_asked_in_turn_serve(monkeypatch):
    """Outside a transaction, on PostgreSQL, a page asks its independent queries side by side
    on connections of their own; what it serves is what asking them in turn serves."""
    from django.db import connection

    from cyberatlas.interop import alongside, taxii_objects

    bank, vendor = org("Bank"), org("Vendor", sector="cybersecurity-vendor")
    alice, carol = person("alice", bank), person("carol", vendor)
    for n in range(40):
        say(alice, f"domain-name:d{n:02d}.example.com", "status", "active")
        say(carol, f"threat-actor:Gang {n % 7}", "uses", f"domain-name:d{n:02d}.example.com")
        strict = Marking.AMBER_STRICT if n % 5 == 0 else Marking.GREEN
        say(carol, f"domain-name:d{n // 3:02d}.example.com", "status", "inactive", strict)
    # A few entities a query, so that each step asks several.
    monkeypatch.setattr(taxii_objects, "_ASKED", (4, 4))
    monkeypatch.setattr(taxii_objects, "_LOADED", 3)
    alongside.close_all()
    side_by_side = {limit: served(carol, limit=limit) for limit in (5, 1000)}
    if connection.vendor == "postgresql":
        assert alongside._opened, "the reading threads asked on connections of their own"
    monkeypatch.setattr(alongside, "_THREADS", 0)
    in_turn = {limit: served(carol, limit=limit) for limit in (5, 1000)}
    assert side_by_side == in_turn
    objects = in_turn[1000]
    assert len(objects) == 40 + 7 + 40  # domains, actors, relationships
    assert sorted(o["name"] for o in objects if o["type"] == "threat-actor") == [
        f"Gang {n}" for n in range(7)
    ]
    strict = {o["value"] for o in objects if o["object_marking_refs"] != [TLP2_IDS[Marking.GREEN]]}
    assert strict == {f"d{n // 3:02d}.example.com" for n in range(0, 40, 5)}
