"""Cryptocurrency wallet address recognition, checksum verification and canonicalization.

An address is first classified by its *format* (prefix, alphabet, length). Once a family is
recognised its checksum must verify, otherwise :class:`InvalidWallet` is raised: a typo in a
well-formed address must not silently become a second entity. Strings matching no known format
are kept as-is but flagged ``validated=False`` (new chains appear faster than this module).

Canonical forms are chosen so that every spelling of one address maps to one string:
base58 addresses are case-sensitive and kept verbatim, bech32/CashAddr are lower-cased
(BIP-173 forbids mixed case and defines lower case as canonical), EVM addresses are rendered
with their EIP-55 checksum casing.

Ambiguities, by design: legacy Bitcoin Cash / Litecoin "3…" addresses share BTC's version
bytes and are classified as ``btc``; every EVM chain (Ethereum, BSC, Polygon, …) is ``eth``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import base58
import bech32
from Crypto.Hash import keccak

__all__ = ["InvalidWallet", "WalletAddress", "parse_wallet"]


@dataclass(frozen=True)
class WalletAddress:
    """A parsed wallet address. ``family`` is None (and ``validated`` False) if unrecognised."""

    address: str
    family: str | None
    validated: bool


class InvalidWallet(ValueError):
    """The address has the format of a known family but fails that family's checks."""


_LABELS = {
    "btc": "BTC",
    "ltc": "LTC",
    "bch": "BCH",
    "eth": "EVM",
    "trx": "TRX",
    "xmr": "XMR",
    "doge": "DOGE",
    "dash": "DASH",
}

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _keccak256(data: bytes) -> bytes:
    # Ethereum and Monero use the original Keccak padding, not FIPS-202 SHA3 (hashlib.sha3_256).
    return keccak.new(digest_bits=256, data=data).digest()


# --- base58check (Bitcoin-derived chains and TRON) -----------------------------------------
# https://en.bitcoin.it/wiki/Base58Check_encoding : payload = version byte + 20-byte hash,
# followed by the first 4 bytes of SHA256(SHA256(version + hash)).
# (regex on the whole address, family, accepted version bytes)
_BASE58CHECK_FORMATS: tuple[tuple[re.Pattern[str], str, frozenset[int]], ...] = (
    # P2PKH 0x00 and P2SH 0x05. Leading zero bytes shorten the encoding, hence 26..35 chars.
    (re.compile(f"[13][{_B58}]{{25,34}}"), "btc", frozenset({0x00, 0x05})),
    # Litecoin P2PKH 0x30 ("L") and the newer P2SH 0x32 ("M"); old P2SH reuses 0x05 ("3").
    (re.compile(f"[LM][{_B58}]{{26,33}}"), "ltc", frozenset({0x30, 0x32})),
    # Dogecoin P2PKH 0x1e ("D").
    (re.compile(f"D[{_B58}]{{33}}"), "doge", frozenset({0x1E})),
    # Dash P2PKH 0x4c ("X").
    (re.compile(f"X[{_B58}]{{33}}"), "dash", frozenset({0x4C})),
    # TRON: version byte 0x41 ("T"), always 34 characters.
    (re.compile(f"T[{_B58}]{{33}}"), "trx", frozenset({0x41})),
)


def _parse_base58check(addr: str, family: str, versions: frozenset[int]) -> WalletAddress:
    label = _LABELS[family]
    try:
        payload = base58.b58decode_check(addr)
    except ValueError as exc:  # the base58 package signals a checksum mismatch this way
        raise InvalidWallet(f"bad base58check checksum for a {label} address") from exc
    if len(payload) != 21:
        raise InvalidWallet(f"{label} address payload is {len(payload)} bytes, expected 21")
    if payload[0] not in versions:
        raise InvalidWallet(f"unexpected version byte 0x{payload[0]:02x} for a {label} address")
    return WalletAddress(addr, family, validated=True)


# --- bech32 / bech32m segwit (BTC "bc1…", LTC "ltc1…") --------------------------------------
# BIP-173 https://github.com/bitcoin/bips/blob/master/bip-0173.mediawiki (bech32, witness v0)
# BIP-350 https://github.com/bitcoin/bips/blob/master/bip-0350.mediawiki (bech32m, v1+ e.g.
# taproot). The `bech32` package (1.2.0) only knows the original constant 1, so the bech32m
# check reuses its polymod with BIP-350's constant.
_BECH32M_CONST = 0x2BC830A3
_SEGWIT_RE = re.compile(r"(bc|ltc)1[02-9ac-hj-np-z]{6,87}", re.IGNORECASE)
_SEGWIT_FAMILY = {"bc": "btc", "ltc": "ltc"}


def _parse_segwit(addr: str, hrp: str) -> WalletAddress:
    family = _SEGWIT_FAMILY[hrp]
    label = _LABELS[family]
    if addr != addr.lower() and addr != addr.upper():
        raise InvalidWallet(f"mixed-case bech32 {label} address (BIP-173 forbids it)")
    if len(addr) > 90:
        raise InvalidWallet(f"bech32 {label} address longer than 90 characters")
    addr = addr.lower()
    witver, _ = bech32.decode(hrp, addr)
    if witver is not None:
        if witver != 0:
            raise InvalidWallet(f"witness v{witver} {label} address must use bech32m (BIP-350)")
        return WalletAddress(addr, family, validated=True)
    # Not a valid v0 bech32 address: try bech32m (BIP-350 "Decoding").
    data = [bech32.CHARSET.index(c) for c in addr[len(hrp) + 1 :]]
    polymod = bech32.bech32_polymod(bech32.bech32_hrp_expand(hrp) + data)
    if polymod == 1:  # checksum fine as bech32, but bech32.decode() rejected the program
        raise InvalidWallet(f"invalid witness program in a bech32 {label} address")
    if polymod != _BECH32M_CONST:
        raise InvalidWallet(f"bad bech32 checksum for a {label} address")
    witver = data[0]
    program = bech32.convertbits(data[1:-6], 5, 8, False)
    if witver == 0:
        raise InvalidWallet(f"witness v0 {label} address must use bech32, not bech32m")
    if witver > 16 or program is None or not 2 <= len(program) <= 40:
        raise InvalidWallet(f"invalid witness program in a bech32m {label} address")
    return WalletAddress(addr, family, validated=True)


# --- CashAddr (Bitcoin Cash) ------------------------------------------------------------------
# https://github.com/bitcoincashorg/bitcoincash.org/blob/master/spec/cashaddr.md
# Same base32 alphabet as bech32, but a 40-bit BCH checksum over the prefix and payload.
_CASHADDR_PREFIX = "bitcoincash"
_CASHADDR_RE = re.compile(
    r"(?:bitcoincash:[02-9ac-hj-np-z]{8,120}|[qp](?:[02-9ac-hj-np-z]{41}|[02-9ac-hj-np-z]{60}))",
    re.IGNORECASE,
)
_CASHADDR_GENERATORS = (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)
# Hash length in bytes indexed by the 3 "size" bits of the version byte.
_CASHADDR_SIZES = (20, 24, 28, 32, 40, 48, 56, 64)


def _cashaddr_polymod(values: list[int]) -> int:
    """The spec's PolyMod; a valid address yields 0."""
    c = 1
    for d in values:
        c0 = c >> 35
        c = ((c & 0x07FFFFFFFF) << 5) ^ d
        for i, gen in enumerate(_CASHADDR_GENERATORS):
            if (c0 >> i) & 1:
                c ^= gen
    return c ^ 1


def _parse_cashaddr(addr: str) -> WalletAddress:
    if addr != addr.lower() and addr != addr.upper():
        raise InvalidWallet("mixed-case CashAddr BCH address")
    payload = addr.lower().removeprefix(_CASHADDR_PREFIX + ":")
    data = [bech32.CHARSET.index(c) for c in payload]
    prefix = [ord(c) & 0x1F for c in _CASHADDR_PREFIX]
    if _cashaddr_polymod([*prefix, 0, *data]) != 0:
        raise InvalidWallet("bad CashAddr checksum for a BCH address")
    decoded = bech32.convertbits(data[:-8], 5, 8, False)
    if not decoded or decoded[0] & 0x80:
        raise InvalidWallet("invalid CashAddr payload for a BCH address")
    if len(decoded) - 1 != _CASHADDR_SIZES[decoded[0] & 0x07]:
        raise InvalidWallet("CashAddr hash length does not match its version byte")
    return WalletAddress(f"{_CASHADDR_PREFIX}:{payload}", "bch", validated=True)


# --- EVM (Ethereum and compatible chains) -----------------------------------------------------
# EIP-55 https://eips.ethereum.org/EIPS/eip-55 : a hex letter is upper-case iff the matching
# nibble of keccak256(lower-case hex address) is >= 8.
_EVM_RE = re.compile(r"0[xX][0-9a-fA-F]{40}")


_HIGH_NIBBLE = bytes.maketrans(b"0123456789abcdef", b"\0" * 8 + b" " * 8)  # >= 8: 0x20
_LETTER = bytes.maketrans(b"0123456789abcdef", b"\0" * 10 + b" " * 6)  # a-f: 0x20


def _eip55(hex40: str) -> str:
    """All 40 letters at once: 0x20 (the ASCII case bit) where the letter is a-f and the
    digest's nibble is 8 or more, flipped into the lower-case address as one integer."""
    lower = hex40.lower().encode("ascii")
    digest = _keccak256(lower).hex()[:40].encode("ascii")
    flip = int.from_bytes(digest.translate(_HIGH_NIBBLE), "big") & int.from_bytes(
        lower.translate(_LETTER), "big"
    )
    return "0x" + (int.from_bytes(lower, "big") ^ flip).to_bytes(40, "big").decode("ascii")


def _parse_evm(addr: str) -> WalletAddress:
    hex40 = addr[2:]
    canonical = _eip55(hex40)
    mixed = hex40 != hex40.lower() and hex40 != hex40.upper()
    if mixed and canonical[2:] != hex40:
        raise InvalidWallet("bad EIP-55 checksum for an EVM address")
    return WalletAddress(canonical, "eth", validated=True)


# --- Monero -------------------------------------------------------------------------------------
# Monero's base58 encodes 8-byte blocks as 11 characters each (last block shorter), see
# https://github.com/monero-project/monero/blob/master/src/common/base58.cpp
# Address = varint network tag + public spend key (32) + public view key (32)
# [+ payment id (8) for integrated addresses] + first 4 bytes of keccak256(everything before).
_XMR_RE = re.compile(f"[48][{_B58}]{{94}}|4[{_B58}]{{105}}")
_XMR_ENCODED_BLOCK_SIZES = (0, 2, 3, 5, 6, 7, 9, 10, 11)  # index = decoded byte count
# (network tag, total decoded length, first character)
_XMR_KINDS = {0x12: (69, "4"), 0x2A: (69, "8"), 0x13: (77, "4")}  # standard, sub, integrated


def _monero_b58decode(text: str) -> bytes:
    out = bytearray()
    for start in range(0, len(text), 11):
        block = text[start : start + 11]
        size = _XMR_ENCODED_BLOCK_SIZES.index(len(block))
        value = base58.b58decode_int(block)
        if value >> (8 * size):
            raise InvalidWallet("Monero base58 block overflow")
        out += value.to_bytes(size, "big")
    return bytes(out)


def _parse_monero(addr: str) -> WalletAddress:
    raw = _monero_b58decode(addr)
    body, checksum = raw[:-4], raw[-4:]
    if _keccak256(body)[:4] != checksum:
        raise InvalidWallet("bad keccak checksum for an XMR address")
    kind = _XMR_KINDS.get(raw[0])
    if kind is None or kind != (len(raw), addr[0]):
        raise InvalidWallet(f"unexpected network tag 0x{raw[0]:02x} for an XMR address")
    return WalletAddress(addr, "xmr", validated=True)


def parse_wallet(raw: str) -> WalletAddress:
    """Classify, verify and canonicalize a wallet address.

    Raises :class:`InvalidWallet` if ``raw`` has a known family's format but fails its checks;
    returns ``WalletAddress(raw.strip(), None, False)`` when no family's format matches.
    """
    addr = raw.strip()
    if _EVM_RE.fullmatch(addr):
        return _parse_evm(addr)
    segwit = _SEGWIT_RE.fullmatch(addr)
    if segwit:
        return _parse_segwit(addr, segwit.group(1).lower())
    if _CASHADDR_RE.fullmatch(addr):
        return _parse_cashaddr(addr)
    if _XMR_RE.fullmatch(addr):
        return _parse_monero(addr)
    for pattern, family, versions in _BASE58CHECK_FORMATS:
        if pattern.fullmatch(addr):
            return _parse_base58check(addr, family, versions)
    return WalletAddress(addr, None, validated=False)
