"""The plain-text report importer: indicators in prose, defanged or not, streamed."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyberatlas.core.observables import normalize
from cyberatlas.interop.records import Claim, FileError, ImportContext, Record, Rejected
from cyberatlas.interop.text import TextImporter, find_indicators

FIXTURES = Path(__file__).parent.parent / "fixtures" / "text"
SHARED = (Path(__file__).parents[2] / ".." / "shared" / "data").resolve()


def read(data: bytes, filename: str = "") -> list[Record]:
    return list(TextImporter().read(io.BytesIO(data), ImportContext(filename=filename)))


def found(records: list[Record]) -> set[tuple[str, str]]:
    """(type, normalized key) of the claims, as the core will see them."""
    return {
        (r.subject.type, normalize(r.subject.type, r.subject.value or "").key)
        for r in records
        if isinstance(r, Claim)
    }


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (shared data sets are not in the repository)")
    return path


def test_defanged_report_gives_each_indicator_once_with_its_first_line() -> None:
    records = read((FIXTURES / "report-defanged.txt").read_bytes(), "report-defanged.txt")
    assert all(isinstance(r, Claim) for r in records)
    claims = [r for r in records if isinstance(r, Claim)]
    assert found(records) == {
        ("url", "https://cdn-update.top/gate.php"),
        ("url", "http://185.220.101.47:8080/x.bin"),
        ("domain-name", "lockbitapt2yfbt7lchxejug47kmqvqqxvvjpqkmevv4l3azl3gy6pyd.onion"),
        ("user-account", "telegram:paperlantern_bot"),
        ("user-account", "telegram:lantern_support"),
        ("email-addr", "recovery-team@onionmail.org"),
        ("cryptocurrency-wallet", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
        ("cryptocurrency-wallet", "0x52908400098527886E0F7030069857D2E4169EE7"),
        ("bank-account", "DE89370400440532013000"),
        ("phone-number", "+442079460958"),
        ("file", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("domain-name", "cdn-update.top"),  # on its own on line 14; on line 3 inside a URL
        ("domain-name", "evil-domain.biz"),
    }
    assert len(claims) == 13  # no duplicates
    title = "Operation Paper Lantern: a LockBit affiliate's infrastructure"
    assert {(c.predicate, c.value) for c in claims} == {("observed-in", title)}
    by_value = {c.subject.value: c for c in claims}
    assert by_value["cdn-update.top"].location == "line 14"
    assert by_value["https://cdn-update.top/gate.php"].location == "line 3"
    assert by_value["+44 20 7946 0958"].location == "line 9"
    assert all(c.source == "report-defanged.txt" and c.marking is None for c in claims)


@pytest.mark.parametrize(
    "junk",
    [
        "see setup.py and README.md, config.zip",  # file names with TLD-like extensions
        "it calls System.Net.WebClient",  # code
        "internal 10.0.0.12, 192.168.1.20, 127.0.0.1, 0.0.0.0",  # not global
        "version 1.2.3.4.5 and 10.0.19041.1",  # dotted numbers that are not addresses
        "wallet 1BoatSLRHtKNngkdXEeobR76b53LETtpyX",  # bad base58check checksum
        "counter 00000000000000000000000000000000",  # not a digest
        "mail bob@localhost or @ home",  # no public suffix
    ],
)
def test_obvious_junk_is_not_claimed(junk: str) -> None:
    assert read(f"Title\n{junk}\n".encode()) == []


def test_iocextract_quirks_are_filtered() -> None:
    # iocextract invents http:// for bare defanged hosts and merges words into addresses.
    text = "Write to bad[@]mail[.]ru and bob [at] evil [dot] com now"
    assert set(find_indicators(text)) == {
        ("email-addr", "bad@mail.ru"),
        ("email-addr", "bob@evil.com"),
    }


def test_file_like_domain_alone_on_a_line_or_with_a_path_is_a_domain() -> None:
    records = read(b"List\ndywanypers.pl\nmoda.9l.pl/calendar/x/\nsee setup.py\n")
    assert found(records) == {("domain-name", "dywanypers.pl"), ("domain-name", "moda.9l.pl")}


def test_title_is_the_filename_when_the_first_line_is_a_comment_or_an_indicator() -> None:
    assert {r.value for r in read(b"# list\nevil.com\n", "list.txt") if isinstance(r, Claim)} == {
        "list.txt"
    }
    records = read(b"\n\nevil.com\nfoo.org\n", "iocs.txt")
    assert {r.value for r in records if isinstance(r, Claim)} == {"iocs.txt"}
    records = read(b"evil.com\n")
    assert {r.value for r in records if isinstance(r, Claim)} == {"text report"}


def test_maltrail_fixture_comments_are_sources_not_indicators() -> None:
    records = read((FIXTURES / "maltrail-lockbit.txt").read_bytes(), "lockbit.txt")
    claims = [r for r in records if isinstance(r, Claim)]
    assert len(claims) == 269
    assert len(records) == 269
    assert {c.value for c in claims} == {"lockbit.txt"}
    by_key = {(c.subject.type, c.subject.value): c for c in claims}
    onion = by_key["domain-name", "lockbitkodidilol.onion"]
    assert onion.location == "line 9"
    assert (
        onion.source
        == "https://github.com/StrangerealIntel/malware-notes/blob/master/Ransomware/Lockbit.md"
    )
    assert by_key["domain-name", "lockbit-blog.com"].source.startswith(
        "https://www.virustotal.com/gui/ip-address/47.91.79.68"
    )
    # "# Reference:" URLs are provenance: none of them is claimed.
    assert not any("twitter.com" in (c.subject.value or "") for c in claims)
    # Invalid v3 onions in the list (a "0" or "1" is not base32) are not claimed.
    assert (
        "domain-name",
        "lockbit3hc6syym13ki2ag5jskr6q5qa3spspjpmtfhh6fufut737zid.onion",
    ) not in by_key


def test_real_maltrail_lists() -> None:
    root = shared("lists", "maltrail", "trails", "static")
    expected = {"malware/lockbit.txt": 269, "malicious/telekopye_scamtool.txt": 23}
    for name, count in expected.items():
        with (root / name).open("rb") as stream:
            records = list(TextImporter().read(stream, ImportContext(filename=name)))
        assert len(records) == count, name
        assert all(isinstance(r, Claim) for r in records)
    with (root / "malware" / "interlock-1.txt").open("rb") as stream:
        claims = [r for r in TextImporter().read(stream, ImportContext()) if isinstance(r, Claim)]
    assert len(claims) == 101_722  # 101,723 trails, one invalid


def test_ofac_addresses_are_found_and_validated() -> None:
    path = shared("lists", "ofac-crypto-addresses", "sanctioned_addresses_XBT.json")
    addresses = json.loads(path.read_text())
    records = read(path.read_bytes(), "sanctioned_addresses_XBT.json")
    wallets = {r.subject.value for r in records if isinstance(r, Claim)}
    assert len(addresses) == 435
    # Every listed Bitcoin address has a valid checksum and is found exactly once.
    assert wallets == set(addresses)


def test_scamsniffer_drainer_wallets_read_from_shared_data() -> None:
    # GPL-3.0 data: read from shared/ only, never copied into the repository.
    path = shared("lists", "scamsniffer", "blacklist", "combined.json")
    combined: dict[str, list[str]] = json.loads(path.read_text())
    records = read(path.read_bytes(), "combined.json")
    wallets = {normalize("cryptocurrency-wallet", v).key for vs in combined.values() for v in vs}
    claimed = found(records)
    assert {key for type_, key in claimed if type_ == "cryptocurrency-wallet"} == wallets
    assert len(wallets) == 590


def test_invalid_utf8_names_the_line_and_byte_offset() -> None:
    with pytest.raises(FileError) as error:
        read(b"Title\nok line\nbad \xff byte\n")
    assert error.value.location == "line 3"
    assert "byte offset 18" in error.value.reason


def test_nul_bytes_and_utf16_are_file_errors() -> None:
    with pytest.raises(FileError, match="UTF-16"):
        read("Title\nevil.com\n".encode("utf-16"))
    with pytest.raises(FileError, match="NUL") as error:
        read("Title\nevil.com\n".encode("utf-16-le"))
    assert error.value.location == "line 1"


def test_bom_and_crlf_are_fine() -> None:
    records = read(b"\xef\xbb\xbfReport\r\nevil[.]com\r\n")
    assert [(r.location, r.value) for r in records if isinstance(r, Claim)] == [
        ("line 2", "Report")
    ]


class _CountingStream(io.RawIOBase):
    """A 10 MB single line, generated: how much the importer has read is observable."""

    def __init__(self, size: int) -> None:
        self.size, self.served = size, 0
        self.pattern = b"a.b [.] 1.2.3.4.5 hxxp://x" * 4096

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.size - self.served, len(self.pattern))
        buffer[:n] = self.pattern[:n]
        self.served += n
        return n


def test_a_10_mb_single_line_is_linear_and_streamed() -> None:
    stream = _CountingStream(10_000_000)
    started = time.monotonic()
    records = list(TextImporter().read(io.BufferedReader(stream), ImportContext()))
    assert time.monotonic() - started < 60
    assert stream.served == 10_000_000
    assert all(isinstance(r, Claim) for r in records)


def test_reading_is_lazy() -> None:
    lines = b"Report\n" + b"".join(b"host%d.example-evil.com\n" % i for i in range(200_000))
    stream = io.BytesIO(lines)
    records: Iterator[Record] = TextImporter().read(stream, ImportContext())
    first = next(records)
    assert isinstance(first, Claim)
    assert first.location == "line 2"
    assert stream.tell() < len(lines) // 10  # not read to the end for the first claim


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_records_or_a_file_error(data: bytes) -> None:
    try:
        records = read(data)
    except FileError:
        return
    assert all(isinstance(r, Claim | Rejected) for r in records)


_PIECES = st.sampled_from(
    ["hxxp://", "[.]", "(dot)", "[@]", "@", ".", "/", ":", " ", "\n", "evil", "com", "onion",
     "0x", "bc1q", "+44", "DE89", "t.me/", "telegram", "1.2.3.4", "::", "\t", "é", "\u200b"]
)  # fmt: skip


@given(
    st.lists(
        st.one_of(
            _PIECES,
            st.text(
                st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=20
            ),
        ),
        max_size=60,
    )
)
def test_indicator_like_text_gives_only_valid_claims(parts: list[str]) -> None:
    records = read("".join(parts).encode())
    for record in records:
        assert isinstance(record, Claim)
        normalize(record.subject.type, record.subject.value or "")  # the core takes each one
