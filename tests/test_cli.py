"""The `cyberatlas` command, driven as an operator would: in-process and as a real process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cyberatlas.cli import main
from cyberatlas.knowledge.models import Entity, Statement

PASSWORD = "correct horse battery staple\n"


def run(*args: str, stdin: str | None = None, ok: bool = True):
    result = CliRunner().invoke(main, list(args), input=stdin)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def community(db):
    for name, kind, sector in [
        ("Bank", "member", "banking"),
        ("Vendor", "member", "cybersecurity-vendor"),
        ("Europol", "partner", "law-enforcement"),
    ]:
        run("org", "add", name, "--kind", kind, "--sector", sector, "--country", "NL")
        run("org", "vet", name)
    for username, org, roles in [
        ("alice", "Bank", ["researcher"]),
        ("bob", "Bank", ["researcher", "reviewer"]),
        ("carol", "Vendor", ["researcher"]),
        ("cora", "Vendor", ["coordinator"]),
        ("pat", "Europol", ["partner"]),
    ]:
        role_args = [a for r in roles for a in ("--role", r)]
        run("user", "add", username, "--org", org, *role_args, stdin=PASSWORD)
    # A coordinator who is not vetted yet decides nothing; the operator vets the first one.
    assert (
        "not a vetted coordinator" in run("user", "vet", "alice", "--as", "cora", ok=False).output
    )
    run("user", "vet", "cora")
    for username in ("alice", "bob", "carol", "pat"):
        run("user", "vet", username, "--as", "cora")


def test_the_knowledge_base_from_the_shell(community):
    run(
        "investigation",
        "open",
        "Op Wire",
        "--target",
        "threat-actor:Wire Gang",
        "--lead",
        "Bank",
        "--member",
        "alice",
        "--member",
        "carol",
        "--as",
        "cora",
    )
    wallet = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    run(
        "statement",
        "add",
        "--as",
        "alice",
        "threat-actor:Wire Gang",
        "receives-payment-via",
        f"cryptocurrency-wallet:{wallet}",
        "--tlp",
        "amber",
        "--investigation",
        "Op Wire",
        "--source",
        "https://example.org/report",
        "--confidence",
        "80",
    )
    run(
        "statement",
        "add",
        "--as",
        "alice",
        f"cryptocurrency-wallet:{wallet}",
        "chain",
        "bitcoin",
        "--tlp",
        "clear",
    )
    secret = run(
        "statement",
        "add",
        "--as",
        "alice",
        "threat-actor:Wire Gang",
        "alias",
        "W1r3",
        "--tlp",
        "red",
        "--recipient",
        "bob",
    ).output.strip()

    as_carol = json.loads(
        run("show", "threat-actor:Wire Gang", "--as", "carol", "--format", "json").output
    )
    assert as_carol["label"] == "Wire Gang"
    assert {s["predicate"] for s in as_carol["statements"]} == {"name", "receives-payment-via"}
    assert secret not in {s["id"] for s in as_carol["statements"]}
    payment = next(s for s in as_carol["statements"] if s["predicate"] == "receives-payment-via")
    assert payment["other_label"] == wallet
    assert payment["marking"] == "amber"
    assert payment["organization"] == "Bank"
    assert payment["source"] == "https://example.org/report"

    # The partner sees the CLEAR wallet, not the actor known only in the investigation.
    as_pat = run("show", f"cryptocurrency-wallet:{wallet}", "--as", "pat")
    assert "chain: bitcoin" in as_pat.output
    assert "Wire Gang" not in as_pat.output
    hidden = run("show", "threat-actor:Wire Gang", "--as", "pat", ok=False)
    missing = run("show", "threat-actor:Nobody", "--as", "pat", ok=False)
    assert hidden.exit_code == missing.exit_code == 1
    assert "no entity" in hidden.output
    assert "no entity" in missing.output

    # Bob is named on the RED alias: he sees it (and the read is audited).
    as_bob = run("show", "threat-actor:W1r3", "--as", "bob").output
    assert "W1r3" in as_bob
    log = run("audit", "--as", "cora").output
    assert "bob" in log
    assert "red" in log
    assert "W1r3" not in log
    assert run("audit", "--as", "alice", ok=False).exit_code == 1

    assert run("search", "wire", "--as", "carol").output.startswith("Wire Gang")
    token = run("token", "create", "alice").output.strip()
    assert token.startswith("cya_")
    assert len(token.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["domain-name:evil.com", "status", "active", "--tlp", "amber"], "investigation"),
        (["domain-name:evil.com", "status", "active", "--tlp", "red"], "recipient"),
        (["domain-name:evil.com", "statuss", "active", "--tlp", "green"], "predicate"),
        (
            ["domain-name:evil.com", "status", "active", "--tlp", "green", "--recipient", "zed"],
            "recipient",
        ),
        (
            [
                "cryptocurrency-wallet:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
                "chain",
                "ethereum",
                "--tlp",
                "green",
            ],
            "subject: cryptocurrency-wallet",
        ),
        (
            ["bank-account:GB82WEST12345698765433", "status", "active", "--tlp", "green"],
            "subject: bank-account",
        ),
        (["phone-number:+44 20 7946 09", "status", "active", "--tlp", "green"], "phone"),
        (["domain-name:evil.com", "status", "active", "--tlp", "purple"], "tlp"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_nothing_is_written(community, args, message):
    before = (Entity.objects.count(), Statement.objects.count())
    result = run("statement", "add", "--as", "alice", *args, ok=False)
    assert result.exit_code != 0
    assert message.lower() in result.output.lower()
    assert (Entity.objects.count(), Statement.objects.count()) == before


def test_unknown_users_and_organizations_are_named(community):
    assert "no user 'zed'" in run("show", "domain-name:a.com", "--as", "zed", ok=False).output
    result = run(
        "user", "add", "x", "--org", "Nowhere", "--role", "researcher", stdin=PASSWORD, ok=False
    )
    assert "no organization 'Nowhere'" in result.output


def test_every_command_has_help():
    commands = [[]]
    for group in main.commands.values():
        commands.append([group.name])
        commands += [[group.name, sub] for sub in getattr(group, "commands", {})]
    for command in commands:
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage:" in result.output


def test_the_installed_command_runs_on_a_fresh_sqlite_database(tmp_path: Path):
    env = {
        **os.environ,
        "CYBERATLAS_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CYBERATLAS_VAR_DIR": str(tmp_path),
    }
    command = [sys.executable, "-m", "cyberatlas"]

    def sh(*args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [*command, *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    sh("migrate")
    sh("org", "add", "Bank", "--kind", "member", "--sector", "banking", "--country", "DE")
    sh("org", "vet", "Bank")
    sh("user", "add", "alice", "--org", "Bank", "--role", "researcher", stdin=PASSWORD)
    sh("user", "vet", "alice")
    sh(
        "statement",
        "add",
        "--as",
        "alice",
        "domain-name:evil[.]example[.]com",
        "status",
        "active",
        "--tlp",
        "green",
    )
    shown = json.loads(
        sh("show", "domain-name:evil.example.com", "--as", "alice", "--format", "json")
    )
    assert shown["label"] == "evil.example.com"
    assert [s["value"] for s in shown["statements"]] == ["active"]


def test_totp_code_prints_the_current_code_of_a_confirmed_authenticator(community):
    from cyberatlas.accounts import two_factor
    from cyberatlas.accounts.models import User

    assert "no authenticator" in run("user", "totp-code", "cora", ok=False).output
    device = two_factor.enrol_confirmed(User.objects.get(username="cora"))
    code = run("user", "totp-code", "cora").output.strip()
    assert two_factor.verify(device.user, code) == device
