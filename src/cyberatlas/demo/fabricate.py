"""Fictitious but well-formed observables, drawn from one seeded random generator.

Everything here is reserved or invented: IPv4 addresses from the documentation ranges
(RFC 5737), AS numbers from the documentation range (RFC 5398), telephone numbers from the
blocks set aside for fiction (North American 555-01xx, Ofcom's London drama range, ARCEP's
01 99 00 range), invented bank codes, and wallets derived from random bytes. Checksums are real, so
every value passes the same validation as data entered by people.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import random
from collections.abc import Callable, Sequence

import base58
import bech32
import schwifty


class Fabricator:
    """Draws values in a fixed order from ``rng``: the same seed gives the same values."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._taken: set[str] = set()

    def _fresh(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            value = make()
            if value not in self._taken:
                self._taken.add(value)
                return value
        raise RuntimeError("the demo ran out of fresh values")  # pragma: no cover

    def token(self, length: int = 3) -> str:
        return "".join(self.rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(length))

    def domain(self, first: Sequence[str], second: Sequence[str], tlds: Sequence[str]) -> str:
        """An invented name such as ``parcel-redelivery-k7q.top``; the token keeps it unreal."""
        return self._fresh(
            lambda: (
                f"{self.rng.choice(first)}-{self.rng.choice(second)}-{self.token()}."
                f"{self.rng.choice(tlds)}"
            )
        )

    def onion(self) -> str:
        """A Tor v3 onion address with a correct checksum (rend-spec, encoding-onion-addresses)."""

        def make() -> str:
            pubkey = self.rng.randbytes(32)
            version = b"\x03"
            checksum = hashlib.sha3_256(b".onion checksum" + pubkey + version).digest()[:2]
            label = base64.b32encode(pubkey + checksum + version).decode().lower()
            return f"{label}.onion"

        return self._fresh(make)

    def ipv4(self, network: str) -> str:
        hosts = list(ipaddress.IPv4Network(network).hosts())
        return self._fresh(lambda: str(self.rng.choice(hosts[9:])))

    def btc(self) -> str:
        """A native segwit (P2WPKH, BIP-173) address over a random 20-byte program."""

        def make() -> str:
            address = bech32.encode("bc", 0, list(self.rng.randbytes(20)))
            assert address is not None
            return address

        return self._fresh(make)

    def evm(self) -> str:
        """An EVM address; cyberatlas stores it with its EIP-55 checksum casing."""
        return self._fresh(lambda: "0x" + self.rng.randbytes(20).hex())

    def tron(self) -> str:
        """A TRON address: base58check over version byte 0x41 and a random 20-byte hash."""
        return self._fresh(
            lambda: base58.b58encode_check(b"\x41" + self.rng.randbytes(20)).decode()
        )

    def iban(self, country: str, bank_code: str) -> str:
        """An IBAN with a valid ISO 13616 checksum at an invented bank code."""
        digits = 10 if country in {"NL", "DE"} else 8

        def make() -> str:
            account = str(self.rng.randrange(10 ** (digits - 1), 10**digits))
            iban = schwifty.IBAN.generate(country, bank_code=bank_code, account_code=account)
            return str(iban.compact)

        return self._fresh(make)

    def phone(self, country: str) -> str:
        """A number from a block reserved for fiction, in E.164."""
        if country == "US":
            area = self.rng.choice(("202", "212", "305", "312", "415", "646", "702", "917"))
            return self._fresh(lambda: f"+1{area}55501{self.rng.randrange(100):02d}")
        if country == "GB":
            return self._fresh(lambda: f"+44207946{self.rng.randrange(1000):04d}")
        if country == "FR":
            return self._fresh(lambda: f"+3319900{self.rng.randrange(10**4):04d}")
        raise ValueError(f"no fictitious numbering block for {country}")

    def sha256(self) -> str:
        return self._fresh(lambda: self.rng.randbytes(32).hex())
