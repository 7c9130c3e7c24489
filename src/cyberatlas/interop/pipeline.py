"""Reading an input in batches, optionally in a second process while this one writes.

Parsing, mapping and normalizing an object costs about as much as writing it, and both take
one core each; a large import therefore reads in a forked process (the reader) and sends
ready batches through a pipe to the process that holds the transaction (the writer). The
reader never touches the database: it parses, maps and normalizes, all pure code. At most
``LOOKAHEAD`` batches wait between the two, so memory stays bounded however large the input.

Each batch carries its claims prepared (``prepare.py``) and how far through the input the
reader is.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import io
import multiprocessing
import os
import pickle
import queue
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from multiprocessing.connection import Connection
from typing import Any, BinaryIO, cast

from .prepare import Prepared, Preparer
from .records import FileError, ImportContext, Importer

BATCH = 2000
LOOKAHEAD = 4  # batches the reader may be ahead of the writer


@dataclass
class Batch:
    prepared: Prepared
    position: int  # bytes of the input behind these records


class ReaderFailed(RuntimeError):
    """The reading process failed in a way that is not the input's fault."""


class _Tally:
    """How far through the input the reader is, in bytes."""

    def __init__(self) -> None:
        self.read = 0
        self.reached = 0

    def add(self, count: int) -> None:
        self.read += count

    def reach(self, position: int) -> None:
        self.reached = max(self.reached, position)

    @property
    def position(self) -> int:
        return max(self.read, self.reached)


class _Counted(io.RawIOBase):
    """A file that counts the bytes read through it. It still offers its descriptor and
    seeking, so a reader may map the file instead (and report its position itself)."""

    def __init__(self, raw: BinaryIO, count: Callable[[int], None]) -> None:
        self.raw = raw
        self.count = count

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        got = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        if got:
            self.count(got)
        return int(got or 0)

    def fileno(self) -> int:
        return self.raw.fileno()

    def seekable(self) -> bool:
        return self.raw.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()


def _read(
    importer: Importer, stream: BinaryIO, context: ImportContext, preparer: Preparer
) -> Iterator[Batch]:
    tally = _Tally()
    counted = cast(BinaryIO, io.BufferedReader(_Counted(stream, tally.add), 1 << 16))
    records = importer.read(counted, replace(context, position=tally.reach))
    while batch := list(islice(records, BATCH)):
        yield Batch(preparer.prepare(batch), tally.position)


def batches(
    importer: Importer,
    stream: BinaryIO,
    context: ImportContext,
    preparer: Preparer,
    *,
    separate_process: bool = False,
) -> Iterator[Batch]:
    """The input's records in batches, read here or, with ``separate_process``, by a forked
    reader process while the caller writes. A :class:`FileError` is raised here either way."""
    if not separate_process or "fork" not in multiprocessing.get_all_start_methods():
        yield from _read(importer, stream, context, preparer)
        return
    fork = multiprocessing.get_context("fork")
    receiving, sending = fork.Pipe(duplex=False)
    reader = fork.Process(
        target=_reader,
        args=(importer, stream, context, preparer, sending),
        name="cyberatlas-reader",
    )
    _forking(reader)
    sending.close()
    inbox = _Inbox(receiving)
    try:
        while True:
            message = inbox.get()
            if message is None:
                reader.join()
                raise ReaderFailed(
                    f"the reading process ended without finishing (exit code {reader.exitcode})"
                )
            kind, payload = pickle.loads(message)
            if kind == "batch":
                yield payload
            elif kind == "end":
                return
            elif kind == "file-error":
                reason, location = payload
                raise FileError(reason, location=location)
            else:
                raise ReaderFailed(f"the reading process failed:\n{payload}")
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()
        inbox.close()


def _forking(reader: multiprocessing.process.BaseProcess) -> None:
    """Start the reader with as little of this process's memory to copy as possible: freed
    memory goes back to the system first, and the objects that exist now are kept away from
    the reader's garbage collector, which would otherwise touch, and so copy, every page of
    them (the usual way to fork a large Python process)."""
    _release_free_memory()
    gc.disable()
    gc.freeze()
    try:
        reader.start()
    finally:
        gc.unfreeze()
        gc.enable()


def _release_free_memory() -> None:
    """glibc's ``malloc_trim``: give memory freed by earlier work (a page cache shrunk after
    an import, say) back to the system, so that a forked reader does not inherit it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _Inbox:
    """Receives the reader's messages on a thread, ``LOOKAHEAD`` of them ahead of the writer,
    so that neither process waits for the other at each batch. The pipe is read while the
    thread holds no lock (``recv_bytes`` releases the GIL); the writer unpickles."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=LOOKAHEAD)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._pump, name="cyberatlas-inbox", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        while not self.stopped.is_set():
            try:
                message: bytes | None = self.connection.recv_bytes()
            except (EOFError, OSError):
                message = None
            while not self.stopped.is_set():
                try:
                    self.queue.put(message, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if message is None:
                return

    def get(self) -> bytes | None:
        return self.queue.get()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.connection.close()


def _reader(
    importer: Importer,
    stream: BinaryIO,
    context: ImportContext,
    preparer: Preparer,
    out: Connection,
) -> None:
    """The reader process: everything but the database."""
    gc.enable()  # frozen objects stay out of its collections
    try:
        for batch in _read(importer, stream, context, preparer):
            out.send_bytes(_packed("batch", batch))
            # What lives on (the preparer's caches) leaves the sight of the full collections,
            # which otherwise walk it again and again: a fifth of the reader's time.
            gc.freeze()
        out.send_bytes(_packed("end", None))
    except FileError as exc:
        out.send_bytes(_packed("file-error", (exc.reason, exc.location)))
    except BaseException:
        out.send_bytes(_packed("crash", traceback.format_exc()))
    finally:
        out.close()
        os._exit(0)  # no atexit handlers, no finalizers: the database connection is the writer's


def _packed(kind: str, payload: object) -> bytes:
    return pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
