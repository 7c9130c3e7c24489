"""The ingest core, driven by a small importer plugin that yields records given to it."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import pytest

from cyberatlas.core.tlp import Marking
from cyberatlas.errors import InvalidInput, NotFound
from cyberatlas.interop import ingest, matching, pipeline
from cyberatlas.interop.models import ImportRun, MatchProposal
from cyberatlas.interop.records import Claim, FileError, ImportContext, Record, Ref, Rejected
from cyberatlas.knowledge import reads
from cyberatlas.knowledge.models import Entity, Statement
from tests.factories import investigation, org, person, say

pytestmark = pytest.mark.django_db


class ListImporter:
    """Yields the records it was given; raises a file error at the end when told to."""

    name = "list"
    media_types = ("application/x-test",)

    def __init__(
        self, records: Sequence[Record], marking: Marking | None = None, fail: bool = False
    ) -> None:
        self.records = records
        self.marking = marking
        self.fail = fail

    def read(self, stream, context) -> Iterator[Record]:
        yield from self.records
        if self.fail:
            raise FileError("truncated input", location="byte 999")

    def default_marking(self) -> Marking | None:
        return self.marking


def run(actor, records, marking=Marking.GREEN, **options):
    importer = ListImporter(records, marking, options.pop("fail", False))
    return ingest.ingest(
        actor,
        importer,
        io.BytesIO(b""),
        options=ingest.ImportOptions(**options),
        context=ImportContext(filename="test.json"),
        sha256="ab" * 32,
    )


def domain(value: str, n: int = 0, **kw) -> Claim:
    return Claim(
        f"objects[{n}]", Ref("domain-name", value=value), "observed-in", value="feed", **kw
    )


@pytest.fixture
def people():
    bank, vendor = org("Bank"), org("Vendor", sector="cybersecurity-vendor")
    return {
        "alice": person("alice", bank),
        "bob": person("bob", bank),
        "carol": person("carol", vendor),
    }


def counts(summary):
    return (summary.created, summary.merged, summary.unchanged, summary.rejected)


def test_created_merged_unchanged_and_reimport_makes_no_duplicates(people):
    alice, carol = people["alice"], people["carol"]
    say(carol, "domain-name:known.example.com", "status", "active")
    records = [domain("new.example.com", 0), domain("known[.]example.com", 1)]
    assert counts(run(alice, records)) == (1, 1, 0, 0)
    assert counts(run(alice, records)) == (0, 0, 2, 0)
    assert Statement.objects.filter(predicate="observed-in").count() == 2
    statement = Statement.objects.filter(predicate="observed-in").first()
    assert statement.evidence == "sha256:" + "ab" * 32
    assert ImportRun.objects.count() == 2


def test_new_means_new_to_the_importing_user(people):
    alice, carol = people["alice"], people["carol"]
    say(alice, "domain-name:secret.example.com", "status", "active", Marking.AMBER_STRICT)
    summary = run(carol, [domain("secret.example.com")])
    assert counts(summary) == (1, 0, 0, 0)  # carol could not see it: created, for her


def test_item_rejections_are_reported_and_the_rest_committed(people):
    records = [
        domain("good.example.com", 0),
        Claim(
            "objects[1]",
            Ref("cryptocurrency-wallet", value="1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"),
            "observed-in",
            value="feed",
        ),
        Rejected("objects[2]", "not a STIX object"),
        Claim(
            "objects[3]", Ref("domain-name", value="x.example.com"), "no-such-predicate", value="1"
        ),
    ]
    summary = run(people["alice"], records)
    assert counts(summary) == (1, 0, 0, 3)
    locations = [r.location for r in summary.rejections]
    assert locations == ["objects[2]", "objects[1]", "objects[3]"]
    assert "checksum" in summary.rejections[1].reason


def test_strict_aborts_on_any_rejection_and_writes_nothing(people):
    records = [domain("good.example.com"), Rejected("objects[1]", "broken")]
    with pytest.raises(ingest.StrictAbort, match="objects\\[1\\]"):
        run(people["alice"], records, strict=True)
    assert Statement.objects.count() == 0
    assert Entity.objects.count() == 0


def test_a_file_error_midway_leaves_the_database_as_it_was(people):
    records = [domain(f"d{n}.example.com", n) for n in range(pipeline.BATCH + 5)]
    with pytest.raises(FileError, match="truncated"):
        run(people["alice"], records, fail=True)
    assert Statement.objects.count() == 0
    assert ImportRun.objects.count() == 0


def test_unmarked_input_needs_tlp_and_tlp_only_raises(people):
    alice = people["alice"]
    with pytest.raises(FileError, match="--tlp"):
        run(alice, [domain("a.example.com")], marking=None)
    assert Statement.objects.count() == 0
    run(
        alice,
        [domain("a.example.com", marking=Marking.CLEAR), domain("b.example.com")],
        marking=None,
        tlp=Marking.GREEN,
    )
    markings = dict(Statement.objects.values_list("subject__key", "marking"))
    assert markings == {"a.example.com": Marking.GREEN, "b.example.com": Marking.GREEN}
    run(alice, [domain("c.example.com", marking=Marking.AMBER_STRICT)], tlp=Marking.GREEN)
    assert Statement.objects.get(subject__key="c.example.com").marking == Marking.AMBER_STRICT


def test_amber_needs_an_investigation_and_red_recipients(people):
    alice = people["alice"]
    with pytest.raises(FileError, match="--investigation"):
        run(alice, [domain("a.example.com", marking=Marking.AMBER)])
    with pytest.raises(FileError, match="--recipient"):
        run(alice, [domain("a.example.com", marking=Marking.RED)])
    case = investigation(
        "Op",
        Entity.objects.create(
            id="threat-actor--00000000-0000-4000-8000-000000000001", type="threat-actor"
        ),
        alice.organization,
        alice,
    )
    run(alice, [domain("a.example.com", marking=Marking.AMBER)], investigation=case)
    run(alice, [domain("b.example.com", marking=Marking.RED)], recipients=(people["carol"],))
    red = Statement.objects.get(subject__key="b.example.com")
    assert list(red.grants.values_list("user__username", flat=True)) == ["carol"]


def test_relationship_endpoints_must_be_in_the_input_or_visible(people):
    alice, carol = people["alice"], people["carol"]
    hidden = say(alice, "threat-actor:Quiet", "country", "RU", Marking.AMBER_STRICT).subject_id
    actor = Ref("threat-actor", stix_id="threat-actor--11111111-1111-4111-8111-111111111111")
    records = [
        Claim("objects[0]", actor, "name", value="Loud"),
        Claim("objects[1]", actor, "uses", object=Ref("domain-name", value="loud.example.com")),
        Claim("objects[2]", actor, "related-to", object=Ref("threat-actor", stix_id=hidden)),
        Claim(
            "objects[3]",
            actor,
            "related-to",
            object=Ref(
                "threat-actor", stix_id="threat-actor--22222222-2222-4222-8222-222222222222"
            ),
        ),
    ]
    summary = run(carol, records)
    assert counts(summary) == (2, 0, 0, 2)
    reasons = {r.location: r.reason for r in summary.rejections}
    assert reasons["objects[2]"].replace(hidden, "X") == reasons["objects[3]"].replace(
        "threat-actor--22222222-2222-4222-8222-222222222222", "X"
    )


def test_domain_objects_by_name_resolve_through_readable_names(people):
    alice, carol = people["alice"], people["carol"]
    known = say(alice, "threat-actor:Wire Gang", "country", "RU").subject_id
    secret = say(alice, "threat-actor:Hush", "country", "RU", Marking.AMBER_STRICT).subject_id
    records = [
        Claim("v1", Ref("threat-actor", name="wire gang"), "alias", value="WG"),
        Claim("v2", Ref("threat-actor", name="Hush"), "alias", value="H"),
    ]
    run(carol, records)
    assert Statement.objects.get(value="WG").subject_id == known
    other = Statement.objects.get(value="H").subject_id
    assert other != secret
    assert reads.show_entity(carol, other).label == "Hush"


def test_matches_are_proposed_judged_and_undone(people):
    alice = people["alice"]
    say(alice, "threat-actor:LockBit", "country", "RU")
    summary = run(
        alice,
        [
            Claim(
                "v1",
                Ref("threat-actor", stix_id="threat-actor--33333333-3333-4333-8333-333333333333"),
                "name",
                value="Lockbit3",
            ),
            Claim(
                "v2",
                Ref("threat-actor", stix_id="threat-actor--33333333-3333-4333-8333-333333333333"),
                "alias",
                value="lockbit",
            ),
        ],
    )
    assert summary.proposals == 1
    proposal = matching.open_proposals(alice).get()
    assert "lockbit" in proposal.reason.lower()
    assert list(matching.open_proposals(people["carol"])) == []
    with pytest.raises(InvalidInput, match="at least"):
        matching.judge(alice, proposal.pk, "same", tlp="clear")
    done = matching.judge(alice, proposal.pk, "same", tlp="green")
    same_as = Statement.objects.get(pk=done.judgement_id)
    assert (same_as.predicate, same_as.value) == ("same-as", "same")
    assert not matching.open_proposals(alice).exists()
    matching.undo(alice, proposal.pk)
    same_as.refresh_from_db()
    assert same_as.retracted
    assert matching.open_proposals(alice).get().pk == proposal.pk
    with pytest.raises(NotFound):
        matching.judge(people["carol"], proposal.pk, "same")
    assert MatchProposal.objects.count() == 1


def test_an_item_marked_clear_needs_no_tlp(people):
    run(people["alice"], [domain("open.example.com", marking=Marking.CLEAR)], marking=None)
    assert Statement.objects.get().marking == Marking.CLEAR


def test_a_newer_source_version_revises_and_an_older_one_changes_nothing(people):
    import datetime as dt

    alice = people["alice"]
    actor = Ref("threat-actor", stix_id="threat-actor--44444444-4444-4444-8444-444444444444")
    v1, v2 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

    def version(modified, description, confidence):
        return [
            Claim("o1", actor, "name", value="Wire Gang", modified=modified),
            Claim(
                "o1",
                actor,
                "description",
                value=description,
                modified=modified,
                confidence=confidence,
            ),
        ]

    assert counts(run(alice, version(v1, "Sells kits.", 50))) == (2, 0, 0, 0)
    assert counts(run(alice, version(v2, "Sells kits and mules.", 80))) == (0, 2, 0, 0)
    description = Statement.objects.get(predicate="description")
    assert (description.value, description.confidence, description.version) == (
        "Sells kits and mules.",
        80,
        2,
    )
    assert [v.change for v in reads.history(alice, description.pk)] == ["created", "revised"]
    assert counts(run(alice, version(v1, "Sells kits.", 50))) == (0, 0, 2, 0)
    assert Statement.objects.get(predicate="description").value == "Sells kits and mules."
