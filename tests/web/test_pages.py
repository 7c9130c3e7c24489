"""Pages through Django's test client: each shows what the policy allows, forms go to services."""

import pytest
from django.test import Client
from django.urls import reverse

from cyberatlas.accounts import two_factor
from cyberatlas.core.tlp import Marking
from cyberatlas.knowledge.models import Statement
from tests.factories import investigation, org, person, say

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    bank, vendor = org("Bank"), org("Vendor", sector="cybersecurity-vendor")
    secretariat = org("Secretariat", sector="policy")
    alice, carol = person("alice", bank), person("carol", vendor)
    cora = person("cora", secretariat, roles=("coordinator",))
    added = say(alice, "threat-actor:Wire Gang", "uses", "domain-name:wire.example.com")
    case = investigation("Op Wire", added.subject, bank, alice)
    strict = say(
        alice, "domain-name:wire.example.com", "alias", "hidden-alias", Marking.AMBER_STRICT
    )
    say(
        alice, "domain-name:wire.example.com", "status", "active", Marking.AMBER, investigation=case
    )
    return {
        "alice": alice,
        "carol": carol,
        "cora": cora,
        "actor": added.subject_id,
        "strict": strict,
        "case": case,
    }


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_need_a_login():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_entity_page_shows_only_readable_statements_with_their_provenance(world):
    domain = Statement.objects.get(subject__key="wire.example.com", predicate="status").subject_id
    mine = client_for(world["alice"]).get(f"/entities/{domain}/").content.decode()
    theirs = client_for(world["carol"]).get(f"/entities/{domain}/").content.decode()
    assert "hidden-alias" in mine
    assert "TLP:AMBER+STRICT" in mine
    assert "Op Wire" in mine
    assert "hidden-alias" not in theirs
    assert "Op Wire" not in theirs
    assert "Wire Gang" in theirs  # the GREEN relationship and its name


def test_hidden_entity_is_a_404_like_a_missing_one(world):
    say(world["alice"], "threat-actor:Quiet", "country", "RU", Marking.AMBER_STRICT)
    quiet = Statement.objects.get(value="RU").subject_id
    carol = client_for(world["carol"])
    assert carol.get(f"/entities/{quiet}/").status_code == 404
    assert (
        carol.get("/entities/threat-actor--00000000-0000-4000-8000-000000000000/").status_code
        == 404
    )


def test_search_page_and_its_htmx_fragment(world):
    carol = client_for(world["carol"])
    page = carol.get("/search/", {"q": "wire"}).content.decode()
    assert "Wire Gang" in page
    fragment = carol.get("/search/", {"q": "hidden"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment
    assert "Nothing you may see" in fragment


def test_adding_a_statement_from_the_form(world):
    alice = client_for(world["alice"])
    response = alice.post(
        reverse("statement-add"),
        {
            "subject": world["actor"],
            "predicate": "country",
            "target": "ru",
            "tlp": "amber",
            "investigation": "Op Wire",
            "back": "/",
        },
    )
    assert response.status_code == 302
    added = Statement.objects.get(predicate="country")
    assert (added.value, added.marking, added.investigation) == ("RU", Marking.AMBER, world["case"])
    refused = alice.post(
        reverse("statement-add"),
        {
            "subject": world["actor"],
            "predicate": "country",
            "target": "ru",
            "tlp": "red",
            "back": "/",
        },
        follow=True,
    )
    assert "must name at least one recipient" in refused.content.decode()


def test_remark_and_retract_from_the_page(world):
    alice = client_for(world["alice"])
    statement = Statement.objects.get(predicate="uses")
    alice.post(
        reverse("statement-change", args=[statement.pk, "remark"]),
        {"tlp": "amber+strict", "back": "/"},
    )
    statement.refresh_from_db()
    assert statement.marking == Marking.AMBER_STRICT
    carol = client_for(world["carol"])
    denied = carol.post(reverse("statement-change", args=[statement.pk, "retract"]), {"back": "/"})
    assert denied.status_code == 404  # she may not even read it now
    alice.post(reverse("statement-change", args=[statement.pk, "retract"]), {"back": "/"})
    statement.refresh_from_db()
    assert statement.retracted
    history = alice.get(reverse("statement-history", args=[statement.pk])).content.decode()
    assert history.count("<li>") == 3


def test_coordinator_pages(world):
    pending = person("newbie", org("Newcomer", status="applied"), status="applied")
    cora = client_for(world["cora"])
    two_factor.enrol_confirmed(world["cora"])
    assert cora.get(reverse("applications")).status_code == 302  # second factor first
    device = two_factor.confirmed_device(world["cora"])
    cora.post(reverse("verify"), {"token": two_factor.current_code(device), "next": "/"})
    page = cora.get(reverse("applications")).content.decode()
    assert "newbie" in page
    assert "Newcomer" in page
    cora.post(reverse("decide", args=["user", "newbie", "vet"]))
    pending.refresh_from_db()
    assert pending.status == "vetted"
    assert client_for(world["carol"]).get(reverse("applications")).status_code == 403
    client_for(world["alice"]).get(f"/entities/{world['strict'].subject_id}/")
    log = cora.get(reverse("audit")).content.decode()
    assert "alice" in log
    assert "hidden-alias" not in log


def test_coordinators_must_enrol_a_second_factor(world):
    cora = client_for(world["cora"])
    response = cora.get("/")
    assert response["Location"] == reverse("enrol")
    page = cora.get(reverse("enrol")).content.decode()
    assert "<svg" in page
    device = two_factor.pending_device(world["cora"])
    assert cora.post(reverse("enrol"), {"token": "000000"}).status_code == 200
    assert cora.get("/").status_code == 302
    device.refresh_from_db()
    device.throttle_reset()  # a failed code throttles the next tries for a while
    cora.post(reverse("enrol"), {"token": two_factor.current_code(device)})
    assert cora.get("/").status_code == 200


def test_investigation_pages_are_for_members_and_coordinators(world):
    assert client_for(world["alice"]).get("/investigations/Op Wire/").status_code == 200
    assert client_for(world["carol"]).get("/investigations/Op Wire/").status_code == 404
    listing = client_for(world["carol"]).get("/investigations/").content.decode()
    assert "Op Wire" not in listing


def test_tokens_page_shows_a_token_once(world):
    alice = client_for(world["alice"])
    page = alice.post(reverse("tokens"), {"name": "script"}).content.decode()
    assert "cya_" in page
    assert "cya_" not in alice.get(reverse("tokens")).content.decode()


def test_wallet_pages_say_whether_the_address_was_validated(world):
    alice = world["alice"]
    say(
        alice,
        "cryptocurrency-wallet:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "chain",
        "bitcoin",
    )
    say(alice, "cryptocurrency-wallet:r9cZA1mLK5R5Am25ArfXFmqgNwjZgnfk59", "label", "ripple")
    pages = {
        s.subject.key: client_for(alice).get(f"/entities/{s.subject_id}/").content.decode()
        for s in Statement.objects.filter(subject__type="cryptocurrency-wallet")
    }
    assert "BTC address, checksum valid" in pages["bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"]
    assert "not validated" in pages["r9cZA1mLK5R5Am25ArfXFmqgNwjZgnfk59"]
