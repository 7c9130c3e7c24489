import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import identify_hasher
from django.test import RequestFactory

from cyberatlas.accounts import services
from cyberatlas.accounts.models import ApiToken, Decision, Status
from cyberatlas.errors import Forbidden, InvalidInput, NotFound
from tests.factories import org, person

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def test_an_organization_applies_then_is_vetted_and_the_decision_is_recorded():
    coordinator = person("cora", org("Secretariat", sector="policy"), roles=("coordinator",))
    applied = services.add_organization(
        None, "Acme Bank", kind="member", sector="banking", country="fr"
    )
    assert (applied.status, applied.country) == (Status.APPLIED, "FR")
    services.vet_organization(coordinator, "Acme Bank", note="sponsored by two members")
    applied.refresh_from_db()
    assert applied.status == Status.VETTED
    decision = Decision.objects.get(organization=applied)
    assert (decision.decided_by, decision.note) == (coordinator, "sponsored by two members")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "friend", "sector": "banking", "country": "FR"}, "kind"),
        ({"kind": "member", "sector": "gaming", "country": "FR"}, "sector"),
        ({"kind": "member", "sector": "banking", "country": "XX"}, "country"),
    ],
)
def test_bad_organization_fields_are_named(kwargs, field):
    with pytest.raises(InvalidInput) as raised:
        services.add_organization(None, "Acme", **kwargs)
    assert raised.value.field == field


def test_only_vetted_coordinators_decide():
    bank = org("Bank")
    researcher = person("rita", bank)
    with pytest.raises(Forbidden):
        services.vet_organization(researcher, "Bank")
    suspended = person("sam", bank, roles=("coordinator",), status=Status.SUSPENDED)
    with pytest.raises(Forbidden):
        services.vet_organization(suspended, "Bank")


def test_a_person_applies_with_roles_expertise_and_sponsor_and_argon2_password():
    bank = org("Bank")
    org("Sponsor Co", sector="research")
    user = services.add_user(
        None,
        "alice",
        org="Bank",
        roles=["researcher", "reviewer", "researcher"],
        password=PASSWORD,
        expertise="mule networks",
        sponsor="Sponsor Co",
    )
    assert user.organization == bank
    assert user.role_names() == {"researcher", "reviewer"}
    assert identify_hasher(user.password).algorithm == "argon2"
    assert user.status == Status.APPLIED
    decision = services.vet_user(None, "alice")
    assert decision.expertise == "mule networks"
    assert decision.sponsor is not None
    assert decision.sponsor.name == "Sponsor Co"


def test_partner_roles_belong_to_partner_organizations():
    org("Bank")
    org("Europol", kind="partner", sector="law-enforcement")
    with pytest.raises(InvalidInput, match="partner"):
        services.add_user(None, "eve", org="Bank", roles=["partner"], password=PASSWORD)
    with pytest.raises(InvalidInput, match="partner"):
        services.add_user(None, "pia", org="Europol", roles=["researcher"], password=PASSWORD)
    with pytest.raises(NotFound, match="org"):
        services.add_user(None, "x", org="Nowhere", roles=["researcher"], password=PASSWORD)


def test_weak_passwords_are_refused():
    org("Bank")
    with pytest.raises(InvalidInput) as raised:
        services.add_user(None, "alice", org="Bank", roles=["researcher"], password="12345")
    assert raised.value.field == "password"


def test_tokens_are_stored_hashed_and_look_up_their_user():
    alice = person("alice", org("Bank"))
    secret = services.create_token(None, "alice", "laptop")
    token = ApiToken.objects.get()
    assert secret.startswith("cya_")
    assert secret not in token.digest
    assert ApiToken.lookup(secret).user == alice
    assert ApiToken.lookup(secret + "x") is None
    with pytest.raises(Forbidden):
        services.create_token(person("bob", org("Vendor")), "alice")


def test_login_needs_vetting_and_locks_after_repeated_failures(settings):
    settings.AXES_FAILURE_LIMIT = 3
    org("Bank")
    services.add_user(None, "alice", org="Bank", roles=["researcher"], password=PASSWORD)
    request = RequestFactory().post("/login/")

    def login(password: str):
        return authenticate(request, username="alice", password=password)

    assert login(PASSWORD) is None  # applied, not vetted
    services.vet_organization(None, "Bank")
    services.vet_user(None, "alice")
    assert login(PASSWORD) is not None
    for _ in range(3):
        assert login("wrong password") is None
    assert login(PASSWORD) is None  # locked out
