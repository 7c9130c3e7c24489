"""Plain-text report importer: indicators found in prose, one ``observed-in`` claim each.

Every indicator a report mentions becomes ``Claim(subject=Ref(type, value), predicate=
"observed-in", value=<report title>)``, located at the line where it first appears; an
indicator repeated in the report is claimed once. The title is the first non-empty line of the
report, unless that line is a comment (``#``, ``//``) or itself an indicator: then the file name.

What is found, after undoing defanging (``hxxp``, ``[.]``, ``(dot)``, ``[@]``… with
:func:`cyberatlas.core.observables.refang`):

- URLs with a scheme (iocextract's URL regex; its invented ``http://`` for bare hosts is
  refused: a URL needs a scheme written in the text), IPv4/IPv6 addresses (global ones only:
  private and documentation ranges describe the victim's network or examples), MD5/SHA-1/
  SHA-256/SHA-512 hashes (iocextract), e-mail addresses;
- domain names: defanged ones always; plain ones only when written in lower case (code names
  such as ``System.Net`` are not domains) and, when they end in a TLD that is also a common file
  extension (``setup.py``, ``archive.zip``, ``README.md``), only when they stand alone on their
  line or are followed by a path or port;
- cryptocurrency wallets (BTC base58/bech32, LTC, DOGE, DASH, BCH CashAddr, EVM ``0x…``, TRON,
  Monero), kept only when :func:`cyberatlas.core.wallets.parse_wallet` validates their checksum;
- IBANs that pass schwifty's checksum, phone numbers in international format (``+CC…``) that
  ``phonenumbers`` deems valid, Telegram accounts from ``t.me/NAME`` links and from ``@NAME`` on
  a line that mentions Telegram.

Indicators inside a URL or an e-mail address are not claimed again on their own (a URL's host,
an address's domain): the report names the URL, not the host. Lines starting with ``#`` are
comments (IoC lists, hosts files); ``# Reference: URL`` (maltrail's convention) becomes the
source of the claims below it, else the source is the file name.

The report is streamed: bytes are decoded as UTF-8 piece by piece (a BOM is allowed), and a
long line is cut at whitespace into pieces of at most ``_CHUNK`` characters for the regexes, so
a 10 MB single line takes linear time and bounded memory. Invalid UTF-8 or a NUL byte (binary
data, UTF-16) is a :class:`FileError` naming the line and byte offset.
"""

from __future__ import annotations

import codecs
import functools
import ipaddress
import re
import warnings
from collections.abc import Iterator
from typing import BinaryIO

import phonenumbers
import schwifty
from schwifty.exceptions import SchwiftyException

from cyberatlas.core.observables import InvalidObservable, normalize, refang
from cyberatlas.core.tlp import Marking
from cyberatlas.core.wallets import InvalidWallet, parse_wallet

from .records import Claim, FileError, ImportContext, Record, Ref

with warnings.catch_warnings():
    # iocextract 1.16 has invalid escape sequences; compiling it without a cached .pyc under
    # ``-W error`` would turn those warnings into a SyntaxError.
    warnings.simplefilter("ignore")
    import iocextract

__all__ = ["TextImporter", "find_indicators", "utf8_pieces"]

_READ = 1 << 16  # bytes read at a time from one line
_CHUNK = 16_384  # characters of text one regex pass sees at most
_TITLE_MAX = 200

# --- decoding ------------------------------------------------------------------------------


def utf8_pieces(stream: BinaryIO, *, size: int = _READ) -> Iterator[tuple[int, str, bool]]:
    """Decode ``stream`` as UTF-8: ``(line number, text, ends the line)`` pieces.

    A piece holds at most ``size`` bytes of input; its text has no line terminator. Raises
    :class:`FileError` on invalid UTF-8 (with the line and byte offset) and on NUL bytes.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    line, offset = 1, 0
    while True:
        try:
            raw = stream.readline(size)
        except OSError as exc:
            raise FileError(f"cannot read the input: {exc}", location=f"line {line}") from None
        if offset == 0 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise FileError("UTF-16 text (byte-order mark): save it as UTF-8", location="line 1")
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            at = offset - pending + exc.start
            raise FileError(
                f"not UTF-8: invalid byte 0x{exc.object[exc.start]:02x} at byte offset {at}",
                location=f"line {line}",
            ) from None
        offset += len(raw)
        if not raw:
            return
        if "\x00" in text:
            raise FileError(
                "NUL byte: binary data or UTF-16, not UTF-8 text", location=f"line {line}"
            )
        ends = text.endswith("\n")
        if ends:
            text = text[:-1].removesuffix("\r")
        yield line, text, ends
        if ends:
            line += 1


# --- finding indicators --------------------------------------------------------------------

_SPACES = re.compile(r"[^\S\n]{2,}")
_URL: re.Pattern[str] = iocextract.url_re()
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_URL_TRAIL = ".,;:!?'\")]}>"
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][\w.+-]{0,63}@(?:[\w-]{1,63}\.)+[^\W\d_]{2,63}(?![\w-]|\.[\w-])"
)
_B58 = "1-9A-HJ-NP-Za-km-z"
_BECH = "02-9ac-hj-np-zAC-HJ-NP-Z"
_WALLET = re.compile(
    rf"(?<![\w])(?:0x[0-9a-fA-F]{{40}}|(?:bc|BC|ltc|LTC)1[{_BECH}]{{6,87}}"
    rf"|bitcoincash:[qp][{_BECH}]{{40,60}}|[13LMDXT48][{_B58}]{{25,105}})(?![\w])"
)
# Not iocextract.extract_ipv4s: for every match it yields the last 4-octet run of the whole
# text ("1.2.3.4.5" anywhere turns all addresses into "2.3.4.5") and scans the text once per match.
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.])(?:{_OCTET}\.){{3}}{_OCTET}(?:/\d{{1,2}})?(?!\d|\.\d)")
_DOMAIN = re.compile(r"(?<![\w.@/-])(?:[\w-]{1,63}\.){1,10}[^\W\d_][\w-]{1,62}(?![\w-]|\.[\w-])")
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![\w])")
_REFERENCE = re.compile(r"\s*#+\s*Reference:\s*(\S+)", re.IGNORECASE)
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")  # one cheap pass before iocextract's four
_PHONE_STRETCH = re.compile(r"(?<![\w+])\+\d[\d ().-]{5,22}\d")
_TME = re.compile(r"(?<![\w.])(?:https?://)?(?:t|telegram)\.me/(@?[A-Za-z]\w{3,31})(?![\w/])")
_AT_HANDLE = re.compile(r"(?<![\w@.])@([A-Za-z]\w{4,31})(?![\w@])")
# t.me paths that are not accounts (invites, sticker packs, share links, proxies…).
_TME_RESERVED = frozenset({"joinchat", "addstickers", "share", "proxy", "socks", "iv", "addtheme"})
# TLDs that are also everyday file extensions: a plain "setup.py" is a file, not a domain.
_FILE_TLDS = frozenset({"zip", "mov", "py", "sh", "pl", "rs", "md", "ps", "cab", "cat", "pm"})


@functools.lru_cache(maxsize=8192)  # reports and lists repeat indicators; bounded
def _valid(type_: str, raw: str) -> str | None:
    """The normalized key of ``raw``, or None when the core would refuse it."""
    try:
        return normalize(type_, raw).key
    except InvalidObservable:
        return None


def _mask(text: str, found: str) -> str:
    return text.replace(found, " " * len(found))


def _urls(text: str) -> Iterator[str]:
    # Only iocextract's scheme-anchored URL regex: its bracket and backslash ones take
    # quadratic time on long runs of word characters and dots, and the text is refanged here
    # already. It also matches "scheme-like" fragments: only a real scheme makes a URL.
    for match in _URL.finditer(text):
        url = match.group(1).rstrip(_URL_TRAIL)
        if _SCHEME.match(url) and _valid("url", url):
            yield url


def _wallets(text: str) -> Iterator[str]:
    for match in _WALLET.finditer(text):
        try:
            wallet = parse_wallet(match.group())
        except InvalidWallet:
            continue  # the format of a wallet but a bad checksum: an ordinary word or a typo
        if wallet.validated:
            yield match.group()


def _ibans(text: str) -> Iterator[str]:
    for match in _IBAN.finditer(text):
        groups = match.group().split(" ") if " " in match.group() else [match.group()]
        # The regex may swallow a following upper-case word: drop groups until it validates.
        while len(groups) >= 1:
            candidate = " ".join(groups)
            try:
                schwifty.IBAN(candidate)
            except SchwiftyException:
                groups = groups[:-1]
                if len(groups) < 3:
                    break
                continue
            yield candidate
            break


def _phones(text: str) -> Iterator[str]:
    # The matcher only sees short stretches that start with "+" and a digit: international
    # format only, and it stays fast on text with many "+" signs.
    for stretch in _PHONE_STRETCH.finditer(text):
        leniency = phonenumbers.Leniency.VALID
        for match in phonenumbers.PhoneNumberMatcher(stretch.group(), None, leniency=leniency):
            if match.raw_string.startswith("+"):
                yield match.raw_string


def _telegram(text: str) -> Iterator[str]:
    for match in _TME.finditer(text):
        handle = match.group(1).removeprefix("@")
        if handle.lower() not in _TME_RESERVED:
            yield f"telegram:{handle}"
    if "telegram" in text.lower():
        for match in _AT_HANDLE.finditer(text):
            yield f"telegram:{match.group(1)}"


def _plain_domain_ok(domain: str, *, alone: bool) -> bool:
    """A domain written plainly: lower case, and a file-like TLD only when it stands alone
    (a list line) or is followed by a path or port (a URL written without its scheme)."""
    return domain == domain.lower() and (alone or domain.rsplit(".", 1)[-1] not in _FILE_TLDS)


def find_indicators(chunk: str) -> Iterator[tuple[str, str]]:
    """``(observable type, raw value)`` for every indicator in a piece of text.

    Values are refanged but not normalized; each has passed the core's normalization, so the
    ingest core will take it. The same indicator may be yielded more than once.
    """
    for type_, raw, _key in _found(chunk):
        yield type_, raw


def _found(chunk: str) -> Iterator[tuple[str, str, str]]:
    """``(type, raw value, normalized key)`` for every indicator in ``chunk``."""
    original = chunk.lower()
    # Collapsing runs of blanks keeps the refang rules (which allow blanks around brackets)
    # linear on pathological input such as a line of spaces.
    text = refang(_SPACES.sub(" ", chunk))
    candidates: list[tuple[str, str]] = [("user-account", a) for a in _telegram(text)]
    text = _TME.sub(lambda m: " " * len(m.group()), text)  # the account, not "t.me"
    for url in _urls(text):
        candidates.append(("url", url))
        text = _mask(text, url)
    for match in _EMAIL.finditer(text):
        candidates.append(("email-addr", match.group()))
        text = _mask(text, match.group())
    for wallet in _wallets(text):
        candidates.append(("cryptocurrency-wallet", wallet))
        text = _mask(text, wallet)
    hashes = iocextract.extract_hashes(text) if _HEX32.search(text) else ()
    for digest in hashes:
        # All-decimal or near-constant strings are counters and padding, not digests.
        if not digest.isdigit() and len(set(digest.lower())) > 4:
            candidates.append(("file", digest))
    for match in _IPV4.finditer(text):
        address = match.group()
        if "/" in address and _valid("ipv4-addr", address) is None:
            address = address.split("/")[0]  # host bits set: the address alone
        candidates.append(("ipv4-addr", address))
    candidates.extend(("ipv6-addr", c) for c in iocextract.extract_ipv6s(text) if c.count(":") > 2)
    for match in _DOMAIN.finditer(text):
        domain = match.group()
        # Not written as is in the original: it was defanged, so it is meant as an indicator.
        alone = domain == text.strip() or text[match.end() : match.end() + 1] in ("/", ":")
        if domain.lower() not in original or _plain_domain_ok(domain, alone=alone):
            candidates.append(("domain-name", domain))
    candidates.extend(("bank-account", iban) for iban in _ibans(text))
    candidates.extend(("phone-number", phone) for phone in _phones(text))
    for type_, raw in candidates:
        key = _valid(type_, raw)
        if key is None:
            continue
        if type_.startswith("ipv") and not ipaddress.ip_network(key).is_global:
            continue  # private, loopback and documentation ranges are not indicators
        yield type_, raw, key


def _chunks(text: str, carry: str) -> tuple[list[str], str]:
    """Cut ``carry + text`` into chunks of at most ``_CHUNK`` characters at whitespace."""
    buffer = carry + text
    out: list[str] = []
    while len(buffer) > _CHUNK:
        cut = max(buffer.rfind(" ", 0, _CHUNK), buffer.rfind("\t", 0, _CHUNK))
        if cut < _CHUNK // 2:
            cut = _CHUNK  # no whitespace near the end: a hard cut (may split one token)
        out.append(buffer[:cut])
        buffer = buffer[cut:]
    return out, buffer


# --- the importer --------------------------------------------------------------------------


def _title(line: str, filename: str) -> str:
    stripped = " ".join(line.split())
    is_indicator = any(raw == stripped for _, raw in find_indicators(stripped))
    if not stripped or stripped.startswith(("#", "//")) or is_indicator:
        return filename or "text report"
    return stripped[:_TITLE_MAX]


class TextImporter:
    """Indicators in a plain-text report (see the module docstring)."""

    name = "text"
    media_types: tuple[str, ...] = ("text/plain",)

    def default_marking(self) -> Marking | None:
        return None  # plain text carries no marking: the command needs --tlp

    def read(self, stream: BinaryIO, context: ImportContext) -> Iterator[Record]:
        title: str | None = None
        seen: set[tuple[str, str]] = set()  # (type, key): an indicator is claimed once
        source = context.filename
        carry, last, comment, line_start = "", 1, False, True
        for line, piece, ends in utf8_pieces(stream):
            if title is None:
                if not piece.strip() and ends:
                    continue
                title = _title(piece[:4096], context.filename)
            if line_start:
                # Comment lines (IoC lists, hosts files, maltrail trails) are not indicators;
                # "# Reference: URL" gives the source of the lines below it.
                comment = piece.lstrip().startswith("#")
                reference = _REFERENCE.match(piece) if comment else None
                if reference:
                    source = reference.group(1)[:2048]
            last, line_start = line, ends
            if comment:
                continue
            chunks, carry = _chunks(piece, carry)
            if ends:
                chunks.append(carry)
                carry = ""
            for chunk in chunks:
                yield from self._claims(chunk, f"line {line}", title, source, seen)
        if carry and title is not None:
            yield from self._claims(carry, f"line {last}", title, source, seen)

    @staticmethod
    def _claims(
        chunk: str, location: str, title: str, source: str, seen: set[tuple[str, str]]
    ) -> Iterator[Claim]:
        for type_, raw, key in _found(chunk):
            if (type_, key) in seen:
                continue
            seen.add((type_, key))
            yield Claim(
                location=location,
                subject=Ref(type_, value=raw),
                predicate="observed-in",
                value=title,
                source=source,
            )
