"""Read-only queries run side by side on PostgreSQL, each on a connection of its own.

A TAXII page asks the database several questions that do not depend on one another. Asked one
after the other, the serving process waits on each answer while the database works on one core;
asked together, the database answers on both cores. The caller's thread runs the first query
itself and a small pool of reading threads runs the others, each thread on its own persistent
connection (opened once, kept for ``CONN_MAX_AGE`` as any other).

The queries run one after the other on the caller's connection where side by side would be
wrong or gain nothing: inside a transaction (other connections would not see its writes, nor
share its snapshot), on SQLite (one writer process, reads that are already fast), and with
``CYBERATLAS_READ_THREADS=0``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

T = TypeVar("T")

_THREADS = int(os.environ.get("CYBERATLAS_READ_THREADS", "2"))
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_opened: set[BaseDatabaseWrapper] = set()  # the reading threads' connections


def run(alias: str, tasks: Sequence[Callable[[], T]]) -> list[T]:
    """The results of ``tasks`` (functions that only read from database ``alias``), in order."""
    connection = connections[alias]
    if (
        len(tasks) < 2
        or _THREADS < 1
        or connection.vendor != "postgresql"
        or connection.in_atomic_block
    ):
        return [task() for task in tasks]
    pool = _executor()
    futures: list[Future[T]] = [pool.submit(_on_own_connection, alias, task) for task in tasks[1:]]
    try:
        first = tasks[0]()
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return [first, *(future.result() for future in futures)]


def close_all() -> None:
    """Close the reading threads' connections (before a test database is dropped, say); they
    open again when next needed."""
    with _lock:
        opened = list(_opened)
        _opened.clear()
    for connection in opened:
        connection.close()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="cyberatlas-reader")
        return _pool


def _on_own_connection(alias: str, task: Callable[[], Any]) -> Any:
    connection = connections[alias]
    # As Django does between requests: drop a connection that broke or outlived its age.
    connection.close_if_unusable_or_obsolete()
    if connection not in _opened:
        # So that close_all may close it from another thread.
        connection.inc_thread_sharing()
        with _lock:
            _opened.add(connection)
    return task()
