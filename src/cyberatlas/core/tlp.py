"""TLP 2.0 markings and the pure rule of who may read a statement.

The rule here is the reference the SQL filter in ``knowledge/policy.py`` implements; the
property tests check that both give the same answer for every user and statement.
See https://www.first.org/tlp/ for the TLP 2.0 definitions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Marking(enum.IntEnum):
    """TLP 2.0 markings, ordered from least to most strict."""

    CLEAR = 0
    GREEN = 1
    AMBER = 2
    AMBER_STRICT = 3
    RED = 4

    @property
    def label(self) -> str:
        return "TLP:" + self.slug.upper()

    @property
    def slug(self) -> str:
        return _SLUGS[self]

    @classmethod
    def parse(cls, text: str) -> Marking:
        """Parse ``amber+strict``, ``TLP:AMBER+STRICT``, ``white`` (TLP 1.0) and the like."""
        cleaned = text.strip().lower().removeprefix("tlp:").replace("_", "+").replace(" ", "")
        cleaned = _ALIASES.get(cleaned, cleaned)
        for marking, slug in _SLUGS.items():
            if slug == cleaned:
                return marking
        choices = ", ".join(_SLUGS.values())
        raise ValueError(f"unknown TLP marking {text!r}; expected one of {choices}")

    @property
    def grantable(self) -> bool:
        """Grants (RED recipients, releases to partners) exist only on AMBER and RED."""
        return self in (Marking.AMBER, Marking.RED)


_SLUGS = {
    Marking.CLEAR: "clear",
    Marking.GREEN: "green",
    Marking.AMBER: "amber",
    Marking.AMBER_STRICT: "amber+strict",
    Marking.RED: "red",
}
_ALIASES = {"white": "clear", "amberstrict": "amber+strict"}


def strictest(markings: Iterable[Marking]) -> Marking:
    """The marking a derived result carries: the strictest of what it was derived from."""
    return max(markings, default=Marking.CLEAR)


@dataclass(frozen=True)
class Reader:
    """What the policy needs to know about a reader."""

    user_id: int
    org_id: int
    active: bool
    investigation_ids: frozenset[int]
    granted_statement_ids: frozenset[object]


@dataclass(frozen=True)
class Audience:
    """What the policy needs to know about one version of a statement."""

    statement_id: object
    marking: Marking
    org_id: int
    author_id: int | None
    investigation_id: int | None


def may_read(reader: Reader, audience: Audience) -> bool:
    """The TLP rule of ARCHITECTURE.md, for one reader and one statement version."""
    if not reader.active:
        return False
    marking = audience.marking
    if marking in (Marking.CLEAR, Marking.GREEN):
        return True
    if marking.grantable and audience.statement_id in reader.granted_statement_ids:
        return True
    if marking is Marking.AMBER:
        return (
            audience.org_id == reader.org_id
            or audience.investigation_id in reader.investigation_ids
        )
    if marking is Marking.AMBER_STRICT:
        return audience.org_id == reader.org_id
    return audience.author_id == reader.user_id
