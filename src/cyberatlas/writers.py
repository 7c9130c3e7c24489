"""One writer at a time on SQLite: how long the others wait for it, and what they are told.

An import writes in one transaction, for minutes when the input is large, and SQLite lets one
transaction write at a time. Pages and API calls that write wait for the database as long as
the ``timeout`` of the connection settings says (``CYBERATLAS_SQLITE_WAIT``, 20 seconds by
default), then answer 503 with ``Retry-After``; commands wait ``COMMAND_WAIT`` seconds, an
import saying that it waits, then refuse with the reason.
PostgreSQL writers do not take the whole database, and none of this applies to them.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from django.db import OperationalError, connections
from django.db.backends.signals import connection_created

COMMAND_WAIT = 600  # seconds
RETRY_AFTER = 30  # seconds, as a 503 tells the client


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite giving up waiting for another writer."""
    return isinstance(exc, OperationalError | sqlite3.OperationalError) and (
        "database is locked" in str(exc)
    )


def _wait_long(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {COMMAND_WAIT * 1000}")


def wait_as_a_command() -> None:
    """This process is a command: the SQLite connections it opens from now on wait
    ``COMMAND_WAIT`` seconds for another writer, not a request's few."""
    connection_created.connect(_wait_long, dispatch_uid="cyberatlas.writers.wait_long")


def another_is_writing(alias: str = "default") -> bool:
    """Whether another connection holds SQLite's write lock now (never, on PostgreSQL)."""
    found = connections[alias]
    name = str(found.settings_dict["NAME"])
    if found.vendor != "sqlite" or name == ":memory:" or "mode=memory" in name:
        return False
    probe = sqlite3.connect(name, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            return True
        raise
    finally:
        probe.close()


def wait_as_a_request() -> None:
    """This process serves requests after all (``cyberatlas serve``): new connections wait
    as the settings say; those open now, which waited as a command's, close."""
    connection_created.disconnect(dispatch_uid="cyberatlas.writers.wait_long")
    connections.close_all()
