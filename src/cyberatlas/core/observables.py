"""Observable normalization and STIX 2.1 deterministic identifiers.

Every observable entering cyberatlas goes through :func:`normalize` exactly once, at the edge.
The result carries a canonical ``key`` and a STIX 2.1 deterministic id computed from the
ID-contributing properties, so the same observable reported by two organizations (defanged,
differently cased, with a trailing dot, in Unicode or punycode, ...) is one entity.

No network access happens here: the public suffix list is the snapshot bundled with tldextract.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import idna
import orjson
import phonenumbers
import schwifty
import tldextract
from schwifty.exceptions import SchwiftyException
from stix2.canonicalization.Canonicalize import canonicalize

from cyberatlas.core.wallets import InvalidWallet, parse_wallet

__all__ = [
    "OBSERVABLE_TYPES",
    "InvalidObservable",
    "Observable",
    "deterministic_id",
    "is_observable_type",
    "normalize",
    "refang",
]


class InvalidObservable(ValueError):
    """A raw value that cannot be normalized into an observable of the requested type."""

    def __init__(self, type_: str, value: str, reason: str) -> None:
        super().__init__(f"{type_} {value!r}: {reason}")
        self.type_ = type_
        self.value = value
        self.reason = reason


@dataclass(frozen=True)
class Observable:
    """A normalized observable. Hashable: ``properties`` is derived from ``key``."""

    type: str
    key: str
    stix_id: str
    properties: dict[str, object] = field(hash=False)
    validated: bool = True
    family: str | None = None


# STIX 2.1 section 2.9: the namespace for UUIDv5 SCO identifiers.
# https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_64yvzeku5a5c
_SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")


def deterministic_id(type_: str, contributing: dict[str, object]) -> str:
    """STIX 2.1 deterministic SCO id: UUIDv5 over the RFC 8785 (JCS) canonical JSON.

    For the usual ID-contributing properties (ASCII keys; string, integer or such nested-dict
    values) JCS is exactly ``json.dumps`` with sorted keys, compact separators and no ASCII
    escaping, which costs a tenth of the general canonicalizer; anything else goes through
    the stix2 library's own canonicalizer. Both give the ids ``stix2`` computes (tested).
    """
    if len(contributing) == 1:  # most observables: {"value": …}, written out directly
        ((name, value),) = contributing.items()
        if isinstance(value, str) and name.isascii() and _plain(value):
            # A printable string needs only '"' and '\\' escaped, as orjson and json.dumps both
            # write them; orjson gives the UTF-8 at once.
            return f"{type_}--{_uuid5(b'{%b:%b}' % (orjson.dumps(name), orjson.dumps(value)))}"
    if _plain(contributing):
        text = json.dumps(contributing, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    else:
        text = cast(str, canonicalize(contributing, utf8=False))
    return f"{type_}--{_uuid5(text.encode())}"


_SCO_NAMESPACE_BYTES = _SCO_NAMESPACE.bytes


def _uuid5(name: bytes) -> str:
    """``str(uuid.uuid5(_SCO_NAMESPACE, name))``, without building the UUID object (a third
    of an observable's identification): SHA-1's first 32 hex digits, with the version digit
    made 5 and the variant's two bits made 10."""
    h = hashlib.sha1(_SCO_NAMESPACE_BYTES + name).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


_SURROGATE = re.compile("[\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s")


def _plain(value: object) -> bool:
    """Values whose JCS form equals compact sorted ``json.dumps``: no floats, no lone
    surrogates, ASCII keys (JCS sorts keys by UTF-16 code units, Python by code points)."""
    if isinstance(value, str):
        return value.isprintable() and not _SURROGATE.search(value)
    if isinstance(value, bool) or not isinstance(value, int | dict):
        return False
    if isinstance(value, int):
        return abs(value) < 2**53
    return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())


def _make(
    type_: str,
    key: str,
    properties: dict[str, object],
    *,
    validated: bool = True,
    family: str | None = None,
) -> Observable:
    stix_id = deterministic_id(type_, properties)
    return Observable(type_, key, stix_id, properties, validated, family)


# --- refanging -----------------------------------------------------------------------------

_OPEN, _CLOSE = r"[\[({]\s*", r"\s*[\])}]"
_REFANG_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"{_OPEN}:\s*/\s*/{_CLOSE}"), "://"),  # [://]
    (re.compile(rf"\s*{_OPEN}(?:\.|dot){_CLOSE}\s*", re.IGNORECASE), "."),  # [.] (dot) {.}
    (re.compile(rf"\s*{_OPEN}(?:@|at){_CLOSE}\s*", re.IGNORECASE), "@"),  # [at] (at) [@]
    (re.compile(rf"{_OPEN}:{_CLOSE}"), ":"),  # [:]
    (re.compile(rf"{_OPEN}/{_CLOSE}"), "/"),  # [/]
    (re.compile(r"\\\."), "."),  # evil\.com
    # Obfuscated schemes, only directly before "://" so ordinary words are left alone.
    (re.compile(r"\b(?:hxxp|hxtp|htxp|h\*\*p|h__p)(s?)(?=://)", re.IGNORECASE), r"http\1"),
    (re.compile(r"\b(?:fxp|ftx|f\*p)(s?)(?=://)", re.IGNORECASE), r"ftp\1"),
)


_DEFANG_MARKS = re.compile(r"[\[\](){}\\*_]|xp|xt|tx|\s", re.IGNORECASE)


def refang(text: str) -> str:
    """Undo common defanging (hxxp://, [.], (dot), [:], [at], [://] ...). Never raises.

    iocextract's refang helpers are not used: they guess a scheme for bare hosts, delete
    parentheses and commas from host names, and the module does not compile cleanly under
    ``-W error`` (invalid escape sequences), so a small explicit rule table is used instead.
    """
    if not _DEFANG_MARKS.search(text):
        return text  # the common case on bulk imports: nothing to undo
    for pattern, replacement in _REFANG_RULES:
        text = pattern.sub(replacement, text)
    return text


# --- DNS names -----------------------------------------------------------------------------


@cache
def _suffix_extractor() -> tldextract.TLDExtract:
    # cache_dir=None: no disk cache; suffix_list_urls=(): never fetch, so tldextract uses the
    # PSL snapshot bundled with the package (fallback_to_snapshot defaults to True).
    return tldextract.TLDExtract(
        cache_dir=None, suffix_list_urls=(), include_psl_private_domains=True
    )


# ASCII label: letters, digits, hyphen (not at the ends). Underscores are accepted because
# they occur in real DNS names (RFC 2181 section 11, _dmarc, SRV, abused wildcard zones).
# Hyphens in positions 3-4 are accepted too (e.g. "r4---sn-abc.googlevideo.com").
_ASCII_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")
_BASE32 = re.compile(r"[a-z2-7]+")


def _onion_ok(label: str) -> bool:
    """Tor onion service label: v3 (56 base32 chars with checksum) or legacy v2 (16 chars).

    v3 layout per https://spec.torproject.org/rend-spec/encoding-onion-addresses.html:
    base32(pubkey[32] | checksum[2] | version 0x03), checksum = SHA3-256(".onion checksum" |
    pubkey | version)[:2]. v2 (retired in 2021, no checksum) stays accepted for old records.
    """
    if not _BASE32.fullmatch(label):
        return False
    if len(label) == 16:
        return True
    if len(label) != 56:
        return False
    raw = base64.b32decode(label.upper())
    pubkey, checksum, version = raw[:32], raw[32:34], raw[34:]
    digest = hashlib.sha3_256(b".onion checksum" + pubkey + version).digest()
    return version == b"\x03" and digest[:2] == checksum


def _dns_name(type_: str, raw: str, *, require_suffix: bool) -> str:
    """Normalize a DNS name to lower-case A-labels; raise InvalidObservable on failure."""

    def bad(reason: str) -> InvalidObservable:
        return InvalidObservable(type_, raw, reason)

    name = refang(raw.strip()).strip()
    if not name:
        raise bad("empty value")
    try:
        # UTS #46 mapping: case folding, full-width characters, ideographic full stops.
        name = idna.uts46_remap(name, std3_rules=False, transitional=False)
    except idna.IDNAError as exc:
        raise bad(f"characters not allowed ({exc})") from exc
    name = name.removesuffix(".")
    labels = []
    for label in name.split("."):
        if not label:
            raise bad("empty label")
        try:
            if not label.isascii() or label.startswith("xn--"):
                # An existing A-label is decoded and re-encoded: validates it, canonical form.
                label = idna.alabel(idna.ulabel(label)).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise bad(f"invalid internationalized label {label!r} ({exc})") from exc
        if not _ASCII_LABEL.fullmatch(label):
            raise bad(f"characters not allowed in label {label!r}")
        if len(label) > 63:
            raise bad(f"label longer than 63 characters: {label!r}")
        labels.append(label)
    name = ".".join(labels)
    if len(name) > 253:
        raise bad("name longer than 253 characters")
    if labels[-1].isdigit():
        raise bad("top-level label is all-numeric")
    if labels[-1] == "onion" and (len(labels) < 2 or not _onion_ok(labels[-2])):
        raise bad("not a valid onion service address")
    if require_suffix:
        parts = _suffix_extractor()(name)
        if not parts.suffix:
            raise bad("no known public suffix")
        if not parts.domain and not parts.is_private:
            raise bad("is a public suffix, not a registrable domain")
    return name


def _normalize_domain(raw: str) -> Observable:
    key = _dns_name("domain-name", raw, require_suffix=True)
    return _make("domain-name", key, {"value": key})


def _normalize_hostname(raw: str) -> Observable:
    key = _dns_name("hostname", raw, require_suffix=False)
    return _make("hostname", key, {"value": key})


# --- IP addresses --------------------------------------------------------------------------


def _ip(type_: str, raw: str, version: int) -> str:
    text = refang(raw.strip()).strip()
    if version == 6 and text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text:
        raise InvalidObservable(type_, raw, "empty value")
    if "%" in text:
        raise InvalidObservable(type_, raw, "zone/scope ids are local and not allowed")
    net_cls = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    addr_cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    try:
        if "/" in text:
            # strict: a CIDR with host bits set (1.2.3.4/24) is ambiguous, so it is refused.
            net = net_cls(text, strict=True)
            if net.prefixlen == net.max_prefixlen:
                return str(net.network_address)
            return str(net)
        return str(addr_cls(text))
    except ValueError as exc:
        raise InvalidObservable(type_, raw, str(exc)) from exc


def _normalize_ipv4(raw: str) -> Observable:
    key = _ip("ipv4-addr", raw, 4)
    return _make("ipv4-addr", key, {"value": key})


def _normalize_ipv6(raw: str) -> Observable:
    key = _ip("ipv6-addr", raw, 6)
    return _make("ipv6-addr", key, {"value": key})


# --- URLs ----------------------------------------------------------------------------------

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}


def _url_host(raw: str, host: str) -> str:
    try:
        if host.startswith("[") and host.endswith("]"):
            return f"[{_ip('url', host[1:-1], 6)}]"
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            return _dns_name("url", host, require_suffix=False)
    except InvalidObservable as exc:
        raise InvalidObservable("url", raw, f"invalid host {host!r}: {exc.reason}") from exc


def _normalize_url(raw: str) -> Observable:
    text = refang(raw.strip()).strip()
    if not text:
        raise InvalidObservable("url", raw, "empty value")
    if _WHITESPACE.search(text):
        raise InvalidObservable("url", raw, "contains whitespace")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidObservable("url", raw, str(exc)) from exc
    # Any RFC 3986 scheme with an authority is accepted: C2 and mining configs use tcp://,
    # stratum+tcp:// and the like. A bare "evil.com/x" is refused rather than guessed.
    scheme = parts.scheme.lower()
    if not scheme or not _SCHEME.fullmatch(scheme) or not text[len(scheme) :].startswith("://"):
        raise InvalidObservable("url", raw, "missing scheme (e.g. https://)")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host = hostport
    if port is not None or hostport.endswith(":"):
        host = hostport[: hostport.rindex(":")]
    if not host:
        raise InvalidObservable("url", raw, "missing host")
    netloc = _url_host(raw, host)
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    path = parts.path
    if not path and scheme in _DEFAULT_PORTS:  # RFC 3986 section 6.2.3: "" == "/" for http
        path = "/"
    key = urlunsplit((scheme, netloc, path, parts.query, parts.fragment))
    return _make("url", key, {"value": key})


# --- e-mail addresses ----------------------------------------------------------------------

# RFC 5322 dot-atom (RFC 6531 allows non-ASCII letters too); quoted local parts are not taken.
_LOCAL_PART = re.compile(r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*")


def _normalize_email(raw: str) -> Observable:
    text = refang(raw.strip()).strip().lower().removeprefix("mailto:")
    if text.count("@") != 1:
        raise InvalidObservable("email-addr", raw, "must contain exactly one @")
    local, _, domain = text.partition("@")
    if not local or len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise InvalidObservable("email-addr", raw, f"invalid local part {local!r}")
    if not domain:
        raise InvalidObservable("email-addr", raw, "missing domain part")
    try:
        domain = _dns_name("email-addr", domain, require_suffix=True)
    except InvalidObservable as exc:
        raise InvalidObservable("email-addr", raw, f"domain part: {exc.reason}") from exc
    key = f"{local}@{domain}"
    return _make("email-addr", key, {"value": key})


# --- user accounts -------------------------------------------------------------------------

# Platforms whose user names are case-insensitive, so "@EvilBob" and "evilbob" are one account.
# Jabber/XMPP: the bare JID (nodeprep localpart + domain) is case-insensitive.
CASE_INSENSITIVE_ACCOUNT_TYPES = frozenset(
    {"telegram", "twitter", "instagram", "tiktok", "discord", "github", "reddit", "jabber"}
)
_ACCOUNT_TYPE_ALIASES = {"x": "twitter", "tg": "telegram", "xmpp": "jabber"}
_ACCOUNT_TYPE = re.compile(r"[a-z0-9][a-z0-9._-]*")


def _normalize_user_account(raw: str) -> Observable:
    account_type, sep, login = raw.strip().partition(":")
    account_type = account_type.strip().lower()
    account_type = _ACCOUNT_TYPE_ALIASES.get(account_type, account_type)
    login = login.strip().removeprefix("@")
    if not sep or not _ACCOUNT_TYPE.fullmatch(account_type):
        raise InvalidObservable("user-account", raw, "expected ACCOUNT_TYPE:LOGIN")
    if not login or any(c.isspace() or not c.isprintable() for c in login):
        raise InvalidObservable("user-account", raw, "login is empty or has whitespace")
    if account_type in CASE_INSENSITIVE_ACCOUNT_TYPES:
        if account_type == "jabber":  # the resource part after "/" stays case-sensitive
            bare, slash, resource = login.partition("/")
            login = bare.lower() + slash + resource
        else:
            login = login.lower()
    key = f"{account_type}:{login}"
    return _make("user-account", key, {"account_type": account_type, "account_login": login})


# --- phone numbers, AS numbers, hashes, MAC addresses, IBANs -------------------------------


def _normalize_phone(raw: str) -> Observable:
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+") and not text.lower().startswith("tel:+"):
        raise InvalidObservable("phone-number", raw, "must be international (+CC... or 00CC...)")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidObservable("phone-number", raw, str(exc)) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidObservable("phone-number", raw, "not a valid number for its country code")
    key = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return _make("phone-number", key, {"value": key})


# "AS13335", "ASN 13335", "13335" and RFC 5396 asdot ("AS1.10" == 65546).
_ASN = re.compile(r"(?:asn?\s*)?([0-9]{1,10})(?:\.([0-9]{1,5}))?", re.IGNORECASE)


def _normalize_as(raw: str) -> Observable:
    match = _ASN.fullmatch(raw.strip())
    if not match:
        raise InvalidObservable("autonomous-system", raw, "expected AS<number> or <number>")
    high, low = match.group(1), match.group(2)
    if low is not None:
        if int(high) > 0xFFFF or int(low) > 0xFFFF:
            raise InvalidObservable("autonomous-system", raw, "asdot halves must be <= 65535")
        number = int(high) * 65536 + int(low)
    else:
        number = int(high)
    if not 1 <= number <= 0xFFFFFFFF:
        raise InvalidObservable("autonomous-system", raw, "AS number must be 1..4294967295")
    return _make("autonomous-system", f"AS{number}", {"number": number})


# STIX 2.1 hash-algorithm-ov names keyed by hex length.
_HASH_NAMES = {32: "MD5", 40: "SHA-1", 64: "SHA-256", 128: "SHA-512"}
_HEX = re.compile(r"[0-9a-f]+")


def _hex_digest(type_: str, raw: str, separators: str, lengths: tuple[int, ...]) -> str:
    text = raw.strip().lower()
    for sep in separators:
        text = text.replace(sep, "")
    if not _HEX.fullmatch(text):
        raise InvalidObservable(type_, raw, "not a hexadecimal digest")
    if len(text) not in lengths:
        names = ", ".join(f"{_HASH_NAMES[n]} ({n})" for n in lengths)
        raise InvalidObservable(type_, raw, f"{len(text)} hex digits; expected {names}")
    return text


def _normalize_x509(raw: str) -> Observable:
    digest = _hex_digest("x509-certificate", raw, ": ", (40, 64))
    return _make("x509-certificate", digest, {"hashes": {_HASH_NAMES[len(digest)]: digest}})


def _normalize_file(raw: str) -> Observable:
    digest = _hex_digest("file", raw, "", (32, 40, 64, 128))
    return _make("file", digest, {"hashes": {_HASH_NAMES[len(digest)]: digest}})


_MAC = re.compile(
    r"[0-9a-f]{2}([:-])(?:[0-9a-f]{2}\1){4}[0-9a-f]{2}"  # aa:bb:cc:dd:ee:ff, aa-bb-...
    r"|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}"  # Cisco aabb.ccdd.eeff
    r"|[0-9a-f]{12}"
)


def _normalize_mac(raw: str) -> Observable:
    text = raw.strip().lower()
    if not _MAC.fullmatch(text):
        raise InvalidObservable("mac-addr", raw, "expected a MAC-48 address")
    digits = re.sub(r"[^0-9a-f]", "", text)
    key = ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return _make("mac-addr", key, {"value": key})


def _normalize_iban(raw: str) -> Observable:
    try:
        # Default validation: country, length, structure and the ISO 13616 mod-97 checksum.
        iban = schwifty.IBAN(raw.strip())
    except SchwiftyException as exc:
        raise InvalidObservable("bank-account", raw, str(exc)) from exc
    key = iban.compact
    return _make("bank-account", key, {"iban": key})


def _normalize_wallet(raw: str) -> Observable:
    text = raw.strip()
    if not text:
        raise InvalidObservable("cryptocurrency-wallet", raw, "empty value")
    # Every white space but " " is unprintable too.
    if not text.isprintable() or " " in text or len(text) > 256:
        raise InvalidObservable("cryptocurrency-wallet", raw, "not an address-like string")
    try:
        wallet = parse_wallet(text)
    except InvalidWallet as exc:
        raise InvalidObservable("cryptocurrency-wallet", raw, str(exc)) from exc
    # The id comes from the address alone: the same EVM address on two chains is one entity.
    return _make(
        "cryptocurrency-wallet",
        wallet.address,
        {"value": wallet.address},
        validated=wallet.validated,
        family=wallet.family,
    )


_NORMALIZERS: dict[str, Callable[[str], Observable]] = {
    "domain-name": _normalize_domain,
    "hostname": _normalize_hostname,
    "ipv4-addr": _normalize_ipv4,
    "ipv6-addr": _normalize_ipv6,
    "url": _normalize_url,
    "email-addr": _normalize_email,
    "user-account": _normalize_user_account,
    "phone-number": _normalize_phone,
    "autonomous-system": _normalize_as,
    "x509-certificate": _normalize_x509,
    "file": _normalize_file,
    "mac-addr": _normalize_mac,
    "bank-account": _normalize_iban,
    "cryptocurrency-wallet": _normalize_wallet,
}

OBSERVABLE_TYPES: frozenset[str] = frozenset(_NORMALIZERS)


def is_observable_type(type_: str) -> bool:
    return type_ in _NORMALIZERS


def normalize(type_: str, raw: str) -> Observable:
    """Normalize ``raw`` as an observable of STIX type ``type_``.

    Raises :class:`InvalidObservable` (a ``ValueError``) with a human-readable reason.
    """
    normalizer = _NORMALIZERS.get(type_)
    if normalizer is None:
        raise InvalidObservable(type_, raw, "unknown observable type")
    return normalizer(raw)
