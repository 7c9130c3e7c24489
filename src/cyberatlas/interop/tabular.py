"""CSV importer with a column mapping, and the CSV exporter that it reads back.

Each column of a CSV has a *meaning*. The header may use meanings directly (``type,value,
predicate,object,tlp,source``, or the header :func:`write_csv` writes); otherwise a mapping file
(``--mapping FILE``, read by :func:`load_mapping`) gives them, one ``column = meaning`` per line
(``#`` starts a comment) or as a JSON object ``{"column": "meaning"}``::

    # ransomware-wallets.csv: group,wallet,chain,seen,marking,notes
    group   = threat-actor
    wallet  = receives-payment-via:cryptocurrency-wallet
    chain   = ignore
    seen    = first-seen
    marking = tlp
    notes   = description

Meanings (``_`` and ``-`` are the same; case does not matter):

- the subject: an entity type (``domain-name``, ``ipv4-addr``, ``cryptocurrency-wallet``,
  ``threat-actor``…: the column holds the value or name), or ``subject`` with ``subject-type``
  (the type per row; without it a cell may say ``type:value``, as in ``domain-name:evil.com``),
  and ``subject-id`` (a STIX id for a domain object). With ``subject-type`` and no ``subject``
  column, a ``value`` column holds the subject (the ``type,value,...`` layout).
- one statement per row: ``predicate`` with ``value`` (a literal) or ``object`` + ``object-type``
  / ``object-id`` (an entity; ``type:value`` cells also work). Without a ``value`` column, a
  property's literal is read from ``object``.
- more statements about the subject: any property predicate (``name``, ``alias``,
  ``description``, ``country``, ``chain``, ``label``…) makes one claim per non-empty cell;
  ``RELATIONSHIP:TYPE`` (``hosted-on:ipv4-addr``) one relationship to the cell's entity.
- provenance: ``source``, ``original-source`` (``organization``), ``confidence`` (0-100),
  ``first-seen``, ``last-seen``, ``modified`` (ISO 8601 or Unix seconds), ``tlp``.
- ``ignore``. A column with no meaning is an error: nothing is dropped silently.

A row that yields no statement but names a subject says the subject is in this file:
``observed-in`` with the file name. Each rejected row is ``Rejected("line N", reason)``.

The input is UTF-8 (a BOM is fine), streamed through the ``csv`` module; the delimiter (``,``
``;`` tab ``|``) is taken from the header line. Invalid UTF-8, broken quoting, NUL bytes and
lines over 1 MiB are :class:`FileError` with their line.

The exporter escapes cells that a spreadsheet would run as a formula (leading ``= + - @``) with
a ``'``, as OWASP recommends; the importer removes that quote again, so exports round-trip.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from cyberatlas.core import predicates
from cyberatlas.core.observables import OBSERVABLE_TYPES
from cyberatlas.core.references import DOMAIN_TYPES, ENTITY_TYPES
from cyberatlas.core.tlp import Marking

from .records import (
    Claim,
    ExportEntity,
    ExportStatement,
    FileError,
    ImportContext,
    Record,
    Ref,
    Rejected,
)
from .text import utf8_pieces

__all__ = ["EXPORT_COLUMNS", "CsvImporter", "load_mapping", "write_csv"]

EXPORT_COLUMNS = (
    "subject_id",
    "subject_type",
    "subject",
    "predicate",
    "value",
    "object_id",
    "object_type",
    "object",
    "tlp",
    "organization",
    "source",
    "confidence",
    "first_seen",
    "last_seen",
    "modified",
)
_FIXED = frozenset(
    {
        "subject",
        "subject-type",
        "subject-id",
        "predicate",
        "value",
        "object",
        "object-type",
        "object-id",
        "source",
        "original-source",
        "confidence",
        "first-seen",
        "last-seen",
        "modified",
        "tlp",
        "ignore",
    }
)
_ALIASES = {
    "type": "subject-type",
    "organization": "original-source",
    "organisation": "original-source",
    "marking": "tlp",
}
_MAX_LINE = 1 << 20
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _canonical(meaning: str) -> str | None:
    """The canonical form of a meaning, or None when it means nothing known."""
    text = meaning.strip().lower().replace("_", "-")
    text = _ALIASES.get(text, text)
    if text in _FIXED or (text in ENTITY_TYPES and text in DOMAIN_TYPES | OBSERVABLE_TYPES):
        return text
    name, sep, type_ = text.partition(":")
    try:
        predicate = predicates.get(name)
    except KeyError:
        return None
    if sep:  # RELATIONSHIP:TYPE
        return text if predicate.relationship and type_ in ENTITY_TYPES else None
    return text  # a property, or a relationship whose cells say type:value


def _meanings_help() -> str:
    return (
        "an entity type, subject, subject-type, subject-id, predicate, value, object, "
        "object-type, object-id, source, original-source, confidence, first-seen, last-seen, "
        "modified, tlp, ignore, a predicate, or RELATIONSHIP:TYPE"
    )


def load_mapping(path: Path | str) -> dict[str, str]:
    """Read a mapping file (``column = meaning`` lines or a JSON object); FileError if bad."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileError(f"cannot read the mapping {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(
            f"the mapping is not UTF-8 (byte offset {exc.start})", location=path.name
        ) from None
    entries: list[tuple[str, str, str]] = []  # (location, column, meaning)
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise FileError(f"the mapping is not valid JSON: {exc}", location=path.name) from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise FileError('expected {"column": "meaning", …}', location=path.name)
        entries = [(f"{path.name} key {k!r}", k, v) for k, v in data.items()]
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            content = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if not content:
                continue
            column, sep, meaning = content.rpartition("=")
            if not sep or not column.strip() or not meaning.strip():
                raise FileError(
                    "expected 'column = meaning'", location=f"{path.name} line {number}"
                )
            entries.append((f"{path.name} line {number}", column, meaning))
    mapping: dict[str, str] = {}
    for location, column, meaning in entries:
        canonical = _canonical(meaning)
        if canonical is None:
            raise FileError(
                f"unknown meaning {meaning.strip()!r}; expected {_meanings_help()}",
                location=location,
            )
        if column.strip() in mapping:
            raise FileError(f"column {column.strip()!r} is mapped twice", location=location)
        mapping[column.strip()] = canonical
    if not mapping:
        raise FileError("the mapping maps no column", location=path.name)
    _Layout.build(list(mapping), mapping, location=path.name)  # structure errors early
    return mapping


@dataclass
class _Layout:
    """Which cell index holds what."""

    fixed: dict[str, int] = field(default_factory=dict)
    subject_type: str | None = None  # the entity type of a typed subject column
    properties: list[tuple[int, str]] = field(default_factory=list)
    relationships: list[tuple[int, str, str]] = field(default_factory=list)

    @classmethod
    def build(cls, header: list[str], mapping: Mapping[str, str], *, location: str) -> _Layout:
        layout = cls()
        subjects: list[str] = []
        for index, column in enumerate(header):
            meaning = mapping[column]
            if meaning == "ignore":
                continue
            if meaning in _FIXED:
                if meaning in layout.fixed:
                    raise FileError(f"two columns mean {meaning!r}", location=location)
                layout.fixed[meaning] = index
                if meaning == "subject":
                    subjects.append(column)
            elif meaning in ENTITY_TYPES:
                layout.fixed["subject"] = index
                layout.subject_type = meaning
                subjects.append(column)
            elif ":" in meaning or predicates.get(meaning).relationship:
                name, _, type_ = meaning.partition(":")
                layout.relationships.append((index, name, type_))
            else:
                layout.properties.append((index, meaning))
        if len(subjects) > 1:
            raise FileError(
                f"several subject columns ({', '.join(subjects)}); map the others as "
                "RELATIONSHIP:TYPE (e.g. resolves-to:ipv4-addr) or a property",
                location=location,
            )
        fixed = layout.fixed
        if not subjects and "subject-type" in fixed and "value" in fixed:
            fixed["subject"] = fixed.pop("value")  # "type,value,predicate,object"
        if "subject" not in fixed and "subject-id" not in fixed:
            raise FileError(
                "no subject column: map one column to an entity type or to 'subject'",
                location=location,
            )
        return layout


def _unescape(cell: str) -> str:
    cell = cell.strip()
    if cell.startswith("'") and cell[1:2] in _FORMULA and cell[1:2]:
        return cell[1:]
    return cell


def _when(text: str) -> dt.datetime:
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text), tz=dt.UTC)
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class _RowError(Exception):
    pass


def _entity(type_: str, cell: str, stix_id: str) -> Ref:
    """A Ref for a cell; ``type_`` empty: the cell says ``type:value``."""
    if not type_:
        written, sep, cell = cell.partition(":")
        type_ = written.strip().lower()
        if not sep:
            raise _RowError(f"{written!r} has no type: give a type column or write 'type:value'")
    if type_ not in ENTITY_TYPES:
        raise _RowError(f"unknown entity type {type_!r}")
    cell = cell.strip()
    if type_ in OBSERVABLE_TYPES:
        if not cell:
            raise _RowError(f"an empty {type_}")
        return Ref(type_, value=cell)
    if type_ in DOMAIN_TYPES:
        if not cell and not stix_id:
            raise _RowError(f"a {type_} needs a name or an id")
        return Ref(type_, stix_id=stix_id or None, name=cell or None)
    if not stix_id:
        raise _RowError(f"a {type_} can only be named by its STIX id")
    return Ref(type_, stix_id=stix_id, value=cell or None)


def _lines(stream: BinaryIO) -> Iterator[str]:
    parts: list[str] = []
    size = 0
    for line, piece, ends in utf8_pieces(stream):
        parts.append(piece)
        size += len(piece)
        if size > _MAX_LINE:
            raise FileError(f"line longer than {_MAX_LINE:,} characters", location=f"line {line}")
        if ends:
            yield "".join(parts) + "\n"
            parts, size = [], 0
    if parts:
        yield "".join(parts)


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvImporter:
    """Rows of a CSV as claims (see the module docstring for the mapping)."""

    name = "csv"
    media_types: tuple[str, ...] = ("text/csv",)

    def default_marking(self) -> Marking | None:
        return None  # a CSV marks rows only through a tlp column: otherwise --tlp

    def read(self, stream: BinaryIO, context: ImportContext) -> Iterator[Record]:
        lines = _lines(stream)
        skipped = 0  # blank lines before the header: csv's line numbers start after them
        first = next(lines, None)
        while first is not None and not first.strip():
            skipped += 1
            first = next(lines, None)
        if first is None:
            raise FileError("empty input: no header row", location="line 1")
        reader = csv.reader(
            itertools.chain([first], lines), delimiter=_delimiter(first), strict=True
        )
        header = [cell.strip() for cell in self._row(reader, skipped + 1) or []]
        layout = _Layout.build(header, self._mapping(header, context), location="header")
        title = context.filename or "CSV import"
        start = skipped + reader.line_num + 1  # where the next record starts
        while True:
            row = self._row(reader, start)
            if row is None:
                return
            location = f"line {start}"
            start = skipped + reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                yield Rejected(location, f"{len(row)} cells but the header has {len(header)}")
                continue
            cells = [_unescape(cell) for cell in row] + [""] * (len(header) - len(row))
            try:
                yield from self._claims(layout, cells, location, title)
            except _RowError as exc:
                yield Rejected(location, str(exc))

    @staticmethod
    def _row(reader: Iterator[list[str]], start: int) -> list[str] | None:
        try:
            return next(reader, None)
        except csv.Error as exc:
            message = str(exc)
            if "unexpected end of data" in message:
                message = "a quoted field is never closed"
            raise FileError(f"broken CSV: {message}", location=f"line {start}") from None

    @staticmethod
    def _mapping(header: list[str], context: ImportContext) -> dict[str, str]:
        if len(set(header)) != len(header):
            twice = sorted({c for c in header if header.count(c) > 1})
            raise FileError(f"columns named twice: {', '.join(twice)}", location="header")
        if context.mapping:
            missing = [c for c in context.mapping if c not in header]
            if missing:
                raise FileError(
                    f"the mapping names columns the header lacks: {', '.join(missing)}",
                    location="header",
                )
            unmapped = [c for c in header if c not in context.mapping]
            if unmapped:
                raise FileError(
                    f"columns without a meaning: {', '.join(unmapped)} (map them, or to ignore)",
                    location="header",
                )
            mapping = {}
            for column in header:
                canonical = _canonical(context.mapping[column])
                if canonical is None:
                    raise FileError(
                        f"unknown meaning {context.mapping[column]!r} for {column!r}",
                        location="header",
                    )
                mapping[column] = canonical
            return mapping
        mapping, unknown = {}, []
        for column in header:
            canonical = _canonical(column)
            if canonical is None:
                unknown.append(column)
            else:
                mapping[column] = canonical
        if unknown:
            raise FileError(
                f"columns with no known meaning: {', '.join(unknown)}; give a --mapping "
                f"(meanings: {_meanings_help()})",
                location="header",
            )
        return mapping

    @staticmethod
    def _claims(layout: _Layout, cells: list[str], location: str, title: str) -> Iterator[Claim]:
        fixed = layout.fixed

        def cell(meaning: str) -> str:
            index = fixed.get(meaning)
            return cells[index] if index is not None else ""

        subject_type = layout.subject_type or cell("subject-type").lower()
        subject_cell = cell("subject")
        if not subject_cell and not cell("subject-id"):
            raise _RowError("no subject")
        subject = _entity(subject_type, subject_cell, cell("subject-id"))
        provenance = _provenance(cell)
        claims: list[Claim] = []
        predicate_name = cell("predicate")
        if predicate_name:
            try:
                predicate = predicates.get(predicate_name)
            except KeyError:
                raise _RowError(f"unknown predicate {predicate_name!r}") from None
            if predicate.relationship:
                if not cell("object") and not cell("object-id"):
                    raise _RowError(f"the {predicate.name!r} relationship needs an object")
                obj = _entity(cell("object-type").lower(), cell("object"), cell("object-id"))
                value = cell("value") or None
                claims.append(Claim(location, subject, predicate.name, value, obj, **provenance))
            else:
                literal = cell("value") if "value" in fixed else cell("object")
                if not literal:
                    raise _RowError(f"the {predicate.name!r} property needs a value")
                claims.append(Claim(location, subject, predicate.name, literal, **provenance))
        for index, name in layout.properties:
            if cells[index]:
                claims.append(Claim(location, subject, name, cells[index], **provenance))
        for index, name, type_ in layout.relationships:
            if cells[index]:
                obj = _entity(type_, cells[index], "")
                claims.append(Claim(location, subject, name, object=obj, **provenance))
        if not claims:
            claims.append(Claim(location, subject, "observed-in", title, **provenance))
        yield from claims


def _provenance(cell: Callable[[str], str]) -> dict[str, Any]:
    out: dict[str, Any] = {"source": cell("source"), "original_source": cell("original-source")}
    if marking := cell("tlp"):
        try:
            out["marking"] = Marking.parse(marking)
        except ValueError as exc:
            raise _RowError(str(exc)) from None
    if confidence := cell("confidence"):
        try:
            number = int(confidence)
        except ValueError:
            raise _RowError(f"confidence {confidence!r} is not a whole number") from None
        if not 0 <= number <= 100:
            raise _RowError(f"confidence {number} is not between 0 and 100")
        out["confidence"] = number
    for meaning, key in (
        ("first-seen", "first_seen"),
        ("last-seen", "last_seen"),
        ("modified", "modified"),
    ):
        if text := cell(meaning):
            try:
                out[key] = _when(text)
            except (ValueError, OverflowError, OSError):
                raise _RowError(f"{meaning} {text!r} is not an ISO 8601 date") from None
    return out


# --- export --------------------------------------------------------------------------------


def _escape(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: quote them."""
    return "'" + value if value.startswith(_FORMULA) else value


def _shown(entity: ExportEntity) -> str:
    return entity.key or entity.label


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def write_csv(
    statements: Iterable[ExportStatement], stream: TextIO, _organization: str = ""
) -> None:
    """Write statements as CSV (``EXPORT_COLUMNS``) to a text stream.

    Open the stream with ``newline=""``. :class:`CsvImporter` reads the file back as is. The
    third argument (the exporting organization, which the export command passes to every
    writer) is not needed: each row names the statement's organization.
    """
    writer = csv.writer(stream)
    writer.writerow(EXPORT_COLUMNS)
    for s in statements:
        obj = s.object
        row = [
            s.subject.id,
            s.subject.type,
            _shown(s.subject),
            s.predicate,
            s.value or "",
            obj.id if obj else "",
            obj.type if obj else "",
            _shown(obj) if obj else "",
            s.marking.label,
            s.organization,
            s.source,
            "" if s.confidence is None else str(s.confidence),
            _iso(s.first_seen),
            _iso(s.last_seen),
            _iso(s.modified),
        ]
        writer.writerow([_escape(cell) for cell in row])
