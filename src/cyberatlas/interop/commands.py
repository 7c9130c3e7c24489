"""The exchange commands: `cyberatlas import`, `cyberatlas export` and `cyberatlas match`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cyberatlas.cli_common import TLP_CHOICES, as_option, refusals, required_actor

if TYPE_CHECKING:
    from cyberatlas.interop.ingest import ImportSummary

FORMATS_IN = ["stix", "misp", "misp-galaxy", "csv", "text"]
FORMATS_OUT = ["stix", "misp", "csv"]


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS_IN), help="default: guessed")
@click.option(
    "--tlp",
    type=click.Choice(TLP_CHOICES, case_sensitive=False),
    help="marking for items the input leaves unmarked; raises lower ones",
)
@click.option("--investigation", "investigation_name", metavar="NAME")
@click.option("--recipient", "recipients", multiple=True, metavar="USERNAME")
@click.option("--mapping", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="CSV: which column means what")  # fmt: skip
@click.option("--strict", is_flag=True, help="any rejected item aborts the whole import")
@as_option(required=True)
def import_command(
    path: Path,
    fmt: str | None,
    tlp: str | None,
    investigation_name: str | None,
    recipients: tuple[str, ...],
    mapping: Path | None,
    strict: bool,
    as_: str,
) -> None:
    """Import PATH (STIX 2.1, MISP event or galaxy, CSV, text report) in one transaction.

    Item-level problems are reported and skipped (exit 0) unless --strict; file-level ones
    abort with nothing written (exit 1). Re-importing the same input creates no duplicates.
    """
    from cyberatlas import writers
    from cyberatlas.interop import ingest, plugins
    from cyberatlas.interop.records import FileError
    from cyberatlas.knowledge import services

    with refusals():
        actor = required_actor(as_)
        try:
            chosen = fmt or plugins.sniff(path)
            importer = plugins.importer(chosen)
            column_map = plugins.load_mapping(mapping) if mapping else None
            options = ingest.ImportOptions(
                tlp=services.parse_marking(tlp) if tlp else None,
                investigation=(
                    services.investigation_for_write(actor, investigation_name)
                    if investigation_name
                    else None
                ),
                recipients=services.recipients_by_name(recipients),
                strict=strict,
            )
            size = path.stat().st_size
            if writers.another_is_writing():
                click.echo(
                    "another process (an import?) is writing to the database: waiting for it "
                    f"to finish, at most {writers.COMMAND_WAIT // 60} minutes",
                    err=True,
                )
            with click.progressbar(
                length=size, label=f"importing {path.name} ({chosen})", file=sys.stderr
            ) as bar:
                summary = ingest.import_path(
                    actor,
                    path,
                    importer,
                    options=options,
                    mapping=column_map,
                    progress=bar.update,
                    separate_reader=True,  # a command: one thread, free to fork
                )
        except (FileError, OSError) as exc:
            raise click.ClickException(f"{path}: {exc}") from None
    _print_summary(summary)


def _print_summary(summary: ImportSummary) -> None:
    click.echo(
        f"{summary.filename} (sha256 {summary.sha256[:16]}…, {summary.format}): "
        f"{summary.created} created, {summary.merged} merged, {summary.unchanged} unchanged, "
        f"{summary.rejected} rejected"
    )
    for rejected in summary.rejections[:50]:
        click.echo(f"  rejected {rejected.location}: {rejected.reason}")
    if summary.rejected > 50:
        click.echo(f"  … and {summary.rejected - 50} more rejections")
    if summary.proposals:
        click.echo(
            f"{summary.proposals} possible matches to judge: `cyberatlas match list --as USERNAME`"
        )


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS_OUT), required=True)
@click.option("--investigation", "investigation_name", metavar="NAME")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="default: standard output")  # fmt: skip
@as_option(required=True)
def export_command(fmt: str, investigation_name: str | None, output: Path | None, as_: str) -> None:
    """Export what a user may read, each object marked with the strictest marking behind it."""
    from cyberatlas.interop import exports, plugins
    from cyberatlas.investigations import services as investigations

    with refusals():
        actor = required_actor(as_)
        investigation = (
            investigations.get(actor, investigation_name) if investigation_name else None
        )
        writer, _extension = plugins.exporter(fmt)
        records = exports.export_records(actor, investigation=investigation)
        if output is None:
            writer(records, sys.stdout, actor.organization.name if actor.organization else "")
            return
        with output.open("w", encoding="utf-8") as stream:
            writer(records, stream, actor.organization.name if actor.organization else "")
    click.echo(f"exported to {output}", err=True)


@click.group("match")
def match_group() -> None:
    """Possible matches between groups, malware or tools: judge them same, not-same or unsure."""


@match_group.command("list")
@as_option(required=True)
def match_list(as_: str) -> None:
    """Your open proposals, with why they were proposed."""
    from cyberatlas.interop import matching

    actor = required_actor(as_)
    proposals = list(matching.open_proposals(actor)[:200])
    shown = matching.labelled(actor, proposals)
    for p in proposals:
        click.echo(f"{p.pk:6}  {shown[p.left_id]} ~ {shown[p.right_id]}  ({p.reason})")
        click.echo(f"        {p.left_id}  {p.right_id}")


@match_group.command("judge")
@click.argument("proposal_id", type=int)
@click.argument("judgement", type=click.Choice(["same", "not-same", "unsure"]))
@click.option("--tlp", type=click.Choice(TLP_CHOICES, case_sensitive=False),
              help="default: the strictest marking the proposal rests on")  # fmt: skip
@click.option("--investigation", "investigation_name", metavar="NAME")
@click.option("--recipient", "recipients", multiple=True, metavar="USERNAME")
@as_option(required=True)
def match_judge(
    proposal_id: int,
    judgement: str,
    tlp: str | None,
    investigation_name: str | None,
    recipients: tuple[str, ...],
    as_: str,
) -> None:
    """Settle a proposal with a same-as statement."""
    from cyberatlas.interop import matching

    with refusals():
        done = matching.judge(
            required_actor(as_),
            proposal_id,
            judgement,
            tlp=tlp,
            investigation=investigation_name,
            recipients=recipients,
        )
    click.echo(f"judged {judgement}: statement {done.judgement_id}")


@match_group.command("undo")
@click.argument("proposal_id", type=int)
@as_option(required=True)
def match_undo(proposal_id: int, as_: str) -> None:
    """Retract a judgement; the proposal opens again."""
    from cyberatlas.interop import matching

    with refusals():
        matching.undo(required_actor(as_), proposal_id)
    click.echo(f"proposal {proposal_id} is open again")


COMMANDS = [import_command, export_command, match_group]
