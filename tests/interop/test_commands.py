"""`cyberatlas import` and `cyberatlas export` as a researcher runs them, on real STIX files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from stix2validator import ValidationOptions, validate_string

from cyberatlas.cli import main
from cyberatlas.core.tlp import Marking
from cyberatlas.knowledge.models import AuditEvent, Entity, Statement
from tests.factories import org, person, say

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stix"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
pytestmark = pytest.mark.django_db


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def people():
    bank, vendor = org("Bank"), org("Vendor", sector="cybersecurity-vendor")
    return {"alice": person("alice", bank), "carol": person("carol", vendor)}


def fixture(name: str) -> Path:
    path = FIXTURES / name
    assert path.exists(), f"missing fixture {path}"
    return path


def test_import_prints_the_summary_and_reimport_changes_nothing(people):
    path = fixture("oasis-apt1.json")
    first = run("import", str(path), "--as", "alice", "--tlp", "green").output
    assert "0 unchanged, 0 rejected" in first
    created = Statement.objects.count()
    assert created > 100
    again = run("import", str(path), "--as", "alice", "--tlp", "green").output
    assert "0 created, 0 merged" in again
    assert Statement.objects.count() == created
    evidence = Statement.objects.values_list("evidence", flat=True).distinct()
    assert all(e.startswith("sha256:") for e in evidence)


def test_a_broken_file_is_refused_with_its_location_and_nothing_is_written(people, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "bundle", "id": "bundle--1", "objects": [{"type": "ipv4-addr",')
    result = run("import", str(broken), "--as", "alice", "--tlp", "green", ok=False)
    assert result.exit_code == 1
    assert "line 1" in result.output
    assert Statement.objects.count() == Entity.objects.count() == 0


def test_unmarked_input_needs_tlp(people, tmp_path):
    bundle = tmp_path / "b.json"
    bundle.write_text(
        json.dumps(
            {
                "type": "bundle",
                "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                "objects": [
                    {
                        "type": "domain-name",
                        "spec_version": "2.1",
                        "value": "evil.example.com",
                        "id": "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5",
                    }
                ],
            }
        )
    )
    result = run("import", str(bundle), "--as", "alice", ok=False)
    assert "--tlp" in result.output
    assert Statement.objects.count() == 0
    run("import", str(bundle), "--as", "alice", "--tlp", "amber+strict")
    assert Statement.objects.get().marking == Marking.AMBER_STRICT


def test_strict_aborts_on_a_rejected_item(people, tmp_path):
    bundle = tmp_path / "b.json"
    bundle.write_text(
        json.dumps(
            {
                "type": "bundle",
                "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                "objects": [
                    {
                        "type": "domain-name",
                        "spec_version": "2.1",
                        "value": "good.example.com",
                        "id": "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5",
                    },
                    {
                        "type": "ipv4-addr",
                        "spec_version": "2.1",
                        "value": "300.1.1.1",
                        "id": "ipv4-addr--3c10e93f-798e-5a26-a0c1-08156efab7f5",
                    },
                ],
            }
        )
    )
    lenient = run("import", str(bundle), "--as", "alice", "--tlp", "green").output
    assert "1 rejected" in lenient
    assert "objects[1]" in lenient
    Statement.objects.all().delete()
    strict = run("import", str(bundle), "--as", "carol", "--tlp", "green", "--strict", ok=False)
    assert strict.exit_code == 1
    assert "objects[1]" in strict.output
    assert not Statement.objects.filter(organization__name="Vendor").exists()


def test_export_contains_exactly_what_the_reader_may_read_and_validates(people, tmp_path):
    alice = people["alice"]
    say(alice, "threat-actor:Wire Gang", "uses", "domain-name:wire.example.com")
    say(alice, "domain-name:wire.example.com", "resolves-to", "ipv4-addr:203.0.113.7")
    say(alice, "threat-actor:Wire Gang", "alias", "Secret Alias", Marking.AMBER_STRICT)
    say(
        alice,
        "cryptocurrency-wallet:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "chain",
        "bitcoin",
    )
    mine, theirs = tmp_path / "alice.json", tmp_path / "carol.json"
    run("export", "--as", "alice", "--format", "stix", "-o", str(mine))
    run("export", "--as", "carol", "--format", "stix", "-o", str(theirs))
    for path in (mine, theirs):
        report = validate_string(path.read_text(), ValidationOptions(version="2.1"))
        assert report.is_valid, [str(e) for r in report.object_results for e in r.errors]
    alice_bundle, carol_bundle = json.loads(mine.read_text()), json.loads(theirs.read_text())
    assert "Secret Alias" in mine.read_text()
    assert "Secret Alias" not in theirs.read_text()
    actor = next(o for o in alice_bundle["objects"] if o["type"] == "threat-actor")
    assert actor["object_marking_refs"] == [
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
    ]
    shared = next(o for o in carol_bundle["objects"] if o["type"] == "threat-actor")
    assert shared["object_marking_refs"] == [
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
    ]
    assert AuditEvent.objects.filter(action="export").count() == 2


@pytest.mark.skipif(not (SHARED / "stix").exists(), reason="../shared/data is not beside the clone")
def test_real_ransomware_knowledge_base_imports(people):
    path = SHARED / "stix" / "ransomware-kb-stix21" / "ransomware-kb-bundle.json"
    output = run("import", str(path), "--as", "alice", "--tlp", "clear").output
    assert ", 0 rejected" in output
    assert Entity.objects.filter(type="intrusion-set").count() == 19
