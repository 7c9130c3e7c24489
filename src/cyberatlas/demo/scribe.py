"""A small builder that writes the demo's statements through the knowledge services.

Each write is performed by a named demo researcher, with that person's rights: the marking
rules of :func:`cyberatlas.knowledge.services.audience` and the contributor checks of
:func:`~cyberatlas.knowledge.services.add_statement` apply exactly as for anyone else.

Domain objects (groups, providers, tools) are created once by :meth:`Scribe.declare` and
referred to afterwards by a handle such as ``@glasswing``, which stands for their STIX id.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cyberatlas.accounts.models import User
from cyberatlas.core.tlp import Marking
from cyberatlas.knowledge.models import Statement
from cyberatlas.knowledge.services import Provenance, add_statement, audience

# The demo's "today": dates are fixed so that one seed always tells the same story.
ANCHOR = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)

# Grades and confidence by marking: published facts are well sourced, assessments less so.
_CONFIDENCE = {
    Marking.CLEAR: (80, 95),
    Marking.GREEN: (60, 90),
    Marking.AMBER: (45, 85),
    Marking.AMBER_STRICT: (85, 99),
    Marking.RED: (65, 90),
}
_GRADES = {
    Marking.CLEAR: ("A1", "B1", "B2"),
    Marking.GREEN: ("B2", "B3", "C2"),
    Marking.AMBER: ("B2", "B3", "C3"),
    Marking.AMBER_STRICT: ("A1", "A2"),
    Marking.RED: ("B2", "C2"),
}
# Properties that describe rather than observe carry no sighting dates.
_UNDATED = {"name", "alias", "description", "country", "role", "provider-kind", "bulletproof"}


def _topic(subject: str, predicate: str) -> str:
    """The report a statement cites: the one about its subject group, when it has a handle."""
    return subject[1:].replace("_", "-") if subject.startswith("@") else predicate


@dataclass(frozen=True)
class Fact:
    """One row of a scenario table: who says what, under which marking."""

    who: str
    subject: str
    predicate: str
    object: str
    tlp: str = "green"
    case: str | None = None
    to: tuple[str, ...] = ()
    judgement: str | None = None
    topic: str = ""


@dataclass(frozen=True)
class Thing:
    """A domain object of the scenario: its handle, type and name, and who first reports it
    with which first statement."""

    handle: str
    type: str
    name: str
    who: str
    predicate: str
    value: str
    tlp: str = "green"
    case: str | None = None
    to: tuple[str, ...] = ()


class Scribe:
    """Writes statements as the demo's people, with sources, grades, confidence and sighting
    dates drawn from ``rng``; remembers handles and tagged statements for later edits."""

    def __init__(self, rng: random.Random, people: Mapping[str, User]) -> None:
        self.rng = rng
        self.people = people
        self.ids: dict[str, str] = {}
        self.tagged: dict[str, Statement] = {}

    def ref(self, text: str) -> str:
        """A handle (``@name``) as its STIX id; anything else is an entity reference already."""
        return self.ids[text] if text.startswith("@") else text

    def provenance(self, who: str, predicate: str, marking: Marking, topic: str) -> Provenance:
        org = self.people[who].organization
        assert org is not None
        # An organization that stays anonymous is not named in its sources either.
        slug = org.name.lower().split()[0] if org.disclose_name else f"{org.sector}-member"
        low, high = _CONFIDENCE[marking]
        grade = self.rng.choice(_GRADES[marking])
        first = last = None
        if predicate not in _UNDATED:
            first = ANCHOR - dt.timedelta(
                days=self.rng.randint(20, 420), hours=self.rng.randint(0, 23)
            )
            last = min(ANCHOR, first + dt.timedelta(days=self.rng.randint(0, 180)))
        number = self.rng.randint(100, 999)
        return Provenance(
            source=f"https://example.org/{slug}/reports/{topic or predicate}-{number}",
            evidence=f"{slug.upper()}-EV-{self.rng.randint(1000, 9999)}" if number % 3 == 0 else "",
            confidence=self.rng.randint(low, high),
            source_grade=grade[0],
            information_grade=grade[1],
            first_seen=first,
            last_seen=last,
        )

    def say(
        self,
        who: str,
        subject: str,
        predicate: str,
        obj: str,
        tlp: str = "green",
        *,
        case: str | None = None,
        to: Sequence[str] = (),
        judgement: str | None = None,
        topic: str = "",
        tag: str | None = None,
    ) -> Statement:
        actor = self.people[who]
        target = audience(actor, tlp, case, to)
        written = add_statement(
            actor,
            self.ref(subject),
            predicate,
            self.ref(obj),
            target,
            self.provenance(who, predicate, target.marking, topic or _topic(subject, predicate)),
            judgement=judgement,
        )
        if tag is not None:
            self.tagged[tag] = written
        return written

    def write(self, facts: Sequence[Fact]) -> None:
        for fact in facts:
            self.say(
                fact.who,
                fact.subject,
                fact.predicate,
                fact.object,
                fact.tlp,
                case=fact.case,
                to=fact.to,
                judgement=fact.judgement,
                topic=fact.topic,
            )

    def declare(self, things: Sequence[Thing]) -> None:
        """Create domain objects, each with its first statement; the name statement the
        services add on creation carries the same marking and provenance."""
        for thing in things:
            written = self.say(
                thing.who,
                f"{thing.type}:{thing.name}",
                thing.predicate,
                thing.value,
                thing.tlp,
                case=thing.case,
                to=thing.to,
                topic=_topic(thing.handle, thing.predicate),
            )
            self.ids[thing.handle] = written.subject_id
