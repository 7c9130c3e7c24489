"""Wallet address parsing: real, published addresses per family, and their corruptions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cyberatlas.core.wallets import InvalidWallet, WalletAddress, _eip55, _keccak256, parse_wallet

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

# (input, family, canonical). Sources: the Bitcoin genesis block; BIP-173/BIP-350 test vectors;
# the CashAddr spec's examples; EIP-55's examples; the Monero project's donation address and
# Monero documentation examples; well-known TRON, Litecoin, Dogecoin and Dash addresses.
VALID = [
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "btc", None),
    ("3CWFddi6m4ndiGyKqzYvsFYagqDLPVMTzC", "btc", None),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "btc", None),
    (
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "btc",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    ),
    ("bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", "btc", None),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "btc", None),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "btc",
        None,
    ),
    ("BC1SW50QGDZ25J", "btc", "bc1sw50qgdz25j"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "btc", None),
    ("LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9", "ltc", None),
    ("M7uWktm4AttpT71jJco9LVZcTnCT77yGzp", "ltc", None),
    ("ltc1qg42tkwuuxefutzxezdkdel39gfstuap288mfea", "ltc", None),
    ("ltc1qhxka8d59lylj76rpsflhagp76nvckggd8x0tt7jtnphpkmfv3snsk6suq0", "ltc", None),
    ("bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a", "bch", None),
    ("bitcoincash:qr95sy3j9xwd2ap32xkykttr4cvcu7as4y0qverfuy", "bch", None),
    ("bitcoincash:ppm2qsznhks23z7629mms6s4cwef74vcwvn0h829pq", "bch", None),
    ("bitcoincash:pqq3728yw0y47sqn6l2na30mcw6zm78dzq5ucqzc37", "bch", None),
    (
        "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
        "bch",
        "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
    ),
    (
        "BITCOINCASH:QPM2QSZNHKS23Z7629MMS6S4CWEF74VCWVY22GDX6A",
        "bch",
        "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
    ),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "eth", None),
    ("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "eth", None),
    ("0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "eth", None),
    ("0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", "eth", None),
    ("0x52908400098527886E0F7030069857D2E4169EE7", "eth", None),
    ("0xde709f2102306220921060314715629080e2fb77", "eth", None),
    ("TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7", "trx", None),
    ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "trx", None),
    (
        "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
        "xmr",
        None,
    ),
    (
        "888tNkZrPN6JsEgekjMnABU4TBzc2Dt29EPAvkRxbANsAnjyPbb3iQ1YBRk1UXcdRsiKc9dhwMVgN5S9cQUiyoogDavup3H",
        "xmr",
        None,
    ),
    (
        "4LL9oSLmtpccfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2bYXZKKQePHES9khPK",
        "xmr",
        None,
    ),
    ("DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L", "doge", None),
    ("XdAUmwtig27HBG6WfYyHAzP8n6XC9jESEw", "dash", None),
]


@pytest.mark.parametrize(("raw", "family", "canonical"), VALID)
def test_valid_addresses(raw: str, family: str, canonical: str | None) -> None:
    assert parse_wallet(f"  {raw}\n") == WalletAddress(canonical or raw, family, validated=True)


def _replace(addr: str, index: int, alphabet: str) -> str:
    """Swap the character at ``index`` for the next one of ``alphabet`` (same format)."""
    old = addr[index]
    new = alphabet[(alphabet.index(old) + 1) % len(alphabet)]
    return addr[:index] + new + addr[index + 1 :]


# (corrupted address, expected reason fragment): one flipped character per family.
CORRUPTED = [
    (_replace("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", 20, B58), "checksum for a BTC address"),
    (_replace("3CWFddi6m4ndiGyKqzYvsFYagqDLPVMTzC", 20, B58), "checksum for a BTC address"),
    (
        _replace("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", 20, BECH32),
        "bad bech32 checksum for a BTC address",
    ),
    (
        _replace("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", 20, BECH32),
        "bad bech32 checksum for a BTC address",
    ),
    (_replace("LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9", 20, B58), "checksum for a LTC address"),
    (
        _replace("ltc1qg42tkwuuxefutzxezdkdel39gfstuap288mfea", 20, BECH32),
        "bad bech32 checksum for a LTC address",
    ),
    (
        _replace("bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a", 30, BECH32),
        "bad CashAddr checksum for a BCH address",
    ),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "bad EIP-55 checksum"),
    (_replace("TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7", 20, B58), "checksum for a TRX address"),
    (
        _replace(
            "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
            50,
            B58,
        ),
        "bad keccak checksum for an XMR address",
    ),
    (_replace("DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L", 20, B58), "checksum for a DOGE address"),
    (_replace("XdAUmwtig27HBG6WfYyHAzP8n6XC9jESEw", 20, B58), "checksum for a DASH address"),
]


@pytest.mark.parametrize(("raw", "reason"), CORRUPTED)
def test_corrupted_addresses_are_rejected(raw: str, reason: str) -> None:
    with pytest.raises(InvalidWallet, match=reason):
        parse_wallet(raw)


# BIP-350 "invalid addresses" vectors and other structural failures.
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        # witness v1 with a bech32 (not bech32m) checksum
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "must use bech32m"),
        # witness v0 with a bech32m checksum
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "must use bech32, not bech32m"),
        ("BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", "must use bech32m"),
        ("bc1gmk9yu", "invalid witness program"),
        ("bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "mixed-case"),
        ("bitcoincash:Qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a", "mixed-case"),
        ("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "bad EIP-55 checksum"),
    ],
)
def test_structural_failures(raw: str, reason: str) -> None:
    with pytest.raises(InvalidWallet, match=reason):
        parse_wallet(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
        "0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    ],
)
def test_evm_addresses_canonicalize_to_eip55(raw: str) -> None:
    assert parse_wallet(raw).address == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@settings(max_examples=300, deadline=None)
@given(st.text("0123456789abcdefABCDEF", min_size=40, max_size=40))
def test_eip55_is_the_specifications_letter_by_letter_rule(hex40: str) -> None:
    """EIP-55: a letter is upper-case where the nibble of keccak256(lower-case address) at its
    place is 8 or more."""
    lower = hex40.lower()
    digest = _keccak256(lower.encode("ascii")).hex()
    expected = "0x" + "".join(
        c.upper() if c in "abcdef" and int(h, 16) >= 8 else c
        for c, h in zip(lower, digest, strict=False)
    )
    assert _eip55(hex40) == expected
    assert parse_wallet("0x" + lower).address == expected


@pytest.mark.parametrize(
    "raw",
    ["", "hello", "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", "addr1qx2fxv2umyhttkxyxp8x", "1A1z"],
)
def test_unrecognised_formats_are_kept_unvalidated(raw: str) -> None:
    assert parse_wallet(f" {raw} ") == WalletAddress(raw, None, validated=False)


def test_unrecognised_keeps_case() -> None:
    assert parse_wallet("SomeNewChainAddr").address == "SomeNewChainAddr"


# Text shaped like each family, so the fuzzing reaches the decoders and not only the regexes.
_shaped = st.one_of(
    st.text(),
    st.builds(lambda s: "bc1" + s, st.text(alphabet=BECH32 + BECH32.upper(), max_size=90)),
    st.builds(lambda s: "ltc1" + s, st.text(alphabet=BECH32, min_size=6, max_size=87)),
    st.builds(lambda s: "bitcoincash:" + s, st.text(alphabet=BECH32, min_size=8, max_size=120)),
    st.builds(lambda s: "q" + s, st.text(alphabet=BECH32, min_size=41, max_size=41)),
    st.builds(
        lambda s: "0x" + s, st.text(alphabet="0123456789abcdefABCDEF", min_size=40, max_size=40)
    ),
    st.builds(
        lambda c, s: c + s, st.sampled_from("48"), st.text(alphabet=B58, min_size=94, max_size=105)
    ),
    st.builds(
        lambda c, s: c + s,
        st.sampled_from("13LMDXT"),
        st.text(alphabet=B58, min_size=24, max_size=35),
    ),
)


@settings(max_examples=500, deadline=None)
@given(_shaped)
def test_parse_wallet_raises_only_invalid_wallet(raw: str) -> None:
    try:
        result = parse_wallet(raw)
    except InvalidWallet:
        return
    assert isinstance(result, WalletAddress)
    assert result.validated == (result.family is not None)
    # Canonical forms are fixed points.
    assert parse_wallet(result.address) == result
