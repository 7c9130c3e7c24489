"""The ``cyberatlas`` command.

The operator at the shell acts as the system; an act a person performs takes ``--as USERNAME``
and is recorded under that person, with that person's rights.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

import click

from cyberatlas.cli_common import (
    TLP_CHOICES,
    F,
    actor,
    as_option,
    echo_json,
    format_option,
    read_password,
    refusals,
    required_actor,
    setup,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cyberatlas")
def main() -> None:
    """cyberatlas: map and disrupt cybercrime together.

    The database is chosen by CYBERATLAS_DATABASE_URL (sqlite:///PATH or postgres://...),
    by default an SQLite file under ./var/.
    """
    setup()


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1)


@main.command()
@click.option("--port", default=8000, show_default=True, help="TCP port on 127.0.0.1")
@click.option("--host", default="127.0.0.1", show_default=True)
def serve(port: int, host: str) -> None:
    """Migrate, then serve the platform on http://HOST:PORT/ (waitress, static files included)."""
    from django.core.management import call_command
    from waitress import serve as serve_wsgi

    from cyberatlas import writers
    from cyberatlas.wsgi import application

    call_command("migrate", interactive=False, verbosity=0)
    writers.wait_as_a_request()  # a request waits seconds for an import, not minutes
    click.echo(f"cyberatlas serving on http://{host}:{port}/ (Ctrl-C stops)")
    serve_wsgi(application, host=host, port=port, threads=8, ident="cyberatlas")


@main.command()
@click.option("--seed", default=7, show_default=True, help="the same seed gives the same scenario")
def demo(seed: int) -> None:
    """Migrate and load the demo scenario, a fictitious community and criminal ecosystem."""
    from django.core.management import call_command

    from cyberatlas.accounts.models import Organization
    from cyberatlas.demo import load_demo

    call_command("migrate", interactive=False, verbosity=0)
    if Organization.objects.exists():
        click.echo("This database already holds data; the demo loads only into an empty one.")
        click.echo(
            "(Its logins were printed when it was loaded; `cyberatlas org list` lists orgs.)"
        )
        return
    with refusals():
        summary = load_demo(seed=seed, progress=lambda message: click.echo(f"  {message}"))
    click.echo(
        f"loaded {summary.organizations} organizations, {summary.users} people, "
        f"{summary.investigations} investigations, {summary.entities} entities and "
        f"{summary.statements} statements\n"
    )
    click.echo("Demo logins (password, then the TOTP secret where a second factor is set):")
    for login in summary.logins:
        roles = ",".join(login.roles)
        secret = f"  totp {login.totp_secret}" if login.totp_secret else ""
        click.echo(
            f"  {login.username:12} {login.password:32} {login.organization} ({roles}){secret}"
        )
    click.echo(
        "\nCodes for a second factor: `cyberatlas user totp-code USERNAME` prints the current one."
    )


@main.command("predicates")
def list_predicates() -> None:
    """List the predicates a statement can use."""
    from cyberatlas.core.predicates import all_predicates

    for p in all_predicates():
        kind = "relationship" if p.relationship else "property"
        click.echo(f"{p.name:24} {kind:12} {p.description}")


# -- organizations ---------------------------------------------------------------------------


@main.group()
def org() -> None:
    """Organizations: apply, vet, suspend, list."""


@org.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(["member", "partner", "collaborator"]))
@click.option(
    "--sector",
    required=True,
    type=click.Choice(
        [
            "banking",
            "payments",
            "crypto",
            "cybersecurity-vendor",
            "ngo",
            "research",
            "law-enforcement",
            "policy",
        ]
    ),
)
@click.option("--country", required=True, metavar="CC", help="ISO 3166-1 alpha-2 code")
@click.option("--anonymous", is_flag=True, help="other organizations see the sector, not the name")
@as_option()
def org_add(
    name: str, kind: str, sector: str, country: str, anonymous: bool, as_: str | None
) -> None:
    """Record organization NAME's application (it reads nothing until vetted)."""
    from cyberatlas.accounts import services

    with refusals():
        created = services.add_organization(
            actor(as_),
            name,
            kind=kind,
            sector=sector,
            country=country,
            disclose_name=not anonymous,
        )
    click.echo(f"organization {created.name!r} applied ({created.kind}, {created.sector})")


@org.command("vet")
@click.argument("name")
@click.option("--note", default="", help="the reason, kept with the decision")
@as_option()
def org_vet(name: str, note: str, as_: str | None) -> None:
    """Admit organization NAME."""
    from cyberatlas.accounts import services

    with refusals():
        services.vet_organization(actor(as_), name, note)
    click.echo(f"organization {name!r} vetted")


@org.command("suspend")
@click.argument("name")
@click.option("--note", default="", help="the reason, kept with the decision")
@as_option()
def org_suspend(name: str, note: str, as_: str | None) -> None:
    """Suspend organization NAME: its people read nothing."""
    from cyberatlas.accounts import services

    with refusals():
        services.suspend_organization(actor(as_), name, note)
    click.echo(f"organization {name!r} suspended")


@org.command("list")
def org_list() -> None:
    """List organizations and their status."""
    from cyberatlas.accounts.models import Organization

    for o in Organization.objects.all():
        click.echo(f"{o.name:30} {o.kind:13} {o.sector:22} {o.country}  {o.status}")


# -- users -----------------------------------------------------------------------------------


@main.group()
def user() -> None:
    """People: apply, vet, suspend."""


@user.command("add")
@click.argument("username")
@click.option("--org", "org_name", required=True, metavar="NAME")
@click.option(
    "--role",
    "roles",
    required=True,
    multiple=True,
    type=click.Choice(["researcher", "reviewer", "coordinator", "partner"]),
)
@click.option("--email", default="")
@click.option("--expertise", default="", help="what the person brings, kept with the decision")
@click.option("--sponsor", default=None, metavar="ORG", help="the sponsoring organization")
@as_option()
def user_add(
    username: str,
    org_name: str,
    roles: tuple[str, ...],
    email: str,
    expertise: str,
    sponsor: str | None,
    as_: str | None,
) -> None:
    """Record USERNAME's application; the password is read as one line from stdin."""
    from cyberatlas.accounts import services

    password = read_password()
    with refusals():
        created = services.add_user(
            actor(as_),
            username,
            org=org_name,
            roles=roles,
            password=password,
            email=email,
            expertise=expertise,
            sponsor=sponsor,
        )
    click.echo(f"user {created.username!r} applied ({', '.join(roles)})")


@user.command("vet")
@click.argument("username")
@click.option("--note", default="", help="the reason, kept with the decision")
@as_option()
def user_vet(username: str, note: str, as_: str | None) -> None:
    """Admit USERNAME."""
    from cyberatlas.accounts import services

    with refusals():
        services.vet_user(actor(as_), username, note)
    click.echo(f"user {username!r} vetted")


@user.command("suspend")
@click.argument("username")
@click.option("--note", default="", help="the reason, kept with the decision")
@as_option()
def user_suspend(username: str, note: str, as_: str | None) -> None:
    """Suspend USERNAME: they read nothing."""
    from cyberatlas.accounts import services

    with refusals():
        services.suspend_user(actor(as_), username, note)
    click.echo(f"user {username!r} suspended")


@user.command("totp-code")
@click.argument("username")
def user_totp_code(username: str) -> None:
    """Print the current code of USERNAME's authenticator (demos and support at the shell)."""
    from cyberatlas.accounts import services, two_factor

    with refusals():
        device = two_factor.confirmed_device(services.user(username))
    if device is None:
        raise click.ClickException(f"{username} has no authenticator set up")
    click.echo(two_factor.current_code(device))


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("username")
@click.option("--name", default="", help="a label for the token")
@as_option()
def token_create(username: str, name: str, as_: str | None) -> None:
    """Issue an API token for USERNAME and print it (it is stored only hashed)."""
    from cyberatlas.accounts import services

    with refusals():
        click.echo(services.create_token(actor(as_), username, name))


# -- investigations --------------------------------------------------------------------------


@main.group()
def investigation() -> None:
    """Investigations: one per target; their members read its TLP:AMBER data."""


@investigation.command("open")
@click.argument("name")
@click.option("--target", required=True, metavar="ENTITY")
@click.option("--lead", required=True, metavar="ORG")
@click.option("--member", "members", multiple=True, metavar="USERNAME")
@as_option()
def investigation_open(
    name: str, target: str, lead: str, members: tuple[str, ...], as_: str | None
) -> None:
    """Open investigation NAME on ENTITY, led by ORG."""
    from cyberatlas.investigations import services

    with refusals():
        opened = services.open_investigation(
            actor(as_), name, target=target, lead=lead, members=members
        )
    click.echo(f"investigation {opened.name!r} opened on {opened.target_id}")


@investigation.command("add-member")
@click.argument("name")
@click.argument("username")
@as_option()
def investigation_add_member(name: str, username: str, as_: str | None) -> None:
    """Make USERNAME a member of investigation NAME."""
    from cyberatlas.investigations import services

    with refusals():
        services.add_member(actor(as_), name, username)
    click.echo(f"{username} is a member of {name!r}")


@investigation.command("list")
@as_option()
def investigation_list(as_: str | None) -> None:
    """List the investigations you may see."""
    from cyberatlas.investigations import services

    for found in services.visible_investigations(actor(as_)).select_related("lead"):
        click.echo(
            f"{found.name:30} {found.state:7} lead {found.lead.name}  target {found.target_id}"
        )


# -- statements ------------------------------------------------------------------------------


def provenance_options(f: F) -> F:
    options = [
        click.option("--source", default="", metavar="URL", help="where it comes from"),
        click.option("--evidence", default="", help="reference or digest of captured evidence"),
        click.option("--confidence", type=click.IntRange(0, 100), default=None),
        click.option("--source-grade", default="", help="Admiralty source reliability A-F"),
        click.option("--info-grade", default="", help="Admiralty information credibility 1-6"),
        click.option("--first-seen", type=click.DateTime(), default=None),
        click.option("--last-seen", type=click.DateTime(), default=None),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _provenance(kwargs: dict[str, Any]) -> Any:
    from django.utils import timezone

    from cyberatlas.knowledge.services import Provenance

    def aware(moment: dt.datetime | None) -> dt.datetime | None:
        if moment is None or timezone.is_aware(moment):
            return moment
        return timezone.make_aware(moment, dt.UTC)

    return Provenance(
        source=kwargs["source"],
        evidence=kwargs["evidence"],
        confidence=kwargs["confidence"],
        source_grade=kwargs["source_grade"],
        information_grade=kwargs["info_grade"],
        first_seen=aware(kwargs["first_seen"]),
        last_seen=aware(kwargs["last_seen"]),
    )


@main.group()
def statement() -> None:
    """Data points: add, revise, re-mark, retract, history."""


@statement.command("add")
@click.argument("subject")
@click.argument("predicate")
@click.argument("target", metavar="VALUE|OBJECT")
@click.option("--tlp", required=True, type=click.Choice(TLP_CHOICES, case_sensitive=False))
@click.option("--investigation", "investigation_name", default=None, metavar="NAME")
@click.option("--recipient", "recipients", multiple=True, metavar="USERNAME")
@click.option("--judgement", default=None, help="for same-as: same, not-same or unsure")
@provenance_options
@as_option(required=True)
def statement_add(
    subject: str,
    predicate: str,
    target: str,
    tlp: str,
    investigation_name: str | None,
    recipients: tuple[str, ...],
    judgement: str | None,
    as_: str,
    **kwargs: Any,
) -> None:
    """Say that SUBJECT has PREDICATE VALUE (a property) or OBJECT (a relationship).

    Entities are STIX ids, type:value for observables (domain-name:example.com) or type:NAME
    for domain objects (threat-actor:Evil Corp). Run `cyberatlas predicates` for predicates.
    """
    from cyberatlas.knowledge import services

    with refusals():
        actor = required_actor(as_)
        audience = services.audience(actor, tlp, investigation_name, recipients)
        added = services.add_statement(
            actor, subject, predicate, target, audience, _provenance(kwargs), judgement=judgement
        )
    click.echo(str(added.pk))


@statement.command("revise")
@click.argument("statement_id")
@click.option("--value", default=None, help="a corrected value, or object for a relationship")
@click.option("--note", default="")
@provenance_options
@as_option(required=True)
def statement_revise(
    statement_id: str, value: str | None, note: str, as_: str, **kwargs: Any
) -> None:
    """Write a new version of a statement of your organization."""
    from cyberatlas.knowledge import services

    with refusals():
        changed = services.revise(
            required_actor(as_),
            statement_id,
            value=value,
            provenance=_provenance(kwargs),
            note=note,
        )
    click.echo(f"{changed.pk} now at version {changed.version}")


@statement.command("remark")
@click.argument("statement_id")
@click.option("--tlp", required=True, type=click.Choice(TLP_CHOICES, case_sensitive=False))
@click.option("--investigation", "investigation_name", default=None, metavar="NAME")
@click.option("--recipient", "recipients", multiple=True, metavar="USERNAME")
@click.option("--note", default="")
@as_option(required=True)
def statement_remark(
    statement_id: str,
    tlp: str,
    investigation_name: str | None,
    recipients: tuple[str, ...],
    note: str,
    as_: str,
) -> None:
    """Re-mark a statement: stricter by its organization, less strict by its author only."""
    from cyberatlas.knowledge import services

    with refusals():
        changed = services.remark(
            required_actor(as_),
            statement_id,
            tlp,
            investigation=investigation_name,
            recipients=recipients,
            note=note,
        )
    click.echo(f"{changed.pk} now {changed.marking_enum.label} (version {changed.version})")


@statement.command("retract")
@click.argument("statement_id")
@click.option("--note", default="", help="why it is withdrawn")
@as_option(required=True)
def statement_retract(statement_id: str, note: str, as_: str) -> None:
    """Withdraw a statement of your organization; its history is kept."""
    from cyberatlas.knowledge import services

    with refusals():
        services.retract(required_actor(as_), statement_id, note=note)
    click.echo(f"{statement_id} retracted")


@statement.command("history")
@click.argument("statement_id")
@format_option
@as_option(required=True)
def statement_history(statement_id: str, fmt: str, as_: str) -> None:
    """The versions of a statement that you may read."""
    from cyberatlas.knowledge import reads

    with refusals():
        versions = reads.history(required_actor(as_), statement_id)
    if fmt == "json":
        echo_json([asdict(v) for v in versions])
        return
    for v in versions:
        said = v.value if v.value is not None else v.object_id
        click.echo(
            f"v{v.number} {v.edited_at:%Y-%m-%d %H:%M} {v.change:10} {v.marking.label:16} "
            f"{said}  by {v.edited_by or 'system'}{'  ' + v.note if v.note else ''}"
        )


# -- reading ---------------------------------------------------------------------------------


@main.command()
@click.argument("entity")
@format_option
@as_option(required=True)
def show(entity: str, fmt: str, as_: str) -> None:
    """What a user may see of ENTITY: its label and each statement they may read."""
    from cyberatlas.knowledge import reads

    with refusals():
        view = reads.show_entity(required_actor(as_), entity)
    if fmt == "json":
        echo_json(asdict(view))
        return
    click.echo(f"{view.label}  ({view.id})")
    for s in view.statements:
        if s.other_id is None:
            said = f"{s.predicate}: {s.value}"
        elif s.direction == "out":
            said = f"{s.predicate} -> {s.other_label} ({s.other_id})"
        else:
            said = f"<- {s.predicate} of {s.other_label} ({s.other_id})"
        if s.other_id and s.value:
            said += f" [{s.value}]"
        click.echo(f"  {s.id}  {s.marking.label:16} {said}")
        click.echo(f"      by {s.organization}" + (f"  source {s.source}" if s.source else ""))


@main.command()
@click.argument("query")
@click.option("--limit", default=20, show_default=True)
@format_option
@as_option(required=True)
def search(query: str, limit: int, fmt: str, as_: str) -> None:
    """Find entities by the start of a key, name or alias, then by words of any property."""
    from cyberatlas.knowledge import entities

    with refusals():
        hits = entities.search(required_actor(as_), query, limit=limit)
    if fmt == "json":
        echo_json([asdict(h) for h in hits])
        return
    for hit in hits:
        click.echo(f"{hit.label:40} {hit.type:22} {hit.id}")


@main.command()
@click.option("--limit", default=50, show_default=True)
@as_option()
def audit(limit: int, as_: str | None) -> None:
    """Who read AMBER+STRICT or RED data, exported or released, and when (never the data)."""
    from cyberatlas.knowledge import audit as audit_log

    with refusals():
        events = audit_log.audit_log(actor(as_))[:limit]
    for e in events:
        click.echo(
            f"{e.at:%Y-%m-%d %H:%M:%S} {e.actor_name:20} {e.action:20} {e.markings} x{e.count}"
        )


def _exchange_commands() -> None:
    from cyberatlas.interop.commands import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_exchange_commands()
