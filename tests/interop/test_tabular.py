"""The CSV importer (header meanings or a mapping file) and the CSV exporter."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyberatlas.core.tlp import Marking
from cyberatlas.interop.records import (
    Claim,
    ExportEntity,
    ExportStatement,
    FileError,
    ImportContext,
    Record,
    Ref,
    Rejected,
)
from cyberatlas.interop.tabular import EXPORT_COLUMNS, CsvImporter, load_mapping, write_csv

FIXTURES = Path(__file__).parent.parent / "fixtures" / "csv"
UTC = dt.UTC


def read(data: bytes, mapping: dict[str, str] | None = None, filename: str = "") -> list[Record]:
    context = ImportContext(filename=filename, mapping=mapping or {})
    return list(CsvImporter().read(io.BytesIO(data), context))


def claims(records: list[Record]) -> list[Claim]:
    return [r for r in records if isinstance(r, Claim)]


def rejected(records: list[Record]) -> list[tuple[str, str]]:
    return [(r.location, r.reason) for r in records if isinstance(r, Rejected)]


def test_header_with_meanings_needs_no_mapping() -> None:
    data = (
        b"type,value,predicate,object,tlp,source\n"
        b"domain-name,evil[.]com,resolves-to,ipv4-addr:185.220.101.47,green,report-1\n"
        b"threat-actor,LockBit,alias,LockBit 3.0,amber,\n"
        b"threat-actor,LockBit,uses,url:http://lockbitkodidilol.onion,clear,\n"
        b"cryptocurrency-wallet,3FjtFZWjyj46UcfDY4AiUrEv7wLtyzZv5o,chain,bitcoin,,\n"
    )
    got = claims(read(data))
    assert [(c.location, c.subject, c.predicate, c.value, c.object, c.marking) for c in got] == [
        (
            "line 2",
            Ref("domain-name", value="evil[.]com"),
            "resolves-to",
            None,
            Ref("ipv4-addr", value="185.220.101.47"),
            Marking.GREEN,
        ),
        (
            "line 3",
            Ref("threat-actor", name="LockBit"),
            "alias",
            "LockBit 3.0",
            None,
            Marking.AMBER,
        ),
        (
            "line 4",
            Ref("threat-actor", name="LockBit"),
            "uses",
            None,
            Ref("url", value="http://lockbitkodidilol.onion"),
            Marking.CLEAR,
        ),
        (
            "line 5",
            Ref("cryptocurrency-wallet", value="3FjtFZWjyj46UcfDY4AiUrEv7wLtyzZv5o"),
            "chain",
            "bitcoin",
            None,
            None,
        ),
    ]
    assert got[0].source == "report-1"


def test_mapping_file_lines(tmp_path: Path) -> None:
    mapping_file = tmp_path / "wallets.mapping"
    mapping_file.write_text(
        "# ransomware wallets\n"
        "group   = threat-actor\n"
        "wallet  = receives-payment-via:cryptocurrency-wallet\n"
        "Seen    = first_seen   # ISO 8601\n"
        "marking = TLP\n"
        "notes   = description\n"
        "row id  = ignore\n"
    )
    mapping = load_mapping(mapping_file)
    assert mapping == {
        "group": "threat-actor",
        "wallet": "receives-payment-via:cryptocurrency-wallet",
        "Seen": "first-seen",
        "marking": "tlp",
        "notes": "description",
        "row id": "ignore",
    }
    data = (
        b"row id;group;wallet;Seen;marking;notes\n"
        b"1;LockBit;bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq;2024-02-19;amber+strict;chat\n"
        b"2;LockBit;;2024-02-20T10:00:00Z;;\n"
        b"3;;bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq;;;\n"
    )
    records = read(data, mapping)
    got = claims(records)
    assert [(c.location, c.predicate, c.value, c.object) for c in got] == [
        (
            "line 2",
            "description",
            "chat",
            None,
        ),
        (
            "line 2",
            "receives-payment-via",
            None,
            Ref("cryptocurrency-wallet", value="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
        ),
        ("line 3", "observed-in", "CSV import", None),  # a subject and nothing said about it
    ]
    assert got[0].marking is Marking.AMBER_STRICT
    assert got[0].first_seen == dt.datetime(2024, 2, 19, tzinfo=UTC)
    assert got[2].first_seen == dt.datetime(2024, 2, 20, 10, tzinfo=UTC)
    assert rejected(records) == [("line 4", "no subject")]


def test_mapping_json_and_relationship_columns_with_typed_cells(tmp_path: Path) -> None:
    mapping_file = tmp_path / "m.json"
    mapping_file.write_text('{"domain": "domain-name", "points to": "resolves-to"}')
    mapping = load_mapping(mapping_file)
    records = read(b"domain,points to\nevil.com,ipv4-addr:185.220.101.47\nx.org,oops\n", mapping)
    assert [c.object for c in claims(records)] == [Ref("ipv4-addr", value="185.220.101.47")]
    assert rejected(records) == [
        ("line 3", "'oops' has no type: give a type column or write 'type:value'")
    ]


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        ("a = domain-name\nb = colour\n", "m line 2", "unknown meaning 'colour'"),
        ("a = domain-name\njust a line\n", "m line 2", "expected 'column = meaning'"),
        ("a = domain-name\nb = ipv4-addr\n", "m", "several subject columns (a, b)"),
        ("a = resolves-to:nothing\n", "m line 1", "unknown meaning"),
        ("a = domain-name\na = name\n", "m line 2", "mapped twice"),
        ("# nothing\n", "m", "maps no column"),
        ("a = name\n", "m", "no subject column"),
        ('{"a": 1}', "m", "expected"),
        ('{"a": ', "m", "not valid JSON"),
    ],
)
def test_bad_mappings(tmp_path: Path, text: str, location: str, message: str) -> None:
    path = tmp_path / "m"
    path.write_text(text)
    with pytest.raises(FileError) as error:
        load_mapping(path)
    assert error.value.location == location
    assert message in error.value.reason


def test_header_problems_are_file_errors() -> None:
    with pytest.raises(FileError, match="columns with no known meaning: colour"):
        read(b"domain-name,colour\nevil.com,red\n")
    with pytest.raises(FileError, match="the header lacks: wallet"):
        read(b"group\nx\n", {"group": "threat-actor", "wallet": "cryptocurrency-wallet"})
    with pytest.raises(FileError, match=r"columns without a meaning: extra \(map them"):
        read(b"group,extra\nx,y\n", {"group": "threat-actor"})
    with pytest.raises(FileError, match="columns named twice: a"):
        read(b"a,a\n1,2\n")
    with pytest.raises(FileError, match="no header row"):
        read(b"\n\n")


def test_rows_rejected_with_their_line() -> None:
    data = (
        b"subject-type,subject,predicate,value,tlp,confidence,last-seen\n"
        b"domain-name,a.com,label,x,reddish,,\n"
        b"domain-name,b.com,label,x,,101,\n"
        b"domain-name,c.com,label,x,,,yesterday\n"
        b"gadget,d.com,label,x,,,\n"
        b"domain-name,e.com,colour,x,,,\n"
        b"domain-name,f.com,label,,,,\n"
        b"domain-name,g.com,resolves-to,,,,\n"
        b"domain-name,h.com,label,x,,,,extra\n"
        b"domain-name,i.com,label,ok,,90,1700000000\n"
    )
    records = read(data)
    assert rejected(records) == [
        ("line 2", "unknown TLP marking 'reddish'; expected one of clear, green, amber, "
         "amber+strict, red"),
        ("line 3", "confidence 101 is not between 0 and 100"),
        ("line 4", "last-seen 'yesterday' is not an ISO 8601 date"),
        ("line 5", "unknown entity type 'gadget'"),
        ("line 6", "unknown predicate 'colour'"),
        ("line 7", "the 'label' property needs a value"),
        ("line 8", "the 'resolves-to' relationship needs an object"),
        ("line 9", "8 cells but the header has 7"),
    ]  # fmt: skip
    (ok,) = claims(records)
    assert (ok.location, ok.confidence, ok.last_seen) == (
        "line 10",
        90,
        dt.datetime.fromtimestamp(1_700_000_000, tz=UTC),
    )


def test_quoted_newlines_keep_line_numbers() -> None:
    data = b'domain-name,description\nevil.com,"two\nlines"\nbad..com,""\nx.org,"ok"\n'
    records = read(data)
    assert [(c.location, c.subject.value, c.value) for c in claims(records)] == [
        ("line 2", "evil.com", "two\nlines"),
        ("line 4", "bad..com", "CSV import"),  # nothing said: observed-in the file
        ("line 5", "x.org", "ok"),
    ]


def test_wrong_encoding_names_line_and_byte_offset() -> None:
    with pytest.raises(FileError) as error:
        read(b"domain-name\nevil.com\ncaf\xe9.com\n")
    assert error.value.location == "line 3"
    assert "byte offset 24" in error.value.reason


def test_bom_and_other_delimiters() -> None:
    got = claims(read(b"\xef\xbb\xbfdomain-name\tname\r\nevil.com\tEvil\r\n"))
    assert [(c.subject.value, c.predicate, c.value) for c in got] == [("evil.com", "name", "Evil")]


@pytest.mark.parametrize(
    ("data", "location"),
    [
        (b'domain-name,name\nevil.com,"never closed\nx.org,y\n', "line 2"),
        (b'domain-name,name\nevil.com,"a"b\n', "line 2"),
        (b"domain-name,name\nevil.com,a\x00b\n", "line 2"),
    ],
)
def test_broken_csv_is_a_file_error_with_its_line(data: bytes, location: str) -> None:
    with pytest.raises(FileError) as error:
        read(data)
    assert error.value.location == location


def test_ofac_sample_with_its_mapping() -> None:
    mapping = load_mapping(FIXTURES / "ofac-sample.mapping")
    records = read((FIXTURES / "ofac-sample.csv").read_bytes(), mapping, "ofac-sample.csv")
    got = claims(records)
    assert rejected(records) == []
    assert len(got) == 38  # 19 addresses: an OFAC ticker label and a chain each
    chains = {c.subject.value: c.value for c in got if c.predicate == "chain"}
    assert chains["123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX"] == "bitcoin"
    assert chains["0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1"] == "ethereum"
    assert sum(1 for v in chains.values() if v == "tron") == 3
    assert {c.first_seen for c in got} == {dt.datetime(2024, 9, 27, tzinfo=UTC)}


def _statement(n: int, **changes: object) -> ExportStatement:
    actor = ExportEntity("threat-actor--" + "1" * 8 + f"-1111-4111-8111-{n:012d}", "threat-actor",
                         "", "LockBit", Marking.AMBER)  # fmt: skip
    wallet = ExportEntity("cryptocurrency-wallet--" + "2" * 8 + "-2222-5222-8222-222222222222",
                          "cryptocurrency-wallet", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                          "bc1qar0s…", Marking.GREEN)  # fmt: skip
    base = ExportStatement(
        id=f"s{n}",
        subject=actor,
        predicate="receives-payment-via",
        value=None,
        object=wallet,
        marking=Marking.AMBER,
        organization="CERT-EX",
        source="https://example.org/report",
        confidence=80,
        first_seen=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        last_seen=None,
        created=dt.datetime(2024, 5, 1, tzinfo=UTC),
        modified=dt.datetime(2024, 5, 2, tzinfo=UTC),
    )
    return ExportStatement(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_export_reads_back() -> None:
    wallet = _statement(1).object
    assert wallet is not None
    statements = [
        _statement(1),
        _statement(2, predicate="description", value="=HYPERLINK(\"http://x\")", object=None),
        _statement(3, subject=wallet, predicate="label", value="-drainer", object=None,
                   marking=Marking.RED, confidence=None, first_seen=None),
    ]  # fmt: skip
    stream = io.StringIO(newline="")
    write_csv(statements, stream, "CERT-EX")
    text = stream.getvalue()
    assert text.splitlines()[0] == ",".join(EXPORT_COLUMNS)
    assert "'=HYPERLINK" in text
    assert "'-drainer" in text
    got = claims(read(text.encode()))
    assert len(got) == 3
    relationship, description, label = got
    actor = Ref("threat-actor", stix_id=statements[0].subject.id, name="LockBit")
    assert relationship.subject == actor
    assert relationship.object == Ref(
        "cryptocurrency-wallet", value="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
    )
    assert (relationship.predicate, relationship.marking, relationship.confidence) == (
        "receives-payment-via",
        Marking.AMBER,
        80,
    )
    assert relationship.original_source == "CERT-EX"
    assert relationship.source == "https://example.org/report"
    assert relationship.first_seen == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert relationship.modified == dt.datetime(2024, 5, 2, tzinfo=UTC)
    assert description.value == '=HYPERLINK("http://x")'
    assert (label.subject.type, label.value, label.marking) == (
        "cryptocurrency-wallet",
        "-drainer",
        Marking.RED,
    )


def test_big_csv_is_streamed() -> None:
    rows = b"".join(b"host%d.example-evil.com,x\n" % i for i in range(100_000))
    stream = io.BytesIO(b"domain-name,label\n" + rows)
    records: Iterator[Record] = CsvImporter().read(stream, ImportContext())
    first = next(records)
    assert isinstance(first, Claim)
    assert first.location == "line 2"
    assert stream.tell() < len(rows) // 10


def test_overlong_line_is_a_file_error() -> None:
    with pytest.raises(FileError, match="longer than") as error:
        read(b"domain-name,description\nevil.com," + b"x" * (1 << 21) + b"\n")
    assert error.value.location == "line 2"


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_records_or_a_file_error(data: bytes) -> None:
    try:
        records = read(data)
    except FileError:
        return
    assert all(isinstance(r, Claim | Rejected) for r in records)


_CELLS = st.sampled_from(
    ["domain-name", "threat-actor", "evil.com", "LockBit", "uses", "alias", "url:http://x.y",
     "amber", "red", "nope", "50", "-1", "2024-01-01", '"', '""', "'=1", ",", "\n", ";", ""]
)  # fmt: skip


@given(st.lists(st.lists(st.one_of(_CELLS, st.text(max_size=8)), max_size=7), max_size=8))
def test_arbitrary_tables_give_records_or_a_file_error(rows: list[list[str]]) -> None:
    header = "subject-type,subject,predicate,value,object,tlp,confidence\n"
    data = header + "\n".join(",".join(row) for row in rows)
    try:
        records = read(data.encode("utf-8", "surrogatepass"))
    except FileError:
        return
    assert all(isinstance(r, Claim | Rejected) for r in records)
