"""STIX 2.1 import and export (OASIS STIX 2.1 OS, written "STIX §x" in comments).

Public interface: :class:`StixImporter` (the ``stix`` importer plugin), :func:`export_stix` and
:func:`write_stix` (the exporter, in ``stix_export``). The mapping of one object is in
``stix_import``; this module reads the file.

Import mapping (every claim of an object carries its marking, ``created_by_ref`` as original
source, confidence, first external-reference url as source, ``modified``, and first/last seen):

===========================================  ====================================================
STIX                                         claims
===========================================  ====================================================
SCO the core normalizes (domain-name,        subject ``Ref(type, value=…)``: value; user-account
ipv4/ipv6-addr, url, email-addr, mac-addr,   ``account_type:account_login``; autonomous-system
user-account, autonomous-system, file,       its number; file (SHA-256 > SHA-512 > SHA-1 > MD5)
x509-certificate, OpenCTI's hostname,        and x509 (SHA-256 > SHA-1) a hash; OpenCTI ``value``
cryptocurrency-wallet, bank-account,         / ``iban``. ``observed-in`` = file name or bundle
phone-number, also ``x-opencti-*``)          id; AS and file ``name`` -> name; ``display_name``
                                             -> alias
opaque SCO (network-traffic, process,        ``Ref(type, stix_id, value=summary)`` such as
email-message, software, artifact, mutex,    ``203.0.113.5:443/tcp`` + observed-in
directory, windows-registry-key)
SCO embedded refs                            domain ``resolves_to_refs`` -> resolves-to; IP
                                             ``belongs_to_refs`` and email ``belongs_to_ref`` ->
                                             belongs-to; traffic ``dst_ref`` -> communicates-with;
                                             any other ``*_ref(s)`` -> related-to
SDO (every STIX §4 type)                     ``Ref(type, stix_id)``; name (note: abstract,
                                             malware-analysis: product), description (note:
                                             content, opinion: explanation), aliases -> alias,
                                             labels and ``*_types`` -> label, roles -> role,
                                             country -> country, sophistication / resource_level
                                             / motivations / identity_class / sectors / region
                                             -> label ``sophistication:expert`` etc.
SDO first_seen/last_seen, indicator          the claims' first/last seen
valid_from, report published,
observed-data first/last_observed
external_references                          external_id -> external-id ``source_name:id``
                                             (its url as that claim's source)
indicator                                    pattern -> pattern; a STIX pattern's equality
                                             comparisons of identifying properties -> based-on
                                             the observable
report, grouping, note, opinion,             object_refs -> refers-to; opinion -> label;
observed-data                                number_observed -> sightings
malware sample_refs, malware-analysis        related-to; sample_ref -> analysis-of
refs
relationship                                 source relationship_type target (a registered
                                             relationship predicate, else rejected);
                                             start/stop_time -> first/last seen
sighting                                     sighting_of sighted-at each where_sighted; count
                                             (or 1 without where_sighted) -> sightings
object_marking_refs, granular_markings       TLP 1.0/2.0 ids, in-bundle ``tlp`` definitions,
                                             the TLP 2.0 extension, OpenCTI TLP definitions ->
                                             the strictest Marking (WHITE = CLEAR); other
                                             definitions -> terms (statement text, name or id)
marking-definition, extension-definition     consumed, no claims
===========================================  ====================================================

Reading is streamed, in three passes over one buffer (a real file is memory-mapped, so it is never
copied into Python memory):

1. ``_Scanner`` walks the JSON structure and records where each item of ``objects`` starts and
   ends, parsing one item at a time with orjson; ``ObjectIndex`` keeps what objects need to know
   about each other (marking definitions, identity names, SCO values), a few strings per id.
2. Every object's describing claims (its properties, ``observed-in`` for SCOs), and its links
   that name entities by value only (a pattern's observables, SCO-to-SCO refs): the core
   creates those whatever their order.
3. Every SRO, and every embedded link that names an object by its id. The ingest core resolves
   an identifier that a relationship names only if an earlier claim described it, so these come
   after all descriptions, whatever the order of the bundle (pass 3 re-parses only the objects
   that have such links).

Passes 1 and 2 run together where that gives the same claims: an object is described as soon as
pass 1 has read it, unless describing it asked the index about an id that pass 1 had not reached
yet (a ``created_by_ref`` identity further on, say), in which case it waits for the end of pass
1. An id the bundle holds twice (versions of an identity) keeps the version read first once an
object has used it. A bundle whose ``type`` comes after its ``objects`` is read in the two passes
one after the other. A large import's reader thus sends its first claims at once rather than
after reading the whole file.

Broken JSON raises :class:`FileError` with line and column; claims read before it may have been
yielded already (an import is one transaction, so none of them is kept).
"""

from __future__ import annotations

import contextlib
import io
import mmap
import re
from array import array
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

import orjson

from cyberatlas.core.observables import OBSERVABLE_TYPES
from cyberatlas.core.references import OPAQUE_OBSERVABLE_TYPES
from cyberatlas.core.tlp import Marking

from .records import FileError, ImportContext, Record
from .stix_export import export_stix, stix_objects, write_stix
from .stix_import import (
    KNOWN_MARKINGS,
    SRO_TYPES,
    TLP2_EXTENSION,
    Bad,
    Obj,
    ObjectMapper,
    canonical_type,
    get_str,
    sco_value,
    summary,
)

__all__ = ["StixImporter", "export_stix", "stix_objects", "write_stix"]

# --- pass 1: the index ----------------------------------------------------------------------------


class Probe:
    """While pass 1 reads ahead of pass 2: whether a look-up missed (``missed``), and the ids
    looked up and found (``found``), whose entries then stay as they were."""

    def __init__(self) -> None:
        self.reading = True
        self.missed = False
        self.found: set[Any] = set()


class _Probed(dict):  # type: ignore[type-arg]
    """One of the index's dicts while pass 1 reads: a key it lacks may be further on, which
    ``probe`` notes. Only the look-ups the mapper makes are watched."""

    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def get(self, key: Any, default: Any = None) -> Any:
        probe = self.probe
        if dict.__contains__(self, key):
            if probe.reading:
                probe.found.add(key)
            return self[key]
        if probe.reading:
            probe.missed = True
        return default

    def __contains__(self, key: object) -> bool:
        found = dict.__contains__(self, key)
        if self.probe.reading:
            if found:
                self.probe.found.add(key)
            else:
                self.probe.missed = True
        return found

    def keep(self, key: Any, value: Any) -> None:
        """Set ``key``, unless an object described already read it: an id the input holds twice
        (versions of an identity, say) is then known by the version read first throughout."""
        if not (self.probe.reading and key in self.probe.found and dict.__contains__(self, key)):
            self[key] = value


class ObjectIndex:
    """What objects say about each other, by id: a few strings each, never whole objects. Its
    look-ups are watched (``probe``) while pass 1 reads ahead of pass 2."""

    def __init__(self) -> None:
        self.probe = Probe()
        self.markings = _Probed(self.probe)  # id -> TLP Marking, or terms text
        self.identities = _Probed(self.probe)  # identity id -> name
        self.values = _Probed(self.probe)  # SCO id -> (type, value)
        self.opaque = _Probed(self.probe)  # opaque SCO id -> (type, summary)

    def settled(self) -> bool:
        """Whether what the look-ups so far found is final: pass 1 has read everything, or
        none of them missed."""
        return not self.probe.reading or not self.probe.missed

    def done(self) -> None:
        """Pass 1 has read everything."""
        self.probe.reading = False
        self.probe.found.clear()

    def add(self, obj: Any) -> None:
        if obj is None:
            self.markings.clear()
            self.identities.clear()
            self.values.clear()
            self.opaque.clear()
            return
        if not isinstance(obj, dict):
            return
        stix_id, type_ = obj.get("id"), obj.get("type")
        if not isinstance(stix_id, str) or not isinstance(type_, str):
            return
        type_ = canonical_type(type_)
        try:
            if type_ == "marking-definition":
                self.markings.keep(stix_id, marking_definition(obj))
            elif type_ == "identity" and (name := get_str(obj, "name")):
                self.identities.keep(stix_id, name)
            elif type_ in OBSERVABLE_TYPES and (value := sco_value(obj, type_)):
                self.values.keep(stix_id, (type_, value))
            elif type_ in OPAQUE_OBSERVABLE_TYPES:
                self.opaque.keep(stix_id, (type_, summary(obj, type_)))
        except Bad:
            pass  # pass 2 rejects the object with the reason


def marking_definition(obj: Obj) -> Marking | str:
    """STIX §7.2: a TLP marking (1.0 "tlp" definitions, the TLP 2.0 extension, OpenCTI's
    "TLP" definitions) or anything else, kept as terms: a statement's text, else its name."""
    stix_id = str(obj.get("id", ""))
    if stix_id in KNOWN_MARKINGS:
        return KNOWN_MARKINGS[stix_id]
    definition = _mapping(obj.get("definition"))
    candidates: list[object] = []
    if str(obj.get("definition_type", "")).lower() == "tlp":
        candidates += [definition.get("tlp"), definition.get("TLP"), obj.get("name")]
    candidates.append(_mapping(_mapping(obj.get("extensions")).get(TLP2_EXTENSION)).get("tlp_2_0"))
    if str(obj.get("x_opencti_definition_type", "")).upper() == "TLP":
        candidates.append(obj.get("x_opencti_definition"))
    for candidate in candidates:
        if isinstance(candidate, str):
            with contextlib.suppress(ValueError):
                return Marking.parse(candidate)
    for text in (definition.get("statement"), obj.get("name"), definition.get("TLP")):
        if isinstance(text, str) and text.strip():
            return " ".join(text.split())
    return stix_id


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- JSON scanning -------------------------------------------------------------------------------

_WS = re.compile(rb"[ \t\n\r]*")
_PROBE = 4096
_ITEM_END = re.compile(rb"\}[ \t\n\r]*[,\]]")
_CONTENT_AFTER = "unexpected content after document"
_OPEN_BRACE, _OPEN_BRACKET, _CLOSE_BRACE, _CLOSE_BRACKET = 0x7B, 0x5B, 0x7D, 0x5D
_COMMA, _COLON, _QUOTE = 0x2C, 0x3A, 0x22


class _Scanner:
    """Finds JSON values in a buffer without parsing more than one item at a time.

    orjson parses a window starting at a value; when the window holds more than the value, orjson
    stops with "unexpected content after document" at the value's end, which is how the end is
    found (then the exact span is parsed). A window too short for the value is widened (x4, so
    the total work stays linear). orjson's depth limit (1024) makes absurd nesting a clean error.
    """

    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.size = len(buf)

    def ws(self, pos: int) -> int:
        match = _WS.match(self.buf, pos)
        assert match is not None  # "*" always matches
        return match.end()

    def at(self, pos: int) -> int:
        return self.buf[pos] if pos < self.size else -1

    def value(self, pos: int) -> tuple[Any, int]:
        """The JSON value that starts at ``pos`` and the offset just after it."""
        if self.at(pos) == _OPEN_BRACE:
            # Most items end at the first "}" followed by "," or "]": one parse, no exception.
            # A shorter prefix that parses is the whole value (a JSON value ends where it ends).
            found = _ITEM_END.search(self.buf, pos, pos + _PROBE)
            if found is not None:
                with contextlib.suppress(orjson.JSONDecodeError):
                    return orjson.loads(self.buf[pos : found.start() + 1]), found.start() + 1
        window = _PROBE
        while True:
            end = self._boundary(min(self.size, pos + window), pos)
            try:
                return orjson.loads(self.buf[pos:end]), end
            except orjson.JSONDecodeError as exc:
                offset = _byte_offset(exc)
                if exc.msg == _CONTENT_AFTER:
                    stop = pos + offset
                    return orjson.loads(self.buf[pos:stop]), stop
                if "UTF-8" in exc.msg:
                    raise self.error(
                        "the file is not valid UTF-8", self._bad_utf8(pos, end)
                    ) from None
                near_end = offset >= end - pos - 16
                if end < self.size and near_end and "depth" not in exc.msg:
                    window *= 4  # the value goes on past the window
                    continue
                reason = "JSON nested too deeply" if "depth" in exc.msg else exc.msg
                raise self.error(f"invalid JSON: {reason}", pos + offset) from None

    def _boundary(self, end: int, start: int) -> int:
        """Move a window's end back so that it does not split a UTF-8 sequence."""
        while end < self.size and end > start and (self.buf[end] & 0xC0) == 0x80:
            end -= 1
        return end

    def _bad_utf8(self, start: int, end: int) -> int:
        try:
            bytes(self.buf[start:end]).decode("utf-8")
        except UnicodeDecodeError as exc:
            return start + exc.start
        return start

    def error(self, reason: str, pos: int) -> FileError:
        """A FileError at ``pos``, with 1-based line and column (in characters)."""
        pos = min(pos, self.size)
        line, line_start, chunk = 1, 0, 1 << 20
        for begin in range(0, pos, chunk):
            piece = bytes(self.buf[begin : min(pos, begin + chunk)])
            newlines = piece.count(b"\n")
            if newlines:
                line += newlines
                line_start = begin + piece.rindex(b"\n") + 1
        column = len(bytes(self.buf[line_start:pos]).decode("utf-8", "replace")) + 1
        return FileError(reason, location=f"line {line}, column {column}")

    def expect(self, pos: int, char: int, what: str) -> int:
        pos = self.ws(pos)
        if self.at(pos) != char:
            found = "the end of the file" if pos >= self.size else repr(chr(self.buf[pos]))
            raise self.error(f"invalid JSON: expected {what}, found {found}", pos)
        return pos + 1


def _byte_offset(exc: orjson.JSONDecodeError) -> int:
    """orjson reports character offsets into the decoded window; turn them into bytes."""
    prefix = exc.doc[: exc.pos]
    return exc.pos if prefix.isascii() else len(prefix.encode("utf-8", "surrogatepass"))


@dataclass
class _Document:
    """Where the objects are: spans of the ``objects`` items (or of a bare list's items)."""

    kind: str  # "bundle", "list" or "object"
    name: str = ""  # the bundle id
    starts: array[int] = field(default_factory=lambda: array("q"))
    ends: array[int] = field(default_factory=lambda: array("q"))
    sro: bytearray = field(default_factory=bytearray)  # 1: relationship or sighting
    parsed: list[Any] | None = None  # a single top-level object, parsed whole


class _Item(NamedTuple):
    """An item of the document as pass 1 reads it."""

    number: int
    value: Any
    end: int  # the offset just after it
    sro: bool
    top: dict[str, Any] | None  # the members of a top-level object read before its items


_Scanning = Generator[_Item, None, _Document]


def _scan(scanner: _Scanner, index: Callable[[Any], None]) -> _Scanning:
    """Pass 1: the document's shape and item spans; ``index`` sees every item once, and each is
    yielded as it is read. Returns the document."""
    pos = scanner.ws(3 if bytes(scanner.buf[:3]) == b"\xef\xbb\xbf" else 0)  # UTF-8 BOM
    first = scanner.at(pos)
    if first == -1:
        raise FileError("the file is empty")
    # Items are parsed again in passes 2 and 3 rather than kept: keeping them all would hold the
    # whole bundle as Python objects (and slows everything down through garbage collection).
    doc = _Document("list")

    def items(pos: int, top: dict[str, Any] | None) -> Generator[_Item, None, int]:
        pos = scanner.ws(pos)  # pos just after "["
        if scanner.at(pos) == _CLOSE_BRACKET:
            return pos + 1
        while True:
            value, end = scanner.value(pos)
            doc.starts.append(pos)
            doc.ends.append(end)
            kind = value.get("type") if isinstance(value, dict) else None
            sro = isinstance(kind, str) and kind in SRO_TYPES
            doc.sro.append(sro)
            index(value)
            yield _Item(len(doc.sro) - 1, value, end, sro, top)
            pos = scanner.ws(end)
            if scanner.at(pos) == _CLOSE_BRACKET:
                return pos + 1
            pos = scanner.ws(scanner.expect(pos, _COMMA, "',' or ']'"))

    if first == _OPEN_BRACKET:
        end = yield from items(pos + 1, None)
    elif first == _OPEN_BRACE:
        end, top, has_objects = yield from _members(scanner, pos, items)
        type_ = top.get("type")
        if type_ == "bundle" or (type_ is None and has_objects):
            doc.kind = "bundle"
            bundle_id = top.get("id")
            doc.name = bundle_id if isinstance(bundle_id, str) else ""
        elif isinstance(type_, str) and type_:
            # A single object: small by nature, parsed whole (and indexed afresh).
            obj = orjson.loads(scanner.buf[pos:end])
            doc = _Document("object", parsed=[obj])
            doc.starts.append(pos)
            doc.ends.append(end)
            doc.sro.append(type_ in SRO_TYPES)
            index(None)  # reset: items of a non-bundle's "objects" list are not objects
            index(obj)
        else:
            raise FileError("not a STIX bundle or object: the top-level object has no 'type'")
    else:
        value, end = scanner.value(pos)
        kind = {str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        raise FileError(f"not a STIX bundle or object: the file holds {kind}")
    tail = scanner.ws(end)
    if tail < scanner.size:
        raise scanner.error("invalid JSON: unexpected content after the document", tail)
    return doc


def _members(
    scanner: _Scanner,
    pos: int,
    items: Callable[[int, dict[str, Any]], Generator[_Item, None, int]],
) -> Generator[_Item, None, tuple[int, dict[str, Any], bool]]:
    """The top-level object's members; ``objects`` is streamed through ``items``."""
    top: dict[str, Any] = {}
    has_objects = False
    pos = scanner.ws(pos + 1)
    if scanner.at(pos) == _CLOSE_BRACE:
        return pos + 1, top, False
    while True:
        if scanner.at(pos) != _QUOTE:
            scanner.expect(pos, _QUOTE, "a member name")
        key, pos = scanner.value(pos)
        pos = scanner.ws(scanner.expect(pos, _COLON, "':'"))
        if key == "objects" and scanner.at(pos) == _OPEN_BRACKET:
            if has_objects:
                raise scanner.error("the bundle has two 'objects' members", pos)
            has_objects = True
            pos = yield from items(pos + 1, dict(top))
        else:
            top[key], pos = scanner.value(pos)
        pos = scanner.ws(pos)
        if scanner.at(pos) == _CLOSE_BRACE:
            if "objects" in top and not has_objects:
                raise FileError("not a STIX bundle: 'objects' is not a list")
            return pos + 1, top, has_objects
        pos = scanner.ws(scanner.expect(pos, _COMMA, "',' or '}'"))


@contextlib.contextmanager
def _buffer(stream: BinaryIO) -> Iterator[memoryview]:
    """The stream's bytes without copying them where possible (files are memory-mapped)."""
    mapped: mmap.mmap | None = None
    try:
        start = stream.tell()
        fileno = stream.fileno()
        mapped = mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError, io.UnsupportedOperation, AttributeError):
        mapped = None  # not a regular file, or an empty one (mmap refuses length 0)
    if mapped is not None:
        view = memoryview(mapped)
        sliced = view[start:]
        try:
            yield sliced
        finally:
            sliced.release()  # invalidates the caller's reference too, so the map can close
            view.release()
            with contextlib.suppress(BufferError):  # a view still alive somewhere: GC closes it
                mapped.close()
        return
    if isinstance(stream, io.BytesIO):
        data: bytes = stream.getvalue()[stream.tell() :] if stream.tell() else stream.getvalue()
    else:
        raw = stream.read()
        if not isinstance(raw, bytes | bytearray):
            raise FileError("expected a binary stream")
        data = bytes(raw)
    yield memoryview(data)


class StixImporter:
    """STIX 2.1 bundles, lists of objects and single objects (see the module docstring)."""

    name: str = "stix"
    media_types: tuple[str, ...] = (
        "application/stix+json",
        "application/taxii+json",
        "application/json",
    )

    def default_marking(self) -> Marking | None:
        return None  # STIX marks each object (STIX §7.2); unmarked objects take --tlp

    def read(self, stream: BinaryIO, context: ImportContext) -> Iterator[Record]:
        with _buffer(stream) as buf:
            yield from self._read(buf, context)

    @staticmethod
    def _read(buf: memoryview, context: ImportContext) -> Iterator[Record]:
        scanner = _Scanner(buf)
        index = ObjectIndex()
        scanning = _scan(scanner, index.add)
        tell = context.position or _ignore
        size = len(buf)
        mapper: ObjectMapper | None = None  # while pass 1 reads: describing as it goes
        where = ""
        waiting = array("q")  # items pass 2 describes once pass 1 has read everything
        linked = array("q")
        probe = index.probe
        while True:
            try:
                got = next(scanning)
            except StopIteration as stop:
                doc: _Document = stop.value
                break
            if got.number == 0:
                mapper, where = _streaming(index, got.top, context.filename)
            if mapper is None:
                continue
            tell(got.end // 2)
            if got.sro:
                linked.append(got.number)
                continue
            probe.missed = False
            records, links = mapper.map(where.format(got.number), got.value, deferred=False)
            if probe.missed:  # it looked for an id that may come further on
                waiting.append(got.number)
                continue
            yield from records
            if links:
                linked.append(got.number)
        index.done()
        half = size // 2  # progress: reading and describing, then the links
        described = half  # as far as describing while reading went
        if mapper is None:  # the passes one after the other
            mapper = ObjectMapper(index, context.filename or doc.name or "STIX bundle")
            where = {"bundle": "objects[{}]", "list": "[{}]", "object": "object"}[doc.kind]
            waiting = array("q", range(len(doc.starts)))
            described = 0

        def item(i: int) -> Any:
            if doc.parsed is not None:
                return doc.parsed[i]
            return orjson.loads(buf[doc.starts[i] : doc.ends[i]])  # parsed in pass 1: valid

        for n, i in enumerate(waiting):
            tell(described + (half - described) * n // len(waiting))
            if doc.sro[i]:
                linked.append(i)
                continue
            records, links = mapper.map(where.format(i), item(i), deferred=False)
            yield from records
            if links:
                linked.append(i)
        for n, i in enumerate(sorted(linked)):
            tell(half + half * n // len(linked))
            yield from mapper.map(where.format(i), item(i), deferred=True)[0]
        tell(size)


def _streaming(
    index: ObjectIndex, top: dict[str, Any] | None, filename: str
) -> tuple[ObjectMapper | None, str]:
    """At the first item: a mapper describing objects while pass 1 reads, where the items are
    those of a bundle (or a list) and the claims' ``observed-in`` name is known already."""
    if top is None:
        return ObjectMapper(index, filename or "STIX bundle"), "[{}]"
    bundle_id = top.get("id")
    if top.get("type") == "bundle" and (filename or isinstance(bundle_id, str)):
        return ObjectMapper(index, filename or str(bundle_id)), "objects[{}]"
    return None, ""


def _ignore(position: int) -> None:
    pass


def _throughput(count: int) -> None:
    """Not a test: generate ``count`` simple objects (half indicators with a pattern, half
    ipv4-addr) and time ``read`` over them, in wall-clock and CPU time."""
    import time

    objects: list[dict[str, Any]] = []
    green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
    for i in range(count):
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        if i % 2:
            objects.append(
                {
                    "type": "ipv4-addr",
                    "id": f"ipv4-addr--{i:08x}-0000-4000-8000-000000000000",
                    "value": ip,
                }
            )
        else:
            objects.append(
                {
                    "type": "indicator", "spec_version": "2.1",
                    "id": f"indicator--{i:08x}-0000-4000-8000-000000000000",
                    "created": "2024-07-12T07:48:13.000Z", "modified": "2024-07-12T07:48:13.000Z",
                    "name": f"C2 {ip}", "indicator_types": ["malicious-activity"],
                    "pattern": f"[ipv4-addr:value = '{ip}']", "pattern_type": "stix",
                    "valid_from": "2024-07-12T07:48:13Z", "object_marking_refs": [green],
                }
            )  # fmt: skip
    data = orjson.dumps({"type": "bundle", "id": "bundle--1", "objects": objects})
    del objects
    wall, cpu = time.perf_counter(), time.process_time()
    records = sum(1 for _ in StixImporter().read(io.BytesIO(data), ImportContext("bench")))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"{count:,} objects ({len(data) >> 20} MiB), {records:,} records: "
        f"{wall:.2f}s wall ({count / wall:,.0f} objects/s), "
        f"{cpu:.2f}s CPU ({count / cpu:,.0f} objects/s, {records / cpu:,.0f} records/s)"
    )


if __name__ == "__main__":  # python -m cyberatlas.interop.stix [COUNT]
    import sys

    _throughput(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
