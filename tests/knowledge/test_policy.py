"""The access policy, checked against its pure reference rule (``core.tlp.may_read``).

A property-based test builds whole worlds (organizations of every kind and status, users with
every role, investigations, statements at every marking with grants, versions and ``same-as``
judgements) and checks, for every reader and every read function, that what comes back is
exactly what the rule allows: statements, entities, labels, counts, history and search hits.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from cyberatlas.accounts.models import Organization, OrgKind, Role, Status, User, UserRole
from cyberatlas.core.references import neutral_label
from cyberatlas.core.tlp import Audience, Marking, Reader, may_read
from cyberatlas.errors import NotFound
from cyberatlas.investigations.models import Investigation, Membership
from cyberatlas.knowledge import entities, policy, reads
from cyberatlas.knowledge.models import (
    AuditEvent,
    Entity,
    Grant,
    Statement,
    StatementVersion,
)

ENTITIES = [
    ("threat-actor--00000000-0000-4000-8000-00000000000a", "threat-actor", ""),
    ("threat-actor--00000000-0000-4000-8000-00000000000b", "threat-actor", ""),
    ("intrusion-set--00000000-0000-4000-8000-00000000000c", "intrusion-set", ""),
    ("domain-name--00000000-0000-5000-8000-00000000000d", "domain-name", "evil.example.com"),
    ("ipv4-addr--00000000-0000-5000-8000-00000000000e", "ipv4-addr", "203.0.113.9"),
    (
        "cryptocurrency-wallet--00000000-0000-5000-8000-00000000000f",
        "cryptocurrency-wallet",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    ),
]
NAMES = ["Evil Corp", "evil twin", "Wizard Spider", "wizards"]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass
class StatementSpec:
    subject: int
    predicate: str
    value: str | None
    object: int | None
    org: int
    author: int | None
    marking: Marking
    investigation: int | None
    grants: list[int]
    retracted: bool
    earlier: list[tuple[Marking, int | None]]  # markings and investigations of earlier versions


@dataclass
class World:
    orgs: list[tuple[str, str]]  # kind, status
    users: list[tuple[int, list[str], str, bool]]  # org, roles, status, is_active
    investigations: list[tuple[int, list[int]]]  # lead org, members
    statements: list[StatementSpec]


markings = st.sampled_from(list(Marking))
# Mostly vetted and active, so that most worlds have readers whose access depends on the rule.
statuses = st.sampled_from([Status.VETTED] * 4 + [Status.APPLIED, Status.SUSPENDED])
actives = st.sampled_from([True, True, True, False])


@st.composite
def worlds(draw: st.DrawFn) -> World:
    orgs = draw(
        st.lists(
            st.tuples(st.sampled_from(list(OrgKind)), statuses),
            min_size=1,
            max_size=3,
        )
    )
    users = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(orgs) - 1),
                st.lists(st.sampled_from(list(Role)), min_size=1, max_size=3, unique=True),
                statuses,
                actives,
            ),
            min_size=2,
            max_size=6,
        )
    )
    investigations = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(orgs) - 1),
                st.lists(st.integers(0, len(users) - 1), max_size=4, unique=True),
            ),
            max_size=3,
        )
    )
    specs = []
    for _ in range(draw(st.integers(0, 12))):
        predicate = draw(st.sampled_from(["name", "alias", "status", "uses", "same-as"]))
        relationship = predicate in ("uses", "same-as")
        org = draw(st.integers(0, len(orgs) - 1))
        authors = [i for i, u in enumerate(users) if u[0] == org]
        author = draw(st.sampled_from([None, *authors]))
        marking = draw(markings)
        inv_choices = [None, *range(len(investigations))]
        investigation = draw(st.sampled_from(inv_choices))
        if marking is Marking.AMBER and investigation is None and investigations:
            investigation = 0
        if marking is Marking.AMBER and investigation is None:
            marking = Marking.AMBER_STRICT
        if marking is Marking.RED and author is None:
            marking = Marking.AMBER_STRICT
        earlier = draw(st.lists(st.tuples(markings, st.sampled_from(inv_choices)), max_size=2))
        earlier = [
            (m, i)
            for m, i in earlier
            if not (m is Marking.AMBER and i is None) and not (m is Marking.RED and author is None)
        ]
        specs.append(
            StatementSpec(
                subject=draw(st.integers(0, len(ENTITIES) - 1)),
                predicate=predicate,
                value=(
                    draw(st.sampled_from(["same", "not-same", "unsure"]))
                    if predicate == "same-as"
                    else None
                    if relationship
                    else draw(st.sampled_from(NAMES))
                ),
                object=draw(st.integers(0, len(ENTITIES) - 1)) if relationship else None,
                org=org,
                author=author,
                marking=marking,
                investigation=investigation,
                grants=draw(st.lists(st.integers(0, len(users) - 1), max_size=3, unique=True)),
                retracted=draw(st.booleans()) and draw(st.booleans()),
                earlier=earlier,
            )
        )
    return World(orgs, users, investigations, specs)


def build(world: World) -> tuple[list[User], list[Statement]]:
    orgs = [
        Organization.objects.create(
            name=f"org{i}", kind=kind, sector="banking", country="DE", status=status
        )
        for i, (kind, status) in enumerate(world.orgs)
    ]
    users = [
        User.objects.create(
            username=f"user{i}", organization=orgs[o], status=status, is_active=active
        )
        for i, (o, _, status, active) in enumerate(world.users)
    ]
    UserRole.objects.bulk_create(
        [UserRole(user=users[i], role=r) for i, u in enumerate(world.users) for r in u[1]]
    )
    rows = Entity.objects.bulk_create([Entity(id=i, type=t, key=k) for i, t, k in ENTITIES])
    investigations = [
        Investigation.objects.create(name=f"inv{i}", target=rows[0], lead=orgs[lead])
        for i, (lead, _) in enumerate(world.investigations)
    ]
    Membership.objects.bulk_create(
        [
            Membership(investigation=investigations[i], user=users[m])
            for i, (_, members) in enumerate(world.investigations)
            for m in members
        ]
    )
    statements = []
    versions = []
    for n, spec in enumerate(world.statements):

        def inv(index: int | None) -> Investigation | None:
            return investigations[index] if index is not None else None

        statement = Statement(
            subject=rows[spec.subject],
            predicate=spec.predicate,
            value=spec.value,
            folded=entities.fold(spec.value) if spec.value else "",
            object=rows[spec.object] if spec.object is not None else None,
            organization=orgs[spec.org],
            author=users[spec.author] if spec.author is not None else None,
            marking=spec.marking,
            investigation=inv(spec.investigation),
            retracted=spec.retracted,
            version=len(spec.earlier) + 1,
            created_at=T0 + dt.timedelta(seconds=n),
        )
        statements.append(statement)
        history = [*spec.earlier, (spec.marking, spec.investigation)]
        versions += [
            StatementVersion(
                statement=statement,
                number=k + 1,
                change="created",
                value=spec.value,
                marking=m,
                investigation=inv(i),
                retracted=spec.retracted and k == len(history) - 1,
            )
            for k, (m, i) in enumerate(history)
            if spec.earlier  # never changed: no version rows, version 1 is the statement
        ]
    Statement.objects.bulk_create(statements)
    StatementVersion.objects.bulk_create(versions)
    Grant.objects.bulk_create(
        [
            Grant(statement=statements[n], user=users[u])
            for n, spec in enumerate(world.statements)
            for u in spec.grants
        ]
    )
    return users, statements


def reader(world: World, index: int) -> Reader:
    org, _, status, active = world.users[index]
    return Reader(
        user_id=index,
        org_id=org,
        active=active and status == Status.VETTED and world.orgs[org][1] == Status.VETTED,
        investigation_ids=frozenset(
            i for i, (_, members) in enumerate(world.investigations) if index in members
        ),
        granted_statement_ids=frozenset(
            n for n, spec in enumerate(world.statements) if index in spec.grants
        ),
    )


SYSTEM = Reader(-1, -1, True, frozenset(), frozenset())


def audience(n: int, spec: StatementSpec, marking: Marking, inv: int | None) -> Audience:
    return Audience(n, marking, spec.org, spec.author, inv)


def readable_current(world: World, who: Reader) -> set[int]:
    return {
        n
        for n, spec in enumerate(world.statements)
        if may_read(who, audience(n, spec, spec.marking, spec.investigation))
    }


# CI runs thousands of worlds (see .ci/run); a developer's run keeps to the profile's count.
EXAMPLES = int(os.environ.get("CYBERATLAS_POLICY_EXAMPLES", "0")) or settings.default.max_examples


class TestPolicyMatchesTheRule(TestCase):
    @settings(max_examples=EXAMPLES)
    @given(worlds())
    def test_every_read_function_returns_exactly_what_the_rule_allows(self, world: World) -> None:
        users, statements = build(world)
        readers: list[tuple[User | None, Reader]] = [(None, SYSTEM)]
        readers += [(u, reader(world, i)) for i, u in enumerate(users)]
        for user, who in readers:
            check_reader(world, user, who, statements)


def check_reader(world: World, user: User | None, who: Reader, statements: list[Statement]) -> None:
    ids = {s.pk: n for n, s in enumerate(statements)}
    coordinator = user is not None and user.has_role(Role.COORDINATOR)
    current = readable_current(world, who)
    live = {n for n in current if not world.statements[n].retracted}

    got = {ids[pk] for pk in policy.visible_statements(user).values_list("pk", flat=True)}
    assert got == live
    assert reads.count_statements(user) == len(live)

    naming: dict[int, set[int]] = {}
    for n in live:
        spec = world.statements[n]
        naming.setdefault(spec.subject, set()).add(n)
        if spec.object is not None:
            naming.setdefault(spec.object, set()).add(n)
    visible = {ENTITIES[e][0] for e in naming}
    assert set(policy.visible_entities(user).values_list("pk", flat=True)) == visible

    def label_source(e: int) -> int | None:
        """The readable name statement an entity's label comes from (oldest first)."""
        if ENTITIES[e][2]:
            return None  # an observable shows its key
        return next(
            (
                n
                for n in sorted(live)
                if world.statements[n].subject == e and world.statements[n].predicate == "name"
            ),
            None,
        )

    def strict(n: int | None) -> bool:
        return n is not None and world.statements[n].marking in (Marking.AMBER_STRICT, Marking.RED)

    for e, (entity_id, _type, key) in enumerate(ENTITIES):
        source = label_source(e)
        expected_label = key or (
            world.statements[source].value if source is not None else neutral_label(entity_id)
        )
        if entity_id not in visible:
            with pytest.raises(NotFound):
                reads.show_entity(user, entity_id)
            continue
        before = AuditEvent.objects.count()
        view = reads.show_entity(user, entity_id)
        assert view.label == expected_label
        assert {ids[uuid.UUID(s.id)] for s in view.statements} == naming[e]
        assert reads.count_statements(user, entity_id) == len(naming[e])
        # One audit row when the page read strict data: its statements, or names behind labels.
        linked = {e} | {world.statements[n].subject for n in naming[e]}
        linked |= {world.statements[n].object for n in naming[e]} - {None}
        audited = any(strict(n) for n in naming[e]) or any(
            strict(label_source(x)) for x in linked if x is not None
        )
        assert AuditEvent.objects.count() == before + audited
        for s in view.statements:
            if s.other_id is not None:
                assert s.other_id in visible
            spec = world.statements[ids[uuid.UUID(s.id)]]
            if spec.investigation is None:
                assert s.investigation is None
            elif user is None or coordinator or spec.investigation in who.investigation_ids:
                assert s.investigation == f"inv{spec.investigation}"
            else:
                assert s.investigation == "an investigation"

    for query in [*(name[:4] for name in NAMES), "corp", "evil twin", "spider wizard"]:
        hits = {h.id for h in entities.search(user, query, limit=100)}
        # Prefixes of readable names, aliases and observable keys…
        expected_hits = {
            ENTITIES[world.statements[n].subject][0]
            for n in live
            if world.statements[n].predicate in ("name", "alias")
            and (world.statements[n].value or "").casefold().startswith(query.casefold())
        }
        expected_hits |= {
            ENTITIES[e][0] for e in naming if ENTITIES[e][2].startswith(query.casefold())
        }
        # …then words: a readable property whose value holds every word of the query.
        wanted = set(entities.words(query))
        expected_hits |= {
            ENTITIES[world.statements[n].subject][0]
            for n in live
            if world.statements[n].object is None
            and wanted <= set(entities.words(world.statements[n].value or ""))
        }
        assert hits == expected_hits

    for n, spec in enumerate(world.statements):
        if n not in current:
            with pytest.raises(NotFound):
                reads.history(user, statements[n].pk)
            continue
        chain = [*spec.earlier, (spec.marking, spec.investigation)]
        expected_versions = [
            k + 1 for k, (m, i) in enumerate(chain) if may_read(who, audience(n, spec, m, i))
        ]
        assert [v.number for v in reads.history(user, statements[n].pk)] == expected_versions
