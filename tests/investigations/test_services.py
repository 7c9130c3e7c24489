import pytest

from cyberatlas.core.tlp import Marking
from cyberatlas.errors import Forbidden, InvalidInput, NotFound
from cyberatlas.investigations import services
from cyberatlas.knowledge import reads
from cyberatlas.knowledge.models import Statement
from tests.factories import org, person, say

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    bank, vendor = org("Bank"), org("Vendor", sector="cybersecurity-vendor")
    police = org("Police", kind="partner", sector="law-enforcement")
    return {
        "alice": person("alice", bank),
        "carol": person("carol", vendor),
        "cora": person("cora", vendor, roles=("coordinator",)),
        "pat": person("pat", police, roles=("partner",)),
    }


def test_a_new_target_is_named_at_amber_in_the_investigation(people):
    opened = services.open_investigation(
        people["cora"],
        "Op Mule",
        target="threat-actor:Mule Herders",
        lead="Bank",
        members=["alice"],
    )
    name = Statement.objects.get(subject=opened.target, predicate="name")
    assert (name.marking, name.investigation, name.value) == (Marking.AMBER, opened, "Mule Herders")
    assert reads.show_entity(people["alice"], opened.target_id).label == "Mule Herders"
    with pytest.raises(NotFound):
        reads.show_entity(people["carol"], opened.target_id)


def test_an_existing_target_is_reused(people):
    named = say(people["alice"], "threat-actor:Known Gang", "country", "RU")
    opened = services.open_investigation(
        None, "Op Known", target="threat-actor:known gang", lead="Bank"
    )
    assert opened.target_id == named.subject_id


def test_partners_are_never_members(people):
    with pytest.raises(InvalidInput, match="partner"):
        services.open_investigation(
            None, "Op X", target="domain-name:x.example.com", lead="Bank", members=["pat"]
        )
    services.open_investigation(None, "Op Y", target="domain-name:y.example.com", lead="Bank")
    with pytest.raises(InvalidInput, match="partner"):
        services.add_member(None, "Op Y", "pat")


def test_investigations_are_readable_by_members_and_coordinators_only(people):
    services.open_investigation(
        None, "Op Z", target="domain-name:z.example.com", lead="Bank", members=["alice"]
    )
    assert [i.name for i in services.visible_investigations(people["alice"])] == ["Op Z"]
    assert [i.name for i in services.visible_investigations(people["cora"])] == ["Op Z"]
    assert list(services.visible_investigations(people["carol"])) == []
    with pytest.raises(NotFound):
        services.get(people["carol"], "Op Z")
    with pytest.raises(Forbidden):
        services.open_investigation(
            people["alice"], "Op W", target="domain-name:w.example.com", lead="Bank"
        )


def test_members_read_amber_of_the_investigation(people):
    opened = services.open_investigation(
        None, "Op A", target="domain-name:a.example.com", lead="Bank", members=["alice"]
    )
    say(
        people["alice"],
        "domain-name:a.example.com",
        "status",
        "active",
        Marking.AMBER,
        investigation=opened,
    )
    with pytest.raises(NotFound):
        reads.show_entity(people["carol"], "domain-name:a.example.com")
    services.add_member(people["cora"], "Op A", "carol")
    view = reads.show_entity(people["carol"], "domain-name:a.example.com")
    assert [s.investigation for s in view.statements] == ["Op A"]
