"""Time-ordered identifiers for statements.

Random (version 4) UUIDs scatter the inserts of a large import over every page of each index
that holds them; once the indexes outgrow the page cache each insert costs a read. A statement
id here is a "COMB" UUID: the layout of RFC 9562's version 7 (48 bits of Unix milliseconds, a
12-bit counter that keeps ids of the same millisecond in order, 62 random bits) under the
version-4 shape, because a statement's id is also the id of the STIX relationship it exports as,
and STIX 2.1 (section 2.9) asks for version 4 UUIDs there. Ids made later by this process sort
after earlier ones; two processes interleave by time.
"""

from __future__ import annotations

import os
import time
import uuid
from array import array

_state = {"ms": 0, "counter": 0}
_VERSION_4 = 0x4 << 76
_VARIANT = 0b10 << 62
_MS = (1 << 48) - 1
_RANDOM = (1 << 62) - 1


def _next_tick() -> tuple[int, int]:
    ms = time.time_ns() // 1_000_000
    if ms > _state["ms"]:
        _state["ms"], _state["counter"] = ms, int.from_bytes(os.urandom(2)) & 0x3FF
    else:
        _state["counter"] += 1
        if _state["counter"] > 0xFFF:  # 4,096 ids in one millisecond: borrow the next one
            _state["ms"], _state["counter"] = _state["ms"] + 1, 0
    return _state["ms"], _state["counter"]


def _compose(ms: int, counter: int, random_bits: int) -> int:
    return (ms & _MS) << 80 | _VERSION_4 | counter << 64 | _VARIANT | random_bits & _RANDOM


def ordered_uuid() -> uuid.UUID:
    """A version-4-shaped UUID that sorts by creation time (see the module's docstring)."""
    return uuid.UUID(int=_compose(*_next_tick(), int.from_bytes(os.urandom(8))))


def ordered_uuids(count: int) -> list[int]:
    """``count`` ordered ids as integers, cheaper than one call each: the block of counter
    values is reserved at once (running into the following milliseconds past 4,096)."""
    if count <= 0:
        return []
    ms, first = _next_tick()
    last = first + count - 1
    _state["ms"], _state["counter"] = ms + last // 4096, last % 4096
    fixed = _VERSION_4 | _VARIANT
    return [
        ((ms + n // 4096) & _MS) << 80 | fixed | (n % 4096) << 64 | noise & _RANDOM
        for n, noise in zip(range(first, last + 1), array("Q", os.urandom(8 * count)), strict=True)
    ]
