"""What importers yield and exporters receive: plain, immutable records, no database.

Importers are plugins: they read a file and yield :class:`Claim` (one statement to make) and
:class:`Rejected` (one item they could not take, with its location and reason). They never touch
the database; the ingest core (``interop/ingest.py``) normalizes, de-duplicates, stamps
provenance and marking, and writes everything in one transaction.

Exporters receive :class:`ExportStatement` records, already filtered by the access policy for
their reader, and write a file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from cyberatlas.core.tlp import Marking


class FileError(ValueError):
    """The whole input is unusable (unreadable, not the format, no marking and no --tlp)."""

    def __init__(self, reason: str, *, location: str = "") -> None:
        super().__init__(f"{location}: {reason}" if location else reason)
        self.reason = reason
        self.location = location


@dataclass(frozen=True)
class Ref:
    """An entity as an input names it.

    - observables: ``type`` and the raw ``value`` (normalized by the core; may be defanged);
    - domain objects: ``type`` and a ``stix_id`` when the input gives one (kept, so that
      re-importing finds the same entity), and/or a ``name`` (looked up through the names the
      importing user may read when there is no ``stix_id``).
    """

    type: str
    value: str | None = None
    stix_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Claim:
    """One statement an input makes, with the provenance the input gives for it."""

    location: str  # where in the input: "line 7", "objects[12] indicator--…", "Attribute 3f2…"
    subject: Ref
    predicate: str
    value: str | None = None  # a literal, for a property (or a same-as judgement)
    object: Ref | None = None  # an entity, for a relationship
    marking: Marking | None = None  # as marked in the input; None: the input's default
    confidence: int | None = None
    source: str = ""  # URL or reference for this item (external reference, MISP event…)
    original_source: str = ""  # who published it (STIX created_by_ref, MISP Orgc)
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    modified: dt.datetime | None = None  # the input's version of this item (STIX modified)
    terms: tuple[str, ...] = ()  # other marking definitions (statements of terms…), kept as is
    source_grade: str = ""  # Admiralty A-F
    information_grade: str = ""  # Admiralty 1-6


@dataclass(frozen=True)
class Rejected:
    """One item an importer could not take; the rest of the input goes on."""

    location: str
    reason: str


Record = Claim | Rejected


@dataclass(frozen=True)
class ImportContext:
    """What an importer may know beyond its input."""

    filename: str = ""
    mapping: Mapping[str, str] = field(default_factory=dict)  # CSV: column -> meaning
    # A reader that does not read the stream front to back (STIX maps the file) may say here
    # how many bytes of the input lie behind what it has yielded, for progress bars.
    position: Callable[[int], None] | None = None


class Importer(Protocol):
    """An importer plugin. ``read`` yields records; it raises :class:`FileError` for a file
    it cannot take as a whole. ``default_marking`` is what the input says applies to items
    without their own (or None when the input says nothing)."""

    name: str
    media_types: tuple[str, ...]

    def read(self, stream: BinaryIO, context: ImportContext) -> Iterator[Record]: ...

    def default_marking(self) -> Marking | None: ...


@dataclass(frozen=True)
class ExportEntity:
    id: str
    type: str
    key: str  # the observable's normalized value; "" for domain objects
    label: str
    marking: Marking  # the strictest marking of the statements that show it to the reader


@dataclass(frozen=True)
class ExportStatement:
    """One statement as its reader may read it."""

    id: str
    subject: ExportEntity
    predicate: str
    value: str | None
    object: ExportEntity | None
    marking: Marking
    organization: str
    source: str
    confidence: int | None
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    created: dt.datetime
    modified: dt.datetime
