"""The demo loads through the real services and shows the access policy at work."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import Count
from django.test import RequestFactory, override_settings

from cyberatlas.accounts import two_factor
from cyberatlas.accounts.models import Organization, OrgKind, Role, User
from cyberatlas.core.references import neutral_label
from cyberatlas.core.tlp import Marking
from cyberatlas.demo import DemoSummary, load_demo
from cyberatlas.errors import InvalidInput, NotFound
from cyberatlas.investigations.models import Investigation
from cyberatlas.knowledge import entities, policy, reads
from cyberatlas.knowledge.models import Entity, Grant, Statement, StatementVersion

OPEN = (Marking.CLEAR, Marking.GREEN)


# The demo hashes 17 passwords; Argon2 would take most of the time of these tests.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(scope="class")
def demo(django_db_setup, django_db_blocker) -> Iterator[DemoSummary]:
    """One demo for a class of tests that only read it; rolled back after the class."""
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=FAST_HASHERS),
        transaction.atomic(),
    ):
        yield load_demo()
        transaction.set_rollback(True)


def user(username: str) -> User:
    return User.objects.select_related("organization").get(username=username)


def sees(reader: User, statement: Statement) -> bool:
    return policy.visible_statements(reader).filter(pk=statement.pk).exists()


def test_loads_on_an_empty_database_and_counts_what_it_made(db):
    messages: list[str] = []
    summary = load_demo(progress=messages.append)
    assert summary.organizations == Organization.objects.count() == 11
    assert summary.users == User.objects.count() == len(summary.logins)
    assert summary.investigations == Investigation.objects.count() == 3
    assert summary.entities == Entity.objects.count()
    assert summary.statements == Statement.objects.count() >= 300
    assert len(messages) >= 5
    assert all(isinstance(m, str) and m for m in messages)
    kinds = sorted(Organization.objects.values_list("kind", flat=True))
    assert kinds.count(OrgKind.PARTNER) == 2
    assert kinds.count(OrgKind.COLLABORATOR) == 1
    assert Organization.objects.filter(disclose_name=False).count() == 1
    assert set(Organization.objects.values_list("status", flat=True)) == {"vetted"}
    assert set(User.objects.values_list("status", flat=True)) == {"vetted"}
    assert set(Statement.objects.values_list("marking", flat=True)) == set(Marking)


@pytest.mark.django_db
class TestTheLoadedDemo:
    """Reads of one loaded demo: the access policy at work on it."""

    def test_refuses_to_load_twice(self, demo):
        before = Statement.objects.count()
        with pytest.raises(InvalidInput, match="already holds the demo"):
            load_demo()
        assert Statement.objects.count() == before

    def test_amber_strict_stays_with_the_bank(self, demo):
        strict = Statement.objects.filter(marking=Marking.AMBER_STRICT).select_related(
            "organization"
        )
        assert strict.exists()
        holders = {s.organization.name for s in strict}
        assert len(holders) == 1
        (bank,) = holders
        statement = strict.filter(predicate="receives-payment-via").first()
        assert statement is not None
        insider = User.objects.filter(organization__name=bank).first()
        assert insider is not None
        assert sees(insider, statement)
        outsiders = User.objects.exclude(organization__name=bank)
        assert outsiders.exists()
        assert not any(sees(u, statement) for u in outsiders)
        # The mule account known only from the bank's strict statements is missing for others.
        account = statement.object_id
        assert account is not None
        assert reads.show_entity(insider, account).key
        with pytest.raises(NotFound):
            reads.show_entity(user("ciara"), account)

    def test_actor_known_only_at_red_shows_a_neutral_label(self, demo):
        red_names = Statement.objects.filter(
            predicate="name", marking=Marking.RED, subject__type="threat-actor"
        )
        assert red_names.exists()
        name = red_names.first()
        assert name is not None
        actor_id = name.subject_id
        assert set(
            Statement.objects.filter(
                subject_id=actor_id, predicate__in=("name", "alias")
            ).values_list("marking", flat=True)
        ) == {Marking.RED}
        recipients = set(
            Grant.objects.filter(statement=name).values_list("user__username", flat=True)
        )
        assert recipients
        assert name.author is not None
        for username in recipients:
            assert reads.show_entity(user(username), actor_id).label == name.value
        assert reads.show_entity(name.author, actor_id).label == name.value
        others = [
            u
            for u in User.objects.exclude(username__in=[*recipients, name.author.username])
            if policy.can_see_entity(u, actor_id)
        ]
        assert others, "somebody outside the RED circle sees the actor linked from a persona"
        for reader in others:
            page = reads.show_entity(reader, actor_id)
            assert page.label == neutral_label(actor_id)
            assert entities.labels(reader, [actor_id]) == {actor_id: neutral_label(actor_id)}
            assert all(s.marking is not Marking.RED for s in page.statements)
        with pytest.raises(NotFound):
            reads.show_entity(user("pierre"), actor_id)

    def test_partners_read_clear_and_green_only(self, demo):
        partners = User.objects.filter(roles__role=Role.PARTNER)
        assert partners.count() == 2
        open_statements = Statement.objects.filter(marking__in=OPEN, retracted=False).count()
        for partner in partners:
            visible = policy.visible_statements(partner)
            assert set(visible.values_list("marking", flat=True)) == set(OPEN)
            assert visible.count() == open_statements

    def test_amber_is_shared_within_its_investigation(self, demo):
        statement = (
            Statement.objects.filter(marking=Marking.AMBER)
            .select_related("investigation", "organization")
            .order_by("created_at")
            .first()
        )
        assert statement is not None
        case = statement.investigation
        assert case is not None
        members = User.objects.filter(memberships__investigation=case).exclude(
            organization=statement.organization
        )
        assert members.exists()
        assert all(sees(m, statement) for m in members)
        strangers = User.objects.exclude(memberships__investigation=case).exclude(
            organization=statement.organization
        )
        assert strangers.exists()
        assert not any(sees(s, statement) for s in strangers)
        assert Investigation.objects.filter(memberships__user__username="nadia").exists()

    def test_an_observable_reported_by_two_organizations_is_one_entity(self, demo):
        reader = user("olivia")  # reads what every vetted account reads
        shared = (
            policy.visible_statements(reader)
            .exclude(subject__key="")
            .values("subject")
            .annotate(reporters=Count("organization", distinct=True))
            .filter(reporters__gte=2)
            .values_list("subject", flat=True)
        )
        assert shared.exists()
        entity = Entity.objects.get(pk=shared[0])
        page = reads.show_entity(reader, f"{entity.type}:{entity.key}")
        assert page.id == entity.pk
        assert len({s.organization for s in page.statements if s.direction == "out"}) >= 2

    def test_the_anonymous_member_shows_by_sector_only(self, demo):
        hidden = Organization.objects.get(disclose_name=False)
        statement = Statement.objects.filter(organization=hidden, marking__in=OPEN).first()
        assert statement is not None
        page = reads.show_entity(user("ciara"), statement.subject_id)
        shown = {s.organization for s in page.statements}
        assert f"a {hidden.get_sector_display()} organization" in shown
        assert hidden.name not in shown
        assert all(hidden.name.split()[0].lower() not in s.source for s in page.statements)

    def test_statements_have_histories(self, demo):
        changes = set(StatementVersion.objects.values_list("change", flat=True))
        assert changes == {"created", "revised", "re-marked", "retracted"}
        retracted = Statement.objects.get(retracted=True)
        assert retracted.author is not None
        assert not sees(retracted.author, retracted)
        remarked = StatementVersion.objects.filter(change="re-marked").values_list(
            "statement", flat=True
        )
        for statement in Statement.objects.filter(pk__in=list(remarked)):
            assert statement.author is not None
            history = reads.history(statement.author, statement.pk)
            assert [v.change for v in history] == ["created", "re-marked"]
            assert history[0].marking != history[1].marking

    def test_every_demo_login_authenticates(self, demo):
        request = RequestFactory().post("/accounts/login/")
        for login in demo.logins:
            found = authenticate(request, username=login.username, password=login.password)
            assert found is not None, login.username
            assert found.username == login.username
            assert found.organization.name == login.organization
            assert found.role_names() == set(login.roles)
            assert len(login.password) >= 12
            assert (login.totp_secret is not None) == two_factor.required(found)
            if login.totp_secret is None:
                continue
            device = two_factor.confirmed_device(found)
            assert device is not None
            assert base64.b32encode(device.bin_key).decode() == login.totp_secret
            assert two_factor.verify(found, two_factor.current_code(device)) == device
        with_device = {login.username for login in demo.logins if login.totp_secret}
        coordinators_and_partners = set(
            User.objects.filter(roles__role__in=two_factor.REQUIRED_FOR).values_list(
                "username", flat=True
            )
        )
        assert with_device == coordinators_and_partners == {"olivia", "pierre", "quinten"}


def _load_and_forget(seed: int) -> tuple[set[str], list[tuple[object, ...]]]:
    """Load the demo, note its observables and the shape of its statements, and roll back."""
    with transaction.atomic():
        load_demo(seed=seed)
        observables = set(Entity.objects.exclude(key="").values_list("id", flat=True))
        shape = sorted(
            Statement.objects.values_list(
                "subject__key", "predicate", "value", "object__key", "marking",
                "organization__name", "confidence", "first_seen", "source",
            ),
            key=repr,
        )  # fmt: skip
        transaction.set_rollback(True)
    return observables, shape


def test_the_same_seed_gives_the_same_scenario(db):
    first = _load_and_forget(7)
    assert not Entity.objects.exists()
    second = _load_and_forget(7)
    assert first == second
    other = _load_and_forget(8)
    assert other[0] != first[0]
