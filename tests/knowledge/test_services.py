import pytest
from django.db.models import ProtectedError

from cyberatlas.core.tlp import Marking
from cyberatlas.errors import Ambiguous, Forbidden, InvalidInput, NotFound
from cyberatlas.knowledge import entities, reads, services
from cyberatlas.knowledge.models import Entity, Grant, Statement, StatementVersion
from cyberatlas.knowledge.services import Audience, Provenance
from tests.factories import investigation, org, person, say

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    bank = org("Bank")
    vendor = org("Vendor", sector="cybersecurity-vendor")
    police = org("Police", kind="partner", sector="law-enforcement")
    ngo = org("NGO", kind="collaborator", sector="ngo")
    alice = person("alice", bank)
    bob = person("bob", bank)
    carol = person("carol", vendor)
    pat = person("pat", police, roles=("partner",))
    nina = person("nina", ngo)
    target = Entity.objects.create(
        pk="threat-actor--00000000-0000-4000-8000-000000000001", type="threat-actor"
    )
    case = investigation("Op Wire", target, bank, alice, carol, nina)
    return locals()


def test_same_observable_from_two_orgs_is_one_entity_with_two_statements(world):
    first = say(world["alice"], "domain-name:Evil-Shop.COM", "hosted-on", "ipv4-addr:203.0.113.7")
    second = say(
        world["carol"], "domain-name:evil-shop[.]com.", "hosted-on", "ipv4-addr:203.0.113[.]7"
    )
    assert first.subject_id == second.subject_id
    assert first.object_id == second.object_id
    assert Entity.objects.filter(type="domain-name").count() == 1
    view = reads.show_entity(world["bob"], "domain-name:evil-shop.com")
    assert {s.organization for s in view.statements} == {"Bank", "Vendor"}


def test_property_values_are_checked_and_normalized(world):
    added = say(world["alice"], "threat-actor:Scam Crew", "losses", "1,250,000 usd")
    assert added.value == "1250000 USD"
    with pytest.raises(InvalidInput, match="value"):
        say(world["alice"], "threat-actor:Scam Crew", "country", "Narnia")
    with pytest.raises(InvalidInput, match="predicate"):
        say(world["alice"], "threat-actor:Scam Crew", "likes", "cats")


def test_relationship_type_rules_are_enforced(world):
    with pytest.raises(InvalidInput, match="object"):
        say(world["alice"], "domain-name:evil.com", "resolves-to", "threat-actor:Scam Crew")


def test_invalid_observables_write_nothing(world):
    before = (Entity.objects.count(), Statement.objects.count())
    for bad in (
        "cryptocurrency-wallet:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",
        "bank-account:DE89370400440532013001",
        "phone-number:+1 555",
    ):
        with pytest.raises(InvalidInput):
            say(world["alice"], "threat-actor:Evil Corp", "receives-payment-via", bad)
    assert (Entity.objects.count(), Statement.objects.count()) == before


def test_amber_needs_an_investigation_and_red_a_recipient(world):
    alice = world["alice"]
    with pytest.raises(InvalidInput, match="investigation"):
        say(alice, "domain-name:evil.com", "status", "active", Marking.AMBER)
    with pytest.raises(InvalidInput, match="recipient"):
        say(alice, "domain-name:evil.com", "status", "active", Marking.RED)
    with pytest.raises(InvalidInput, match="recipient"):
        say(
            alice,
            "domain-name:evil.com",
            "status",
            "active",
            Marking.GREEN,
            recipients=[world["bob"]],
        )
    assert Statement.objects.count() == 0


def test_contributors_must_be_vetted_researchers_and_not_partners(world):
    with pytest.raises(Forbidden, match="partners"):
        say(world["pat"], "domain-name:evil.com", "status", "active")
    coordinator = person("cora", world["bank"], roles=("coordinator",))
    with pytest.raises(Forbidden, match="researcher"):
        say(coordinator, "domain-name:evil.com", "status", "active")
    pending = person("pete", world["bank"], status="applied")
    with pytest.raises(Forbidden, match="vetted"):
        say(pending, "domain-name:evil.com", "status", "active")


def test_collaborators_contribute_only_into_their_investigations(world):
    with pytest.raises(Forbidden, match="collaborators"):
        say(world["nina"], "domain-name:evil.com", "status", "active")
    added = say(
        world["nina"], "domain-name:evil.com", "status", "active", investigation=world["case"]
    )
    assert added.investigation == world["case"]


def test_writing_into_an_investigation_needs_membership(world):
    with pytest.raises(NotFound, match="investigation"):
        services.audience(world["bob"], "amber", "Op Wire")
    with pytest.raises(NotFound, match="investigation"):
        services.audience(world["alice"], "amber", "No Such Op")


def test_domain_objects_resolve_by_readable_names(world):
    alice, carol = world["alice"], world["carol"]
    first = say(alice, "threat-actor:Evil Corp", "country", "RU")
    again = say(alice, "threat-actor:evil  corp", "country", "RU")
    assert first.subject_id == again.subject_id
    say(alice, first.subject_id, "alias", "Indrik Spider")
    by_alias = say(alice, "threat-actor:Indrik Spider", "victims", "120")
    assert by_alias.subject_id == first.subject_id
    # Carol's organization cannot read alice's AMBER+STRICT name: for her the name is new.
    hidden = say(alice, "threat-actor:Quiet Ones", "victims", "3", Marking.AMBER_STRICT)
    theirs = say(carol, "threat-actor:Quiet Ones", "victims", "4")
    assert hidden.subject_id != theirs.subject_id
    # For alice, who reads both names, the name is now ambiguous.
    with pytest.raises(Ambiguous) as raised:
        entities.resolve(alice, "threat-actor:Quiet Ones")
    assert hidden.subject_id in str(raised.value)
    assert theirs.subject_id in str(raised.value)


def test_new_name_is_marked_like_the_write_that_named_it(world):
    added = say(
        world["alice"],
        "threat-actor:Hush",
        "victims",
        "1",
        Marking.RED,
        recipients=[world["carol"]],
    )
    name = Statement.objects.get(subject=added.subject, predicate="name")
    assert name.marking == Marking.RED
    assert set(Grant.objects.filter(statement=name).values_list("user__username", flat=True)) == {
        "carol"
    }


def test_actor_known_only_at_red_shows_a_neutral_label(world):
    added = say(
        world["alice"],
        "threat-actor:Hush",
        "uses",
        "domain-name:hush.example.com",
        Marking.RED,
        recipients=[world["bob"]],
    )
    say(world["alice"], "domain-name:hush.example.com", "status", "active")
    view = reads.show_entity(world["carol"], "domain-name:hush.example.com")
    assert [s.predicate for s in view.statements] == ["status"]
    with pytest.raises(NotFound):
        reads.show_entity(world["carol"], added.subject_id)
    # Bob is a recipient: he reads the name.
    assert reads.show_entity(world["bob"], added.subject_id).label == "Hush"
    entity = Entity.objects.get(pk=added.subject_id)
    label = entities.labels(world["carol"], [entity.pk])[entity.pk]
    assert label.startswith("threat-actor ")
    assert "Hush" not in label


def test_hidden_entity_answers_exactly_like_a_missing_one(world):
    say(world["alice"], "domain-name:secret.example.com", "status", "active", Marking.AMBER_STRICT)
    with pytest.raises(NotFound) as hidden:
        reads.show_entity(world["carol"], "domain-name:secret.example.com")
    with pytest.raises(NotFound) as missing:
        reads.show_entity(world["carol"], "domain-name:never.example.com")
    assert str(hidden.value).replace("secret", "X") == str(missing.value).replace("never", "X")


def test_revise_remark_retract_and_history(world):
    alice, bob, carol = world["alice"], world["bob"], world["carol"]
    added = say(alice, "domain-name:evil.com", "status", "active", source="https://a.example")
    services.revise(bob, added.pk, value="inactive", provenance=Provenance(confidence=80))
    services.remark(bob, added.pk, "amber+strict")  # stricter: anyone of the organization
    with pytest.raises(Forbidden, match="author"):
        services.remark(bob, added.pk, "green")  # less strict: only the author
    with pytest.raises(NotFound):
        services.remark(carol, added.pk, "red", recipients=["carol"])
    services.remark(alice, added.pk, "green")
    services.retract(alice, added.pk, note="wrong")
    versions = reads.history(alice, added.pk)
    assert [v.change for v in versions] == [
        "created",
        "revised",
        "re-marked",
        "re-marked",
        "retracted",
    ]
    assert [v.marking for v in versions] == [
        Marking.GREEN,
        Marking.GREEN,
        Marking.AMBER_STRICT,
        Marking.GREEN,
        Marking.GREEN,
    ]
    # Carol reads the current (GREEN) version but not the AMBER+STRICT one.
    assert [v.number for v in reads.history(carol, added.pk)] == [1, 2, 4, 5]
    with pytest.raises(NotFound):  # its only statement is retracted: nothing names it now
        reads.show_entity(alice, "domain-name:evil.com")
    with pytest.raises(InvalidInput, match="retracted"):
        services.revise(alice, added.pk, value="active")


def test_other_organizations_cannot_change_a_statement(world):
    added = say(world["alice"], "domain-name:evil.com", "status", "active")
    with pytest.raises(Forbidden, match="contributing organization"):
        services.retract(world["carol"], added.pk)
    assert StatementVersion.objects.filter(statement=added).count() == 0
    assert [v.change for v in reads.history(world["alice"], added.pk)] == ["created"]


def test_version_1_is_the_statement_until_its_first_change(world):
    alice, bob = world["alice"], world["bob"]
    added = say(alice, "domain-name:evil.com", "status", "active", source="https://a.example")
    assert not StatementVersion.objects.filter(statement=added).exists()  # no copy of itself
    (first,) = reads.history(bob, added.pk)
    assert (first.number, first.change, first.value, first.edited_by, first.edited_at) == (
        1,
        "created",
        "active",
        "alice",
        added.created_at,
    )
    services.revise(bob, added.pk, value="inactive", note="moved")
    stored = StatementVersion.objects.filter(statement=added).order_by("number")
    assert [(v.number, v.value, v.edited_by_id, v.source) for v in stored] == [
        (1, "active", alice.pk, "https://a.example"),  # as it was, by whom and when it was said
        (2, "inactive", bob.pk, "https://a.example"),
    ]
    assert stored[0].edited_at == added.created_at
    assert [(v.number, v.change, v.value, v.note) for v in reads.history(alice, added.pk)] == [
        (1, "created", "active", ""),
        (2, "revised", "inactive", "moved"),
    ]


def test_remark_to_red_replaces_recipients_and_strict_markings_drop_grants(world):
    alice = world["alice"]
    added = say(
        alice, "domain-name:evil.com", "status", "active", Marking.RED, recipients=[world["carol"]]
    )
    services.remark(alice, added.pk, "red", recipients=["bob"])
    assert list(added.grants.values_list("user__username", flat=True)) == ["bob"]
    services.remark(alice, added.pk, "amber+strict")
    assert not added.grants.exists()


def test_count_and_search_see_only_readable_statements(world):
    alice, carol = world["alice"], world["carol"]
    say(alice, "threat-actor:Evil Corp", "alias", "Indrik Spider", Marking.AMBER_STRICT)
    say(alice, "domain-name:evilcorp.example.com", "status", "active")
    assert {h.label for h in entities.search(alice, "evil")} == {
        "Evil Corp",
        "evilcorp.example.com",
    }
    assert {h.label for h in entities.search(alice, "indrik")} == {"Evil Corp"}
    assert {h.label for h in entities.search(carol, "evil")} == {"evilcorp.example.com"}
    assert entities.search(carol, "indrik") == []
    assert reads.count_statements(alice) == 3  # name, alias, status
    assert reads.count_statements(carol) == 1


def test_audience_helper_parses_markings(world):
    with pytest.raises(InvalidInput, match="unknown TLP"):
        services.audience(world["alice"], "purple")
    assert services.audience(world["alice"], "TLP:WHITE").marking is Marking.CLEAR
    assert services.audience(world["alice"], "red", recipients=["bob"]) == Audience(
        Marking.RED, None, (world["bob"],)
    )


def test_entity_pages_follow_a_cursor_and_skip_what_the_reader_may_not_read(world):
    alice, carol = world["alice"], world["carol"]
    for n in range(7):
        marking = Marking.AMBER_STRICT if n % 3 == 0 else Marking.GREEN
        say(alice, "domain-name:evil.com", "alias", f"alias {n}", marking)
    seen, after = [], None
    while True:
        page = reads.entity_page(carol, "domain-name:evil.com", limit=2, after=after)
        seen += [s.value for s in page.statements]
        if page.next is None:
            break
        after = page.next
    assert seen == ["alias 1", "alias 2", "alias 4", "alias 5"]
    everything = reads.system_entity_page(
        Entity.objects.get(key="evil.com").pk, limit=None
    ).statements
    assert len(everything) == 7
    with pytest.raises(InvalidInput, match="cursor"):
        reads.entity_page(carol, "domain-name:evil.com", after="garbage")


def test_an_account_or_organization_that_said_something_cannot_be_deleted(world):
    """The database does not check a statement's author and organization (migration 0012); the
    model still refuses to delete them from under their statements."""
    say(world["alice"], "domain-name:evil.com", "hosted-on", "ipv4-addr:203.0.113.7")
    for holder in (world["alice"], world["bank"]):
        with pytest.raises(ProtectedError) as refused:
            holder.delete()
        assert any(isinstance(held, Statement) for held in refused.value.protected_objects)
    assert Statement.objects.filter(author=world["alice"], organization=world["bank"]).exists()
