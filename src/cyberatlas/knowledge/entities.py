"""Resolving entity references and labelling entities, as one user sees them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from cyberatlas.accounts.models import User
from cyberatlas.core.observables import InvalidObservable
from cyberatlas.core.references import (
    DOMAIN_TYPES,
    BadReference,
    Reference,
    neutral_label,
    parse_reference,
)
from cyberatlas.errors import Ambiguous, InvalidInput, NotFound

from . import policy
from .models import Entity, Statement

NAME_PREDICATES = ("name", "alias")
FOLD_LENGTH = 200


def fold(value: str) -> str:
    """The case-folded start of a value, as kept in ``Statement.folded`` for look-ups."""
    return " ".join(value.split()).casefold()[:FOLD_LENGTH]


def parse(text: str, *, field: str = "entity") -> Reference:
    try:
        return parse_reference(text)
    except (BadReference, InvalidObservable) as exc:
        raise InvalidInput(str(exc), field=field) from None


def named(user: User | None, type_: str, name: str) -> list[str]:
    """Ids of entities of ``type_`` with a readable name or alias equal to ``name``."""
    folded = fold(name)
    candidates = (
        policy.visible_statements(user)
        .filter(predicate__in=NAME_PREDICATES, subject__type=type_, folded=folded)
        .values_list("subject_id", "value")
    )
    wanted = " ".join(name.split()).casefold()
    return sorted(
        {
            subject
            for subject, value in candidates
            if " ".join((value or "").split()).casefold() == wanted
        }
    )


def resolve(user: User | None, text: str, *, field: str = "entity") -> Entity:
    """The entity ``text`` names, if ``user`` may see it. Hidden answers exactly like missing."""
    reference = parse(text, field=field)
    missing = NotFound(f"no entity {text.strip()!r}", field=field)
    if reference.kind == "name":
        ids = named(user, reference.type, reference.value)
        if len(ids) > 1:
            raise Ambiguous(
                f"{text.strip()!r} names {len(ids)} entities: {', '.join(ids)}; use a STIX id",
                field=field,
            )
        if not ids:
            raise missing
        entity_id = ids[0]
    else:
        entity_id = reference.stix_id or ""
    if not policy.can_see_entity(user, entity_id):
        raise missing
    return Entity.objects.get(pk=entity_id)


def labels(user: User | None, entity_ids: Iterable[str]) -> dict[str, str]:
    """How each entity shows to ``user``: an observable by its key, a domain object by the
    first name they may read (oldest first), else a neutral label."""
    return _labels(policy.visible_statements(user), entity_ids)


def system_labels(entity_ids: Iterable[str]) -> dict[str, str]:
    """Labels from every statement, with no policy: only where no person reads."""
    return _labels(policy.system_statements(), entity_ids)


def _labels(statements: QuerySet[Statement], entity_ids: Iterable[str]) -> dict[str, str]:
    ids = set(entity_ids)
    result: dict[str, str] = {}
    domain_ids: list[str] = []
    for entity_id, type_, key in Entity.objects.filter(pk__in=ids).values_list("id", "type", "key"):
        if type_ in DOMAIN_TYPES or not key:
            domain_ids.append(entity_id)
        else:
            result[entity_id] = key
    names = (
        statements.filter(subject_id__in=domain_ids, predicate="name")
        .order_by("subject_id", "created_at", "id")
        .values_list("subject_id", "value")
    )
    for subject_id, value in names:
        result.setdefault(subject_id, value or "")
    for entity_id in domain_ids:
        result.setdefault(entity_id, neutral_label(entity_id))
    return result


@dataclass(frozen=True)
class EntityHit:
    id: str
    type: str
    label: str


def search(user: User | None, query: str, *, limit: int = 20) -> list[EntityHit]:
    """Entities the user sees whose key, name or alias starts with ``query``."""
    statements = policy.visible_statements(user)
    found = _search(statements, policy.entities_named_by(statements), query, limit)
    shown = labels(user, [entity_id for entity_id, _ in found])
    return [EntityHit(entity_id, type_, shown[entity_id]) for entity_id, type_ in found]


def system_search(query: str, *, limit: int = 20) -> list[EntityHit]:
    """The same search with no access policy: only where no person reads."""
    statements = policy.system_statements()
    found = _search(statements, policy.entities_named_by(statements), query, limit)
    shown = system_labels([entity_id for entity_id, _ in found])
    return [EntityHit(entity_id, type_, shown[entity_id]) for entity_id, type_ in found]


def _search(
    statements: QuerySet[Statement], named: QuerySet[Entity], query: str, limit: int
) -> list[tuple[str, str]]:
    folded = fold(query)
    if not folded:
        return []
    by_name = statements.filter(
        predicate__in=NAME_PREDICATES, folded__startswith=folded
    ).values_list("subject_id", flat=True)
    keys = [folded]
    try:
        reference = parse_reference(query)
    except (BadReference, InvalidObservable):
        reference = None
    if reference is not None and reference.kind == "observable":
        keys.append(reference.value)
    by_key = Q()
    for key in keys:
        by_key |= Q(key__startswith=key)
    matching = (
        named.filter(by_key | Q(pk__in=by_name)).order_by("key", "id").values_list("id", "type")
    )
    return list(matching[:limit])
