"""A demo community and criminal ecosystem, built through the platform's own services.

``cyberatlas demo`` calls :func:`load_demo` on an empty database. The system admits the
organizations and people (as an operator at the shell would); a coordinator opens the
investigations; every statement is written by a demo researcher with that person's rights, so
each marking rule, contributor check and name resolution is exercised as in real use.

The same seed always gives the same story: the same observables (hence the same entity ids for
them), values, markings, contributors, sources and dates. Domain objects (groups, providers)
get random ids, as they do for everyone. Loading refuses to run on a database that already holds
the demo's organizations or accounts: it is not idempotent, and it never half-loads (one
transaction).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from cyberatlas.accounts.models import Organization, User
from cyberatlas.errors import InvalidInput
from cyberatlas.investigations import services as investigations
from cyberatlas.investigations.models import Investigation
from cyberatlas.knowledge.models import Entity, Statement

from . import community
from .cast import CASE_CAST, INVESTIGATIONS, OPEN_CAST
from .fabricate import Fabricator
from .scenario import Scenario
from .scribe import Scribe

__all__ = ["DemoLogin", "DemoSummary", "load_demo"]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    organization: str
    roles: tuple[str, ...]
    totp_secret: str | None  # base32 secret for those with a second factor


@dataclass(frozen=True)
class DemoSummary:
    logins: list[DemoLogin]
    organizations: int
    users: int
    investigations: int
    entities: int
    statements: int


def _counts() -> tuple[int, int, int, int, int]:
    return (
        Organization.objects.count(),
        User.objects.count(),
        Investigation.objects.count(),
        Entity.objects.count(),
        Statement.objects.count(),
    )


def _refuse_if_loaded() -> None:
    orgs = Organization.objects.filter(name__in=[o.name for o in community.ORGANIZATIONS])
    users = User.objects.filter(username__in=[p.username for p in community.PEOPLE])
    taken = [*orgs.values_list("name", flat=True), *users.values_list("username", flat=True)]
    if taken:
        raise InvalidInput(
            "this database already holds the demo (or accounts with its names: "
            f"{', '.join(sorted(taken))}); load the demo into an empty database",
            field="demo",
        )


def load_demo(*, seed: int = 7, progress: Callable[[str], None] | None = None) -> DemoSummary:
    """Load the demo scenario; the same ``seed`` gives the same scenario."""
    report = progress or (lambda _message: None)
    rng = random.Random(seed)
    with transaction.atomic():
        _refuse_if_loaded()
        before = _counts()
        report("admitting organizations and people")
        admitted = community.admit()
        people = {username: entry.user for username, entry in admitted.items()}
        scribe = Scribe(rng, people)
        scenario = Scenario(scribe, Fabricator(rng))
        report("naming groups, providers and tools from open sources")
        scribe.declare(OPEN_CAST)
        report("opening investigations")
        for case in INVESTIGATIONS:
            investigations.open_investigation(
                people["olivia"],
                case.name,
                target=scribe.ref(case.target),
                lead=case.lead,
                members=case.members,
            )
            for adder, member in case.joins_later:
                investigations.add_member(people[adder], case.name, member)
        scribe.declare(CASE_CAST)
        report("mapping Stoneport Hosting, the bulletproof hoster")
        scenario.hosting()
        report("mapping Glasswing, the ransomware crew")
        scenario.glasswing()
        report("mapping Paperkite, the smishing operation")
        scenario.paperkite()
        report("mapping Jade Lotus, the investment-scam network")
        scenario.jade_lotus()
        report("revising, re-marking and retracting")
        scenario.histories()
        after = _counts()
    organizations, users, cases, entities, statements = (
        a - b for a, b in zip(after, before, strict=True)
    )
    report(f"loaded {statements} statements about {entities} entities")
    logins = [
        DemoLogin(
            entry.person.username,
            entry.person.password,
            entry.person.org,
            entry.person.roles,
            entry.totp_secret,
        )
        for entry in admitted.values()
    ]
    return DemoSummary(logins, organizations, users, cases, entities, statements)
