"""Time-ordered statement ids."""

from __future__ import annotations

import time
import uuid

from cyberatlas.core import ids


def test_ids_sort_by_creation_and_keep_the_version_4_shape():
    made = ids.ordered_uuids(10_000) + [ids.ordered_uuid().int for _ in range(100)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    for number in made[:50] + made[-50:]:
        value = uuid.UUID(int=number)
        assert value.version == 4
        assert value.variant == uuid.RFC_4122


def test_the_first_48_bits_are_the_time_in_milliseconds():
    before = time.time_ns() // 1_000_000
    made = ids.ordered_uuid()
    after = time.time_ns() // 1_000_000
    assert before <= made.int >> 80 <= after + 1


def test_more_than_4096_ids_in_a_millisecond_borrow_the_next_one(monkeypatch):
    monkeypatch.setattr(ids, "_state", {"ms": 0, "counter": 0})
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_700_000_000_000 * 1_000_000)
    made = ids.ordered_uuids(5000)
    assert made == sorted(made)
    assert len(set(made)) == 5000
    assert {n >> 80 for n in made} == {1_700_000_000_000, 1_700_000_000_001}
    # The next ids, still in that (frozen) millisecond, follow the block.
    more = [*ids.ordered_uuids(3), ids.ordered_uuid().int]
    assert made + more == sorted(made + more)
    last = (made[-1] >> 64) & 0xFFF
    assert [(n >> 64) & 0xFFF for n in more] == [last + 1, last + 2, last + 3, last + 4]
