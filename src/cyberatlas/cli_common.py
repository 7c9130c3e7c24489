"""What every command module shares: set-up, the acting user, refusals and output."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from cyberatlas.accounts.models import User

F = TypeVar("F", bound=Callable[..., Any])
TLP_CHOICES = ["clear", "green", "amber", "amber+strict", "red"]


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cyberatlas.settings")
    import django

    django.setup()
    from cyberatlas import writers

    writers.wait_as_a_command()


@contextmanager
def refusals() -> Iterator[None]:
    """Turn the services' refusals into a message and a non-zero exit."""
    from django.db import OperationalError

    from cyberatlas import writers
    from cyberatlas.errors import CyberatlasError

    try:
        yield
    except CyberatlasError as exc:
        raise click.ClickException(str(exc)) from None
    except OperationalError as exc:
        if not writers.is_busy(exc):
            raise
        raise click.ClickException(
            f"another process has been writing to the database for over "
            f"{writers.COMMAND_WAIT // 60} minutes (SQLite takes one writer at a time): "
            "try again when it is done"
        ) from None


def actor(username: str | None) -> User | None:
    if username is None:
        return None
    from cyberatlas.accounts import services

    with refusals():
        return services.user(username, field="as")


def as_option(required: bool = False) -> Callable[[F], F]:
    help_text = "the person performing the act" + ("" if required else " (default: the system)")
    return click.option("--as", "as_", metavar="USERNAME", required=required, help=help_text)


def format_option(f: F) -> F:
    return click.option(
        "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
    )(f)


def read_password() -> str:
    if sys.stdin.isatty():
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


def plain(value: object) -> object:
    """JSON-ready data: markings by their slug (``amber+strict``), times in ISO 8601."""
    from cyberatlas.core.tlp import Marking

    if isinstance(value, Marking):
        return value.slug
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def echo_json(data: object) -> None:
    click.echo(json.dumps(plain(data), indent=2, ensure_ascii=False))


def required_actor(as_: str) -> User:
    found = actor(as_)
    assert found is not None
    return found
