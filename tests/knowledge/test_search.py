"""Search: prefixes of keys, names and aliases, then words of any property value, through the
access policy. Whatever a hit shows (the entity, its label, a snippet) comes from statements
the reader may read; on SQLite the word index is an FTS5 table kept in step by triggers, on
PostgreSQL a GIN index, and both are checked here the same way."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from cyberatlas.accounts.models import Organization, Status, User
from cyberatlas.core.tlp import Audience, Marking, Reader, may_read
from cyberatlas.investigations.models import Investigation, Membership
from cyberatlas.knowledge import entities, services
from cyberatlas.knowledge.models import AuditEvent, Entity, Grant, Statement
from tests.factories import investigation, org, person, say

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def world():
    bank = org("Bank")
    vendor = org("Vendor", sector="cybersecurity-vendor")
    police = org("Police", kind="partner", sector="law-enforcement")
    alice = person("alice", bank)
    bob = person("bob", bank)
    carol = person("carol", vendor)
    pat = person("pat", police, roles=("partner",))
    target = Entity.objects.create(
        pk="threat-actor--00000000-0000-4000-8000-000000000001", type="threat-actor"
    )
    case = investigation("Op Wire", target, bank, alice, carol)
    return locals()


def ids(hits: list[entities.EntityHit]) -> list[str]:
    return [hit.id for hit in hits]


@pytest.mark.django_db
def test_words_of_any_property_find_entities_after_prefix_hits(world):
    alice, carol = world["alice"], world["carol"]
    gang = say(alice, "threat-actor:Wire Gang", "description", "Runs phishing kits at Nordbank.")
    impostors = say(alice, "threat-actor:Nordbank Impostors", "country", "DE")
    hits = entities.search(carol, "nordbank")
    assert ids(hits) == [impostors.subject_id, gang.subject_id]
    assert hits[0].snippet is None
    assert hits[1].label == "Wire Gang"
    assert hits[1].snippet == "Runs phishing kits at Nordbank."
    # Every word must be there, in any order and case, as whole words.
    assert ids(entities.search(carol, "NORDBANK phishing")) == [gang.subject_id]
    assert entities.search(carol, "nordbank phishing wire") == []
    assert entities.search(carol, "phish") == []
    # Relationships hold no words; punctuation separates them.
    say(alice, "domain-name:evil-corp.example.com", "status", "active")
    say(alice, "threat-actor:Wire Gang", "alias", "Evil-Corp.Example")
    assert ids(entities.search(carol, "corp example")) == [gang.subject_id]


@pytest.mark.django_db
def test_a_long_value_shows_shortened_around_the_words(world):
    text = "Lorem ipsum " * 30 + "the Nordbank panel " + "dolor sit amet " * 30
    say(world["alice"], "threat-actor:Wire Gang", "description", text)
    (hit,) = entities.search(world["carol"], "nordbank panel")
    assert hit.snippet is not None
    assert "the Nordbank panel" in hit.snippet
    assert hit.snippet.startswith("…")
    assert hit.snippet.endswith("…")
    assert len(hit.snippet) <= entities.SNIPPET_LENGTH + 2


@pytest.mark.django_db
def test_a_word_hit_needs_a_readable_statement_holding_the_words(world):
    alice, bob, carol, pat = world["alice"], world["bob"], world["carol"], world["pat"]
    # Everyone sees the entity, by its GREEN name; only some may read each description.
    gang = say(alice, "threat-actor:Wire Gang", "country", "DE").subject_id
    say(alice, gang, "description", "strict plans", Marking.AMBER_STRICT)
    say(alice, gang, "description", "red plans", Marking.RED, recipients=[carol])
    say(alice, gang, "description", "amber plans", Marking.AMBER, investigation=world["case"])
    assert ids(entities.search(alice, "strict plans")) == [gang]
    assert ids(entities.search(bob, "strict plans")) == [gang]
    assert entities.search(carol, "strict plans") == []
    assert entities.search(pat, "strict plans") == []
    assert ids(entities.search(carol, "red plans")) == [gang]
    assert entities.search(bob, "red plans") == []
    assert ids(entities.search(carol, "amber plans")) == [gang]
    assert ids(entities.search(bob, "amber plans")) == [gang]
    assert entities.search(pat, "amber plans") == []
    # No snippet comes from another statement than the readable one holding the words.
    (hit,) = entities.search(carol, "plans")
    assert hit.snippet in ("red plans", "amber plans")


@pytest.mark.django_db
def test_hidden_entities_never_appear_and_labels_come_from_readable_names(world):
    alice, carol = world["alice"], world["carol"]
    hidden = say(alice, "threat-actor:Quiet Lynx", "description", "quiet lynx", Marking.RED,
                 recipients=[world["bob"]]).subject_id  # fmt: skip
    wallet = "cryptocurrency-wallet:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    say(alice, wallet, "description", "quiet lynx payouts", Marking.AMBER_STRICT)
    for query in ("quiet", "quiet lynx", "lynx", "bc1qw508", "payouts"):
        assert entities.search(carol, query) == []
        assert entities.search(None, query) == []  # the system reads what all vetted read
    assert hidden in ids(entities.search(alice, "quiet"))
    assert len(entities.search(alice, "quiet lynx")) == 2
    assert {h.label for h in entities.search(alice, "bc1qw508")} == {wallet.partition(":")[2]}


@pytest.mark.django_db
def test_accounts_that_may_not_read_find_nothing(world):
    say(world["alice"], "threat-actor:Wire Gang", "description", "Open words", Marking.CLEAR)
    pending = person("pending", world["bank"], status=Status.APPLIED)
    suspended_org = org("Gone", status=Status.SUSPENDED)
    assert entities.search(pending, "wire") == entities.search(pending, "open words") == []
    assert entities.search(person("gone", suspended_org), "open words") == []
    assert len(entities.search(world["carol"], "open words")) == 1


@pytest.mark.django_db
def test_word_hits_follow_revisions_re_markings_and_retractions(world):
    alice, carol = world["alice"], world["carol"]
    described = say(alice, "threat-actor:Wire Gang", "description", "first words")
    gang = described.subject_id
    assert ids(entities.search(carol, "first words")) == [gang]
    services.revise(alice, described.pk, value="second words")
    assert entities.search(carol, "first words") == []
    assert ids(entities.search(carol, "second words")) == [gang]
    services.remark(alice, described.pk, "amber+strict")
    assert entities.search(carol, "second words") == []
    assert ids(entities.search(alice, "second words")) == [gang]
    services.retract(alice, described.pk)
    assert entities.search(alice, "second words") == []


@pytest.mark.django_db
def test_showing_strict_words_is_audited(world):
    alice, bob = world["alice"], world["bob"]
    say(alice, "threat-actor:Wire Gang", "description", "green words")
    say(alice, "threat-actor:Wire Gang", "description", "secret words", Marking.RED,
        recipients=[bob])  # fmt: skip
    before = AuditEvent.objects.count()
    entities.search(bob, "green words")
    entities.search(bob, "wire")  # a name is a label, not a snippet
    assert AuditEvent.objects.count() == before
    entities.search(bob, "secret words")
    event = AuditEvent.objects.order_by("-id").first()
    assert AuditEvent.objects.count() == before + 1
    assert event is not None
    assert (event.actor_name, event.action, event.markings) == ("bob", "entity.search", "red")


@pytest.mark.django_db
def test_prefixes_of_keys_ignore_case_and_rank_by_the_text_that_matched(world):
    alice, carol = world["alice"], world["carol"]
    iban = say(alice, "bank-account:DE89 3704 0044 0532 0130 00", "status", "active").subject_id
    assert ids(entities.search(carol, "de8937")) == [iban]
    assert ids(entities.search(carol, "DE89 3704")) == []  # keys are compact
    names = ["Wolf Pack", "wolfsbane", "Wolf", "WOLF 2"]
    found = {say(alice, f"threat-actor:{n}", "country", "DE").subject_id: n for n in names}
    domain = say(alice, "domain-name:wolf-shop.example.com", "status", "active").subject_id
    hits = entities.search(carol, "wolf")
    assert [h.label for h in hits] == ["Wolf", "WOLF 2", "Wolf Pack", "wolf-shop.example.com",
                                       "wolfsbane"]  # fmt: skip
    assert set(ids(hits)) == {*found, domain}
    # A smaller limit is the start of a larger one, as the API's pages need.
    for limit in range(1, 6):
        assert ids(entities.search(carol, "wolf", limit=limit)) == ids(hits)[:limit]


@pytest.mark.django_db
def test_a_readable_alias_finds_an_entity_and_a_hidden_one_does_not(world):
    alice, bob, carol = world["alice"], world["bob"], world["carol"]
    gang = say(alice, "threat-actor:Wire Gang", "country", "DE").subject_id
    say(alice, gang, "alias", "Indrik Spider", Marking.RED, recipients=[bob])
    assert ids(entities.search(bob, "indrik")) == [gang]
    assert entities.search(carol, "indrik") == []
    assert entities.search(carol, "indrik spider") == []


# A property test: random worlds of statements holding random words, at every marking, with
# investigations, grants and retractions; every reader finds by a word exactly the entities of
# the live statements holding it that the pure rule lets them read.

WORDS = ["amber", "basalt", "cobalt", "dune"]
SUBJECTS = [f"threat-actor--00000000-0000-4000-8000-00000000000{i}" for i in range(4)]


@st.composite
def word_worlds(draw: st.DrawFn) -> dict[str, object]:
    users = draw(
        st.lists(
            st.tuples(st.integers(0, 1), st.sampled_from([Status.VETTED] * 3 + [Status.APPLIED])),
            min_size=2,
            max_size=5,
        )
    )
    members = draw(st.lists(st.integers(0, len(users) - 1), max_size=3, unique=True))
    statements = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "subject": st.integers(0, len(SUBJECTS) - 1),
                    "words": st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
                    "marking": st.sampled_from(list(Marking)),
                    "author": st.integers(0, len(users) - 1),
                    "grants": st.lists(st.integers(0, len(users) - 1), max_size=2, unique=True),
                    "retracted": st.booleans(),
                }
            ),
            max_size=8,
        )
    )
    return {"users": users, "members": members, "statements": statements}


class TestWordHitsMatchTheRule(TestCase):
    @settings(max_examples=50)
    @given(word_worlds())
    def test_word_hits_are_exactly_the_readable_ones(self, world: dict) -> None:
        orgs = [
            Organization.objects.create(name=f"org{i}", kind="member", sector="banking",
                                        country="DE", status=Status.VETTED)
            for i in range(2)
        ]  # fmt: skip
        users = [
            User.objects.create(username=f"u{i}", organization=orgs[o], status=status)
            for i, (o, status) in enumerate(world["users"])
        ]
        subjects = Entity.objects.bulk_create([Entity(id=s, type="threat-actor") for s in SUBJECTS])
        case = Investigation.objects.create(name="case", target=subjects[0], lead=orgs[0])
        Membership.objects.bulk_create(
            [Membership(investigation=case, user=users[m]) for m in world["members"]]
        )
        readable: dict[int, set[tuple[int, str]]] = {}
        for n, spec in enumerate(world["statements"]):
            author = users[spec["author"]]
            marking = spec["marking"]
            value = " ".join(spec["words"]).title() + "."
            statement = Statement.objects.create(
                subject=subjects[spec["subject"]], predicate="description", value=value,
                folded=entities.fold(value), marking=marking,
                investigation=case if marking is Marking.AMBER else None,
                organization_id=author.organization_id, author=author,
                retracted=spec["retracted"], created_at=T0 + dt.timedelta(seconds=n),
            )  # fmt: skip
            granted = spec["grants"] if marking.grantable else []
            Grant.objects.bulk_create([Grant(statement=statement, user=users[g]) for g in granted])
            for r, (o, status) in enumerate(world["users"]):
                reader = Reader(r, o, status == Status.VETTED,
                                frozenset([0]) if r in world["members"] else frozenset(),
                                frozenset([n]) if r in granted else frozenset())  # fmt: skip
                seen = Audience(n, marking, world["users"][spec["author"]][0], spec["author"],
                                0 if marking is Marking.AMBER else None)  # fmt: skip
                if not spec["retracted"] and may_read(reader, seen):
                    for word in spec["words"]:
                        readable.setdefault(r, set()).add((spec["subject"], word))
        for r, user in enumerate(users):
            for word in WORDS:
                hits = entities.search(user, word, limit=10)
                expected = {SUBJECTS[s] for s, w in readable.get(r, set()) if w == word}
                assert {hit.id for hit in hits} == expected
                for hit in hits:
                    assert hit.snippet is not None
                    assert word in hit.snippet.lower()
