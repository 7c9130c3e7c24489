"""Match proposals: entities that may be the same, and the judgements that settle them.

Sources name the same group differently and disagree; names alone never merge actors. After an
import, each group, malware or tool it touched is compared, over what the importing researcher
may read, with the entities of its kind that share a name or alias, or that use the same
infrastructure (an onion, a wallet, an e-mail address…). The researcher judges each proposal:
same, not same or unsure. A judgement is a ``same-as`` statement under the access policy, marked
at least as strictly as what the proposal rests on, and undoing it retracts that statement.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from cyberatlas.accounts.models import User
from cyberatlas.core.references import type_of
from cyberatlas.core.tlp import Marking
from cyberatlas.errors import InvalidInput, NotFound
from cyberatlas.knowledge import entities, policy, services

from .bulk import RowWriter, any_of
from .models import MatchProposal

KINDS = {
    "threat-actor": "actor",
    "intrusion-set": "actor",
    "campaign": "actor",
    "malware": "software",
    "tool": "software",
}
# Infrastructure that two names sharing it suggests they are one operation.
TELLING = ("domain-name", "url", "cryptocurrency-wallet", "email-addr", "user-account",
           "bank-account", "phone-number")  # fmt: skip
CHUNK = 500


def _kind(type_: str) -> str:
    return KINDS.get(type_, type_)


# A statement an entity is the subject of, as matching reads it:
# (subject, predicate, folded value, value, object, marking).
OwnRow = tuple[str, str, str, str | None, str | None, int]
# A statement naming an infrastructure entity as its object: (subject, object, marking).
UseRow = tuple[str, str, int]


_Rank = tuple[int, int, str]  # marking, 0 for a name or 1 for infrastructure, name or object
_Noted = tuple[str, int, _Rank]  # the reason, its marking, its rank


class Written(NamedTuple):
    """What the current transaction wrote about entities that exist only in it: nobody else
    can have said anything about them, so it is handed over instead of read back."""

    about: Mapping[str, list[OwnRow]]  # subject -> its names and links (``counts``)
    using: Mapping[str, list[UseRow]]  # telling object -> the links to it from KINDS subjects


def counts(predicate: str, object_id: str | None) -> bool:
    """Whether a statement about a subject counts for matching: a name, or a link."""
    return object_id is not None or predicate in entities.NAME_PREDICATES


def propose_matches(actor: User, entity_ids: Iterable[str], written: Written | None = None) -> int:
    """Record proposals for ``actor`` about the given entities; returns how many are new."""
    written = written or Written({}, {})
    ids = sorted(i for i in entity_ids if type_of(i) in KINDS)
    created = 0
    for start in range(0, len(ids), CHUNK):
        created += _propose(actor, ids[start : start + CHUNK], written)
    return created


def _propose(actor: User, ids: Sequence[str], written: Written) -> int:
    """Proposals about ``ids``. An entity's type is the prefix of its id (STIX ids are
    ``type--uuid``), so the statements are read without joining their entities."""
    readable = policy.visible_statements(actor)
    found: dict[tuple[str, str], _Noted] = {}

    # Names and links of these subjects, in one pass over their statements.
    mine: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    by_object: dict[str, list[tuple[str, int]]] = defaultdict(list)
    about = written.about
    unread = [i for i in ids if i not in about]
    own: list[OwnRow] = [row for i in ids if i in about for row in about[i]]
    if unread:
        own += readable.filter(
            Q(predicate__in=entities.NAME_PREDICATES) | Q(object__isnull=False),
            subject_id__in=any_of(unread),
        ).values_list("subject_id", "predicate", "folded", "value", "object_id", "marking")
    for subject_id, predicate, folded, value, object_id, marking in own:
        if object_id is not None:
            if type_of(object_id) in TELLING:
                by_object[object_id].append((subject_id, marking))
        elif predicate in entities.NAME_PREDICATES:
            mine[folded].append((subject_id, value or "", marking))
    if mine:
        same_names = readable.filter(
            predicate__in=entities.NAME_PREDICATES, folded__in=any_of(mine)
        ).values_list("subject_id", "folded", "marking")
        for other, folded, marking in same_names:
            for subject_id, value, own_marking in mine[folded]:
                if other != subject_id and _kind(type_of(other)) == _kind(type_of(subject_id)):
                    _note(found, subject_id, other, f"both are named {value!r}",
                          (max(marking, own_marking), 0, value))  # fmt: skip

    shared: dict[tuple[str, str], str] = {}  # pair -> the object behind its note, named below
    if by_object:
        using = written.using
        unread = [i for i in by_object if i not in using]
        sharing: list[UseRow] = [row for i in by_object if i in using for row in using[i]]
        if unread:
            sharing += readable.filter(object_id__in=any_of(unread)).values_list(
                "subject_id", "object_id", "marking"
            )
        for other, object_id, marking in sharing:
            for subject_id, own_marking in by_object[object_id]:
                if (
                    other != subject_id
                    and _kind(type_of(other)) == _kind(type_of(subject_id))
                    and _note(
                        found, subject_id, other, "", (max(marking, own_marking), 1, object_id)
                    )
                ):
                    shared[_pair(subject_id, other)] = object_id
    if shared:
        keys = dict(
            policy.visible_entities(actor)
            .filter(pk__in=any_of(set(shared.values())))
            .values_list("pk", "key")
        )
        for pair, object_id in shared.items():
            found[pair] = (f"both use {keys[object_id]}", found[pair][1], found[pair][2])

    if not found:
        return 0
    judged = _judged_pairs(actor, {i for pair in found for i in pair})
    existing = set(
        MatchProposal.objects.filter(
            owner=actor, left_id__in=any_of({p[0] for p in found})
        ).values_list("left_id", "right_id")
    )
    now, open_ = timezone.now(), MatchProposal.State.OPEN.value
    fresh = [
        (actor.pk, a, b, reason[:500], m, open_, now)
        for (a, b), (reason, m, _) in found.items()
        if (a, b) not in judged and (a, b) not in existing
    ]
    _proposals().insert(fresh)  # plain rows: an import may propose thousands
    return len(fresh)


@functools.cache
def _proposals_for(vendor: str) -> RowWriter:
    columns = ("owner", "left", "right", "reason", "basis_marking", "state", "created_at")
    return RowWriter(MatchProposal, columns, ignore_conflicts=True)


def _proposals() -> RowWriter:
    return _proposals_for(connection.vendor)


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _note(found: dict[tuple[str, str], _Noted], a: str, b: str, reason: str, rank: _Rank) -> bool:
    """Keep one reason for a pair: the least strictly marked, a shared name before shared
    infrastructure, then the first name or object in order (whatever order rows come in).
    Whether this one is kept."""
    pair = _pair(a, b)
    held = found.get(pair)
    if held is None or rank < held[2]:
        found[pair] = (reason, rank[0], rank)
        return True
    return False


def _judged_pairs(actor: User, ids: set[str]) -> set[tuple[str, str]]:
    rows = (
        policy.visible_statements(actor)
        .filter(predicate="same-as")
        .filter(Q(subject_id__in=any_of(ids)) | Q(object_id__in=any_of(ids)))
        .values_list("subject_id", "object_id")
    )
    return {(a, b) if a < b else (b, a) for a, b in rows if b is not None}


def open_proposals(actor: User) -> QuerySet[MatchProposal]:
    """The actor's open proposals whose two entities they may still see."""
    return MatchProposal.objects.filter(
        policy.sees_entity_in(actor, "left_id"),
        policy.sees_entity_in(actor, "right_id"),
        owner=actor,
        state=MatchProposal.State.OPEN,
    ).order_by("-created_at", "id")


def labelled(actor: User, proposals: Sequence[MatchProposal]) -> dict[str, str]:
    return entities.labels(actor, {p.left_id for p in proposals} | {p.right_id for p in proposals})


def _proposal(actor: User, proposal_id: int) -> MatchProposal:
    found = MatchProposal.objects.filter(owner=actor, pk=proposal_id).first()
    if found is None:
        raise NotFound(f"no match proposal {proposal_id}", field="proposal")
    return found


def judge(
    actor: User,
    proposal_id: int,
    judgement: str,
    *,
    tlp: str | Marking | None = None,
    investigation: str | None = None,
    recipients: Sequence[str] = (),
) -> MatchProposal:
    """Settle a proposal with a ``same-as`` statement; its marking is never below the basis."""
    with transaction.atomic():
        proposal = _proposal(actor, proposal_id)
        if proposal.state != MatchProposal.State.OPEN:
            raise InvalidInput("the proposal is already judged; undo it first", field="proposal")
        basis = Marking(proposal.basis_marking)
        audience = services.audience(
            actor, tlp if tlp is not None else basis, investigation, recipients
        )
        if audience.marking < basis:
            raise InvalidInput(
                f"the proposal rests on {basis.label} data: mark the judgement at least so",
                field="tlp",
            )
        statement = services.add_statement(
            actor,
            proposal.left_id,
            "same-as",
            proposal.right_id,
            audience,
            services.Provenance(source=f"match proposal: {proposal.reason}"),
            judgement=judgement,
        )
        proposal.state = MatchProposal.State.JUDGED
        proposal.judgement = statement
        proposal.save(update_fields=["state", "judgement"])
    return proposal


def undo(actor: User, proposal_id: int) -> MatchProposal:
    """Take a judgement back: its statement is retracted and the proposal reopens."""
    with transaction.atomic():
        proposal = _proposal(actor, proposal_id)
        if proposal.judgement_id is None:
            raise InvalidInput("the proposal has no judgement to undo", field="proposal")
        services.retract(actor, proposal.judgement_id, note="judgement undone")
        proposal.state = MatchProposal.State.OPEN
        proposal.judgement = None
        proposal.save(update_fields=["state", "judgement"])
    return proposal
