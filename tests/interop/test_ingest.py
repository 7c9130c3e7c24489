"""The ingest core, driven by a small importer plugin that yields records given to it."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from cyberatlas.core.tlp import Marking
from cyberatlas.errors import InvalidInput, NotFound
from cyberatlas.interop import bulk, ingest, matching, pipeline, plugins
from cyberatlas.interop.models import ImportRun, MatchProposal
from cyberatlas.interop.records import Claim, FileError, ImportContext, Record, Ref, Rejected
from cyberatlas.knowledge import entities, reads, services
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
    # Once alice no longer sees one of the two (her statements about it retracted), it is
    # not hers to judge any more.
    for statement in Statement.objects.filter(subject_id=proposal.right_id, retracted=False):
        services.retract(alice, statement.pk)
    assert not matching.open_proposals(alice).exists()


def test_matches_are_proposed_for_shared_telling_infrastructure(people):
    alice = people["alice"]
    alpha = say(alice, "threat-actor:Alpha", "uses", "domain-name:pay.example.com").subject_id
    say(alice, "threat-actor:Alpha", "uses", "ipv4-addr:198.51.100.7")  # not telling
    say(alice, "malware:Kit", "uses", "domain-name:pay.example.com")  # another kind
    quiet = say(
        alice, "threat-actor:Quiet", "uses", "domain-name:pay.example.com", Marking.AMBER_STRICT
    ).subject_id
    newcomer = "threat-actor--44444444-4444-4444-8444-444444444444"
    other = "threat-actor--66666666-6666-4666-8666-666666666666"
    wallet = Ref("cryptocurrency-wallet", value="0x52908400098527886E0F7030069857D2E4169EE7")
    summary = run(
        alice,
        [
            Claim("v1", Ref("threat-actor", stix_id=newcomer), "name", value="Newcomer"),
            Claim(
                "v2",
                Ref("threat-actor", stix_id=newcomer),
                "uses",
                object=Ref("domain-name", value="PAY.example.com"),
            ),
            Claim(
                "v3",
                Ref("threat-actor", stix_id=newcomer),
                "uses",
                object=Ref("ipv4-addr", value="198.51.100.7"),
            ),
            # A wallet new with this import, which two new actors use.
            Claim("v4", Ref("threat-actor", stix_id=other), "name", value="Other"),
            Claim("v5", Ref("threat-actor", stix_id=newcomer), "uses", object=wallet),
            Claim("v6", Ref("threat-actor", stix_id=other), "uses", object=wallet),
        ],
    )
    assert summary.proposals == 3
    proposals = {
        frozenset((p.left_id, p.right_id)): (p.reason, p.basis_marking)
        for p in matching.open_proposals(alice)
    }
    assert proposals == {
        frozenset((alpha, newcomer)): ("both use pay.example.com", Marking.GREEN),
        frozenset((quiet, newcomer)): ("both use pay.example.com", Marking.AMBER_STRICT),
        frozenset((other, newcomer)): (f"both use {wallet.value}", Marking.GREEN),
    }
    assert list(matching.open_proposals(people["carol"])) == []  # another organization's
    # The import handed over what it wrote of the entities it made; read back, it proposes
    # the same.
    MatchProposal.objects.all().delete()
    assert matching.propose_matches(alice, [newcomer]) == 3
    again = {
        frozenset((p.left_id, p.right_id)): (p.reason, p.basis_marking)
        for p in matching.open_proposals(alice)
    }
    assert again == proposals


def test_rows_that_may_exist_are_written_once_inside_a_transaction(people):
    # An entity another import wrote after this one looked: the batch still goes in whole.
    writer = bulk.RowWriter(Entity, ("id", "type", "key"), ignore_conflicts=True)
    taken = ("domain-name--00000000-0000-5000-8000-000000000001", "domain-name", "a.example")
    fresh = ("domain-name--00000000-0000-5000-8000-000000000002", "domain-name", "b.example")
    with transaction.atomic():
        writer.insert([taken])
        writer.insert([taken, fresh])
        writer.insert([fresh])
        assert sorted(Entity.objects.values_list("id", "type", "key")) == [taken, fresh]
    assert Entity.objects.count() == 2
    # Inserted where missing, saying which were: the others existed.
    other = ("domain-name--00000000-0000-5000-8000-000000000003", "domain-name", "c.example")
    assert writer.insert_missing([taken, other, fresh]) == {other[0]}
    assert writer.insert_missing([taken, other]) == set()
    assert Entity.objects.get(pk=other[0]).key == "c.example"


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


# -- the reading process, the word index, progress ---------------------------------------------

STIX_FIXTURE = Path(__file__).parent.parent / "fixtures" / "stix" / "oasis-apt1.json"


def _said_by(actor) -> set[tuple[str, str, str | None, str | None]]:
    return set(
        Statement.objects.filter(organization=actor.organization).values_list(
            "subject_id", "predicate", "value", "object_id"
        )
    )


def _import_fixture(actor, *, separate: bool, progress=None):
    return ingest.import_path(
        actor,
        STIX_FIXTURE,
        plugins.importer("stix"),
        options=ingest.ImportOptions(tlp=Marking.GREEN),
        progress=progress,
        separate_reader=separate,
    )


def test_a_reading_process_writes_what_reading_here_writes(people, monkeypatch):
    monkeypatch.setattr(ingest, "SEPARATE_READER_BYTES", 0)
    alice = people["alice"]
    with transaction.atomic():
        here = counts(_import_fixture(alice, separate=False))
        expected = _said_by(alice)
        transaction.set_rollback(True)
    assert Statement.objects.count() == 0
    assert here[0] > 100
    moved: list[int] = []
    summary = _import_fixture(alice, separate=True, progress=moved.append)
    assert counts(summary) == here
    # Domain objects without an identifier in the input get new ids; everything else matches.
    assert _said_by(alice) == expected
    assert sum(moved) == STIX_FIXTURE.stat().st_size


def test_progress_reaches_the_file_size_when_read_here(people):
    moved: list[int] = []
    _import_fixture(people["alice"], separate=False, progress=moved.append)
    assert sum(moved) == STIX_FIXTURE.stat().st_size
    assert len(moved) >= 1


def test_a_file_error_in_the_reading_process_aborts_with_its_location(people, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_bytes(STIX_FIXTURE.read_bytes()[:30000])
    with broken.open("rb") as stream, pytest.raises(FileError) as raised:
        ingest.ingest(
            people["alice"],
            plugins.importer("stix"),
            stream,
            options=ingest.ImportOptions(tlp=Marking.GREEN),
            context=ImportContext(filename="broken.json"),
            sha256="cd" * 32,
            separate_reader=True,
        )
    assert raised.value.location  # where the input stops making sense
    assert Statement.objects.count() == 0
    assert Entity.objects.count() == 0


class CrashingImporter(ListImporter):
    def read(self, stream, context) -> Iterator[Record]:
        yield domain("first.example.com")
        raise ZeroDivisionError("a bug in a plugin")


def test_a_crash_in_the_reading_process_is_reported_and_writes_nothing(people):
    with pytest.raises(pipeline.ReaderFailed, match="ZeroDivisionError: a bug in a plugin"):
        ingest.ingest(
            people["alice"],
            CrashingImporter([], Marking.GREEN),
            io.BytesIO(b""),
            options=ingest.ImportOptions(),
            context=ImportContext(filename="x"),
            sha256="ef" * 32,
            separate_reader=True,
        )
    assert Statement.objects.count() == 0


def _words_trigger() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = %s",
            ["knowledge_statement_words_insert"],
        )
        row = cursor.fetchone()
    return row[0] if row else None


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 word index")
def test_an_import_feeds_the_word_index_and_puts_its_trigger_back(people):
    before = _words_trigger()
    assert before is not None
    alice = people["alice"]
    with pytest.raises(FileError):
        run(alice, [domain(f"d{n}.example.com", n) for n in range(5)], fail=True)
    assert _words_trigger() == before  # rolled back with the failed import
    _import_fixture(alice, separate=False)
    assert _words_trigger() == before
    hits = entities.search(alice, "espionage operators")
    assert any(hit.type == "intrusion-set" for hit in hits)
    with connection.cursor() as cursor:  # FTS5 checks its index against the statements
        cursor.execute(
            "INSERT INTO knowledge_statement_words(knowledge_statement_words, rank) "
            "VALUES ('integrity-check', 1)"
        )
    # The trigger still feeds statements written one by one.
    say(alice, "domain-name:later.example.com", "description", "zanzibar quokka sighting")
    assert entities.search(alice, "quokka")


@pytest.mark.parametrize("batch", [2, pipeline.BATCH], ids=["across batches", "in one batch"])
def test_two_versions_in_one_input_keep_the_newer(people, monkeypatch, batch):
    import datetime as dt

    monkeypatch.setattr(pipeline, "BATCH", batch)
    actor = Ref("threat-actor", stix_id="threat-actor--55555555-5555-4555-8555-555555555555")
    old, new = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    records = [
        Claim("o1", actor, "description", value="Sells kits.", modified=old),
        Claim("o1", actor, "name", value="Wire Gang", modified=old),
        Claim("o2", actor, "description", value="Sells kits and mules.", modified=new),
        Claim("o3", actor, "description", value="Sells kits.", modified=old),
    ]
    summary = run(people["alice"], records)
    assert [s.value for s in Statement.objects.filter(predicate="description")] == [
        "Sells kits and mules."
    ]
    assert counts(summary) == (2, 1, 1, 0)


def test_earlier_statements_are_read_by_subject_and_organization_only(people):
    alice, carol = people["alice"], people["carol"]
    records = [domain(f"d{n}.example.com", n) for n in range(5)]
    run(carol, records)  # another organization said it first
    run(alice, records)
    with CaptureQueriesContext(connection) as queries:
        assert counts(run(alice, records)) == (0, 0, 5, 0)  # its own, recognised
    (lookup,) = [q["sql"] for q in queries if '"knowledge_statement"."source_modified"' in q["sql"]]
    assert f'organization_id" = {alice.organization_id}' in lookup
    if connection.vendor == "sqlite":  # the planner is told which index; check it uses both
        assert 'INDEXED BY "stmt_subject"' in lookup
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {lookup}")
            plan = " ".join(str(row[3]) for row in cursor.fetchall())
        assert "USING INDEX stmt_subject (subject_id=?)" in plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner statistics")
def test_statistics_are_refreshed_without_waiting_for_another_import(people, monkeypatch):
    import psycopg

    monkeypatch.setattr(ingest, "ANALYZE_AFTER", 1)
    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"],
    )
    try:
        other.execute("ANALYZE knowledge_statement")  # holds its lock until it commits
        records = [domain(f"d{n}.example.com", n) for n in range(50)]
        assert counts(run(people["alice"], records)) == (50, 0, 0, 0)
        with connection.cursor() as cursor:  # the lock timeout was put back
            cursor.execute("SELECT current_setting('lock_timeout')")
            assert cursor.fetchone()[0] == "0"
    finally:
        other.rollback()
        other.close()
    records = [domain(f"e{n}.example.com", n) for n in range(50)]
    assert counts(run(people["alice"], records)) == (50, 0, 0, 0)
