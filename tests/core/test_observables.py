"""Observable normalization, refanging and STIX 2.1 deterministic ids."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import uuid

import phonenumbers
import pytest
import stix2
from hypothesis import given, settings
from hypothesis import strategies as st

from cyberatlas.core.observables import (
    OBSERVABLE_TYPES,
    InvalidObservable,
    Observable,
    deterministic_id,
    is_observable_type,
    normalize,
    refang,
)

ONION_V3 = "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion"
SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# (type, raw, canonical key)
ACCEPTED = [
    ("domain-name", "example.com", "example.com"),
    ("domain-name", "  Example.COM.  ", "example.com"),
    ("domain-name", "evil[.]com", "evil.com"),
    ("domain-name", "evil(dot)co[.]uk", "evil.co.uk"),
    ("domain-name", "Bücher.de", "xn--bcher-kva.de"),
    ("domain-name", "xn--bcher-kva.de", "xn--bcher-kva.de"),
    ("domain-name", "пример.рф", "xn--e1afmkfd.xn--p1ai"),
    (
        "domain-name",
        "\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\u3002\uff43\uff4f\uff4d",
        "example.com",
    ),  # full-width, ideographic stop
    ("domain-name", "foo.github.io", "foo.github.io"),  # private PSL suffix
    ("domain-name", "github.io", "github.io"),
    ("domain-name", "_dmarc.example.com", "_dmarc.example.com"),
    ("domain-name", "r4---sn-4g5e6nsz.googlevideo.com", "r4---sn-4g5e6nsz.googlevideo.com"),
    ("domain-name", ONION_V3.upper(), ONION_V3),
    ("domain-name", "www." + ONION_V3, "www." + ONION_V3),
    ("domain-name", "expyuzz4wqqyqhjn.onion", "expyuzz4wqqyqhjn.onion"),  # legacy v2
    ("hostname", "localhost", "localhost"),
    ("hostname", "Mail.Corp.Internal.", "mail.corp.internal"),
    ("ipv4-addr", "1.2.3.4", "1.2.3.4"),
    ("ipv4-addr", " 1.2.3[.]4 ", "1.2.3.4"),
    ("ipv4-addr", "1[.]2[.]3[.]4", "1.2.3.4"),
    ("ipv4-addr", "198.51.100.0/24", "198.51.100.0/24"),
    ("ipv4-addr", "198.51.100.7/32", "198.51.100.7"),
    ("ipv6-addr", "2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ("ipv6-addr", "[2001:db8::1]", "2001:db8::1"),
    ("ipv6-addr", "2001:db8::/32", "2001:db8::/32"),
    ("ipv6-addr", "2001:db8::1/128", "2001:db8::1"),
    ("url", "hxxps://evil[.]com/x", "https://evil.com/x"),
    ("url", "hXXp[:]//evil[.]com/Path?Q=A#Frag", "http://evil.com/Path?Q=A#Frag"),
    ("url", "hxxps[://]evil[.]com", "https://evil.com/"),
    ("url", "fxp://files.evil.com/drop", "ftp://files.evil.com/drop"),
    ("url", "HTTPS://EVIL.COM:443/A", "https://evil.com/A"),
    ("url", "http://evil.com:8080/a", "http://evil.com:8080/a"),
    ("url", "http://Bücher.de/ü", "http://xn--bcher-kva.de/ü"),
    ("url", "http://[2001:DB8::1]:81/", "http://[2001:db8::1]:81/"),
    ("url", "http://1.2.3[.]4/gate.php", "http://1.2.3.4/gate.php"),
    ("url", "http://User:Pass@Evil.com/", "http://User:Pass@evil.com/"),
    ("url", "stratum+tcp://pool.minexmr.com:4444", "stratum+tcp://pool.minexmr.com:4444"),
    ("email-addr", "Bob@Evil.com", "bob@evil.com"),
    ("email-addr", "bob[at]evil[.]com", "bob@evil.com"),
    ("email-addr", "bob (at) evil (dot) com", "bob@evil.com"),
    ("email-addr", "mailto:bob@Bücher.de", "bob@xn--bcher-kva.de"),
    ("user-account", "telegram:@EvilBob", "telegram:evilbob"),
    ("user-account", "Telegram: EvilBob ", "telegram:evilbob"),
    ("user-account", "x:@Bob", "twitter:bob"),
    ("user-account", "jabber:Bob@XMPP.jp/Laptop", "jabber:bob@xmpp.jp/Laptop"),
    ("user-account", "skype:Live:Bob", "skype:Live:Bob"),  # not known case-insensitive
    ("phone-number", "+1 650-253-0000", "+16502530000"),
    ("phone-number", "0016502530000", "+16502530000"),
    ("phone-number", "+44 20 7946 0958", "+442079460958"),
    ("phone-number", "tel:+1-650-253-0000", "+16502530000"),
    ("autonomous-system", "AS13335", "AS13335"),
    ("autonomous-system", "as13335", "AS13335"),
    ("autonomous-system", "13335", "AS13335"),
    ("autonomous-system", "ASN 13335", "AS13335"),
    ("autonomous-system", "AS1.10", "AS65546"),  # RFC 5396 asdot
    ("autonomous-system", "4294967295", "AS4294967295"),
    ("x509-certificate", "AB:" * 31 + "AB", "ab" * 32),
    ("x509-certificate", "ab cd " * 10, "abcd" * 10),
    ("file", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
    (
        "file",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    ),
    ("file", SHA256_EMPTY, SHA256_EMPTY),
    ("file", "a" * 128, "a" * 128),
    ("mac-addr", "AA:BB:CC:DD:EE:FF", "aa:bb:cc:dd:ee:ff"),
    ("mac-addr", "aa-bb-cc-dd-ee-ff", "aa:bb:cc:dd:ee:ff"),
    ("mac-addr", "aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff"),
    ("mac-addr", "AABBCCDDEEFF", "aa:bb:cc:dd:ee:ff"),
    ("bank-account", "DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    ("bank-account", "gb82west12345698765432", "GB82WEST12345698765432"),
    (
        "cryptocurrency-wallet",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    ),
    (
        "cryptocurrency-wallet",
        " 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa ",
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    ),
]


@pytest.mark.parametrize(("type_", "raw", "key"), ACCEPTED)
def test_accepted(type_: str, raw: str, key: str) -> None:
    observable = normalize(type_, raw)
    assert observable.type == type_
    assert observable.key == key
    assert observable.validated
    assert observable.stix_id.startswith(f"{type_}--")
    # The key is already canonical.
    assert normalize(type_, observable.key) == observable


# (type, raw, fragment of the reason)
REJECTED = [
    ("domain-name", "", "empty value"),
    ("domain-name", "exa mple.com", "characters not allowed"),
    ("domain-name", "evil..com", "empty label"),
    ("domain-name", "-evil.com", "characters not allowed"),
    ("domain-name", "evil!.com", "characters not allowed"),
    ("domain-name", "a" * 64 + ".com", "label longer than 63"),
    ("domain-name", ".".join(["a" * 60] * 5) + ".com", "longer than 253"),
    ("domain-name", "localhost", "no known public suffix"),
    ("domain-name", "evil.notarealtld", "no known public suffix"),
    ("domain-name", "co.uk", "is a public suffix"),
    ("domain-name", "com", "is a public suffix"),
    ("domain-name", "exa\u200dmple.com", "invalid internationalized label"),
    ("domain-name", "xn--abc.com", "invalid internationalized label"),
    ("domain-name", "notanonion.onion", "not a valid onion"),
    ("domain-name", ONION_V3.replace("zczad", "zczae"), "not a valid onion"),  # checksum
    ("hostname", "1.2.3.4", "all-numeric"),
    ("hostname", "bad host", "characters not allowed"),
    ("ipv4-addr", "1.2.3.400", "400"),
    ("ipv4-addr", "01.2.3.4", "Leading zeros"),
    ("ipv4-addr", "198.51.100.7/24", "host bits set"),
    ("ipv4-addr", "2001:db8::1", "Expected 4 octets"),
    ("ipv4-addr", "", "empty value"),
    ("ipv6-addr", "1.2.3.4", "At least 3 parts"),
    ("ipv6-addr", "fe80::1%eth0", "zone/scope"),
    ("ipv6-addr", "2001:db8::1/64", "host bits set"),
    ("url", "evil[.]com/x", "missing scheme"),
    ("url", "mailto:bob@evil.com", "missing scheme"),
    ("url", "http://", "missing host"),
    ("url", "http://evil..com/", "invalid host 'evil..com': empty label"),
    ("url", "http://evil.com:99999/", "Port out of range"),
    ("url", "http://[::1/", "Invalid IPv6 URL"),
    ("url", "http://evil.com/a b", "contains whitespace"),
    ("email-addr", "bob", "exactly one @"),
    ("email-addr", "bob@@evil.com", "exactly one @"),
    ("email-addr", "@evil.com", "invalid local part"),
    ("email-addr", "bo..b@evil.com", "invalid local part"),
    ("email-addr", "bob@", "missing domain part"),
    ("email-addr", "bob@localhost", "domain part: no known public suffix"),
    ("user-account", "evilbob", "expected ACCOUNT_TYPE:LOGIN"),
    ("user-account", ":evilbob", "expected ACCOUNT_TYPE:LOGIN"),
    ("user-account", "telegram:@", "login is empty"),
    ("user-account", "telegram:evil bob", "whitespace"),
    ("phone-number", "6502530000", "must be international"),
    ("phone-number", "+1 123", "not a valid number"),
    ("phone-number", "+", "did not seem to be a phone number"),
    ("autonomous-system", "AS0", "1..4294967295"),
    ("autonomous-system", "AS4294967296", "1..4294967295"),
    ("autonomous-system", "AS70000.1", "asdot"),
    ("autonomous-system", "Cloudflare", "expected AS<number>"),
    ("x509-certificate", "d41d8cd98f00b204e9800998ecf8427e", "32 hex digits"),
    ("x509-certificate", "zz" * 20, "not a hexadecimal digest"),
    ("file", "abc", "3 hex digits; expected MD5 (32), SHA-1 (40), SHA-256 (64), SHA-512 (128)"),
    ("file", "g" * 32, "not a hexadecimal digest"),
    ("mac-addr", "aa:bb-cc:dd:ee:ff", "MAC-48"),
    ("mac-addr", "aa:bb:cc:dd:ee", "MAC-48"),
    ("bank-account", "DE89370400440532013001", "Invalid checksum digits"),
    ("bank-account", "XX89370400440532013000", "Unknown country-code"),
    ("bank-account", "DE8937040044053201300", "Invalid IBAN length"),
    ("cryptocurrency-wallet", "", "empty value"),
    ("cryptocurrency-wallet", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "bad base58check checksum"),
    ("cryptocurrency-wallet", "some thing", "not an address-like string"),
    ("not-a-type", "x", "unknown observable type"),
]


@pytest.mark.parametrize(("type_", "raw", "reason"), REJECTED)
def test_rejected(type_: str, raw: str, reason: str) -> None:
    with pytest.raises(InvalidObservable) as info:
        normalize(type_, raw)
    assert reason in info.value.reason
    assert (info.value.type_, info.value.value) == (type_, raw)
    assert str(info.value) == f"{type_} {raw!r}: {info.value.reason}"


def test_invalid_observable_message() -> None:
    exc = InvalidObservable("domain-name", "exa mple.com", "characters not allowed")
    assert str(exc) == "domain-name 'exa mple.com': characters not allowed"
    assert isinstance(exc, ValueError)


# Every pair is two spellings of one observable.
SAME = [
    ("domain-name", "Example.COM.", "example.com"),
    ("domain-name", "evil[.]com", "EVIL.com"),
    ("domain-name", "bücher.de", "xn--bcher-kva.de"),
    ("hostname", "Bücher.de.", "xn--bcher-kva.de"),
    ("ipv4-addr", "1.2.3[.]4", "1.2.3.4/32"),
    ("ipv6-addr", "2001:0DB8::0001", "2001:db8::1"),
    ("url", "hxxps://evil[.]com", "https://EVIL.com:443/"),
    ("email-addr", "Bob[at]Evil[.]com", "bob@evil.com"),
    ("user-account", "telegram:@EvilBob", "telegram:evilbob"),
    ("phone-number", "+1 (650) 253-0000", "0016502530000"),
    ("phone-number", "+44 20 7946 0958", "+442079460958"),
    ("autonomous-system", "as13335", "13335"),
    ("x509-certificate", "AB:" * 19 + "AB", "ab" * 20),
    ("file", SHA256_EMPTY.upper(), SHA256_EMPTY),
    ("mac-addr", "AA-BB-CC-DD-EE-FF", "aabb.ccdd.eeff"),
    ("bank-account", "de89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    (
        "cryptocurrency-wallet",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    ),
    (
        "cryptocurrency-wallet",
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    ),
]


@pytest.mark.parametrize(("type_", "first", "second"), SAME)
def test_same_observable_same_id(type_: str, first: str, second: str) -> None:
    assert normalize(type_, first).stix_id == normalize(type_, second).stix_id


def test_different_observables_different_ids() -> None:
    ids = {normalize("domain-name", d).stix_id for d in ("a.com", "b.com", "a.org")}
    assert len(ids) == 3
    # The same value under two types is two entities.
    assert normalize("domain-name", "a.com").stix_id != normalize("hostname", "a.com").stix_id


# stix2's own id computation is the reference for the standard SCO types.
STIX2_CONFORMANCE = [
    ("domain-name", "Bücher.DE", lambda: stix2.DomainName(value="xn--bcher-kva.de")),
    ("ipv4-addr", "198.51.100.0/24", lambda: stix2.IPv4Address(value="198.51.100.0/24")),
    ("ipv4-addr", "1[.]2.3.4", lambda: stix2.IPv4Address(value="1.2.3.4")),
    ("ipv6-addr", "2001:DB8::1", lambda: stix2.IPv6Address(value="2001:db8::1")),
    ("url", "hxxps://evil[.]com/x", lambda: stix2.URL(value="https://evil.com/x")),
    ("email-addr", "Bob@Evil.com", lambda: stix2.EmailAddress(value="bob@evil.com")),
    ("autonomous-system", "AS13335", lambda: stix2.AutonomousSystem(number=13335)),
    (
        "user-account",
        "telegram:@EvilBob",
        lambda: stix2.UserAccount(account_type="telegram", account_login="evilbob"),
    ),
    (
        "x509-certificate",
        "ab" * 32,
        lambda: stix2.X509Certificate(hashes={"SHA-256": "ab" * 32}),
    ),
    ("x509-certificate", "ab" * 20, lambda: stix2.X509Certificate(hashes={"SHA-1": "ab" * 20})),
    ("mac-addr", "AA-BB-CC-DD-EE-FF", lambda: stix2.MACAddress(value="aa:bb:cc:dd:ee:ff")),
    ("file", SHA256_EMPTY, lambda: stix2.File(hashes={"SHA-256": SHA256_EMPTY})),
    (
        "file",
        "d41d8cd98f00b204e9800998ecf8427e",
        lambda: stix2.File(hashes={"MD5": "d41d8cd98f00b204e9800998ecf8427e"}),
    ),
    ("file", "c" * 128, lambda: stix2.File(hashes={"SHA-512": "c" * 128})),
]


@pytest.mark.parametrize(("type_", "raw", "make"), STIX2_CONFORMANCE)
def test_ids_match_stix2(type_: str, raw: str, make: object) -> None:
    assert callable(make)
    assert normalize(type_, raw).stix_id == make().id


def test_deterministic_id_is_uuid5_over_canonical_json() -> None:
    # Independent of stix2: for ASCII values RFC 8785 equals sorted, compact json.dumps.
    props: dict[str, object] = {"value": "+16502530000"}
    data = json.dumps(props, sort_keys=True, separators=(",", ":"))
    namespace = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
    expected = f"phone-number--{uuid.uuid5(namespace, data)}"
    assert deterministic_id("phone-number", props) == expected
    assert normalize("phone-number", "+1 650 253 0000").stix_id == expected
    assert uuid.UUID(expected.split("--")[1]).version == 5


_VALUES = st.text() | st.integers(min_value=-(2**60), max_value=2**60)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12),
        _VALUES | st.dictionaries(st.text(max_size=8), _VALUES, max_size=3),
        min_size=1,
        max_size=3,
    )
)
def test_deterministic_ids_are_what_uuid5_over_the_stix2_canonical_json_gives(props) -> None:
    from stix2.canonicalization.Canonicalize import canonicalize

    namespace = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
    try:
        expected = f"url--{uuid.uuid5(namespace, canonicalize(props, utf8=False))}"
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8: no id either way
        with pytest.raises(UnicodeEncodeError):
            deterministic_id("url", props)
        return
    assert deterministic_id("url", props) == expected


@pytest.mark.parametrize(
    ("type_", "raw", "properties"),
    [
        ("hostname", "evil.lan", {"value": "evil.lan"}),
        ("phone-number", "+16502530000", {"value": "+16502530000"}),
        ("bank-account", "DE89370400440532013000", {"iban": "DE89370400440532013000"}),
        (
            "cryptocurrency-wallet",
            "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7",
            {"value": "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"},
        ),
        ("user-account", "telegram:bob", {"account_type": "telegram", "account_login": "bob"}),
        ("autonomous-system", "AS1", {"number": 1}),
        ("file", SHA256_EMPTY, {"hashes": {"SHA-256": SHA256_EMPTY}}),
    ],
)
def test_properties_and_custom_type_ids(
    type_: str, raw: str, properties: dict[str, object]
) -> None:
    observable = normalize(type_, raw)
    assert observable.properties == properties
    assert observable.stix_id == deterministic_id(type_, properties)


def test_wallet_family_and_validation_flags() -> None:
    eth = normalize("cryptocurrency-wallet", "0xde709f2102306220921060314715629080e2fb77")
    assert (eth.family, eth.validated) == ("eth", True)
    unknown = normalize("cryptocurrency-wallet", "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh")
    assert (unknown.key, unknown.family, unknown.validated) == (
        "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh",
        None,
        False,
    )
    # The id depends on the address only, not on the detected family.
    assert unknown.stix_id == deterministic_id(
        "cryptocurrency-wallet", {"value": "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"}
    )


def test_observable_is_frozen_and_hashable() -> None:
    observable = normalize("domain-name", "example.com")
    assert observable == normalize("domain-name", "EXAMPLE.com")
    assert len({observable, normalize("domain-name", "example.com.")}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        observable.key = "other.com"  # type: ignore[misc]
    assert isinstance(observable, Observable)


def test_observable_types() -> None:
    assert {
        "domain-name",
        "hostname",
        "ipv4-addr",
        "ipv6-addr",
        "url",
        "email-addr",
        "user-account",
        "phone-number",
        "autonomous-system",
        "x509-certificate",
        "file",
        "mac-addr",
        "bank-account",
        "cryptocurrency-wallet",
    } == OBSERVABLE_TYPES
    assert is_observable_type("domain-name")
    assert not is_observable_type("threat-actor")


@pytest.mark.parametrize(
    ("defanged", "refanged"),
    [
        ("hxxps://evil[.]com/x", "https://evil.com/x"),
        ("hXXp://evil(.)com", "http://evil.com"),
        ("hxxp[:]//evil{.}com", "http://evil.com"),
        ("hxxps[://]evil[dot]com", "https://evil.com"),
        ("fxp://evil(dot)com", "ftp://evil.com"),
        ("bob[at]evil[.]com", "bob@evil.com"),
        ("bob(at)evil.com", "bob@evil.com"),
        ("bob[@]evil.com", "bob@evil.com"),
        ("bob [ at ] evil [ dot ] com", "bob@evil.com"),
        ("1.2.3[.]4", "1.2.3.4"),
        ("evil\\.com", "evil.com"),
        ("http://evil.com[/]x", "http://evil.com/x"),
        ("a hxxp word", "a hxxp word"),  # schemes are only rewritten before "://"
        ("plain text", "plain text"),
    ],
)
def test_refang(defanged: str, refanged: str) -> None:
    assert refang(defanged) == refanged


# --- property tests -------------------------------------------------------------------------

# ASCII labels never start with "xn--" here (that would have to be valid punycode).
_ascii_label = st.from_regex(r"[a-wyz0-9]([a-z0-9-]{0,15}[a-z0-9])?", fullmatch=True)
_unicode_label = st.text(alphabet="abcdefghijklmnopäöüéèñçå", min_size=1, max_size=10)
_suffix = st.sampled_from(["com", "co.uk", "de", "github.io", "xn--p1ai", "рф", "onion.ly"])


@st.composite
def _domains(draw: st.DrawFn) -> str:
    labels = draw(st.lists(st.one_of(_ascii_label, _unicode_label), min_size=1, max_size=3))
    return ".".join([*labels, draw(_suffix)])


def _spell(name: str, upper: bool, dot: bool, defang: bool) -> str:
    if upper:
        name = name.upper()
    if defang:
        name = name.replace(".", "[.]")
    return name + ("." if dot else "")


@settings(deadline=None)
@given(_domains(), st.booleans(), st.booleans(), st.booleans())
def test_domain_normalization_is_idempotent(
    name: str, upper: bool, dot: bool, defang: bool
) -> None:
    observable = normalize("domain-name", name)
    assert normalize("domain-name", observable.key) == observable
    assert normalize("domain-name", _spell(name, upper, dot, defang)) == observable
    assert observable.key.isascii()


@settings(deadline=None)
@given(st.ip_addresses())
def test_ip_normalization_is_idempotent(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    type_ = "ipv4-addr" if address.version == 4 else "ipv6-addr"
    observable = normalize(type_, address.exploded.upper())
    assert observable.key == str(address)
    assert normalize(type_, observable.key) == observable


@settings(deadline=None)
@given(st.ip_addresses(), st.integers(min_value=0, max_value=128))
def test_network_normalization_is_idempotent(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int
) -> None:
    type_ = "ipv4-addr" if address.version == 4 else "ipv6-addr"
    network = ipaddress.ip_network(
        f"{address}/{prefix % (address.max_prefixlen + 1)}", strict=False
    )
    observable = normalize(type_, str(network))
    assert normalize(type_, observable.key) == observable


_EXAMPLE_NUMBERS = sorted(
    (region, number)
    for region in phonenumbers.SUPPORTED_REGIONS
    if (number := phonenumbers.example_number(region)) is not None
)
_FORMATS = [
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.RFC3966,
]


@settings(deadline=None)
@given(st.sampled_from(_EXAMPLE_NUMBERS), st.sampled_from(_FORMATS), st.booleans())
def test_phone_normalization_is_idempotent(
    example: tuple[str, phonenumbers.PhoneNumber],
    number_format: int,
    double_zero: bool,
) -> None:
    _, number = example
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    text = phonenumbers.format_number(number, number_format)
    if double_zero and text.startswith("+"):
        text = "00" + text[1:]
    observable = normalize("phone-number", text)
    assert observable.key == e164
    assert normalize("phone-number", observable.key) == observable


@given(st.text())
def test_refang_never_raises(text: str) -> None:
    assert isinstance(refang(text), str)


@settings(deadline=None)
@given(st.sampled_from(sorted(OBSERVABLE_TYPES)), st.text(max_size=80))
def test_normalize_raises_only_invalid_observable(type_: str, raw: str) -> None:
    try:
        observable = normalize(type_, raw)
    except InvalidObservable:
        return
    assert normalize(type_, observable.key) == observable
