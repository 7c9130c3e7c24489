"""Resolving, labelling and searching entities, as one user sees them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, QuerySet
from django.db.models.functions import Collate, Lower
from django.db.models.sql.compiler import SQLCompiler

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

from . import audit, policy
from .models import Entity, Statement
from .sql import ColumnCondition

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
    # One query: the entity, if a statement the user may read names it.
    entity = policy.visible_entities(user).filter(pk=entity_id).first()
    if entity is None:
        raise missing
    return entity


@dataclass(frozen=True)
class Labels:
    """Labels by entity id, and the markings of the name statements they were read from (a
    label read from a RED name is a read of RED data, for the audit log)."""

    names: dict[str, str]
    markings: list[int]


def labels(user: User | None, entity_ids: Iterable[str]) -> dict[str, str]:
    """How each entity shows to ``user``: an observable by its key, a domain object by the
    first name they may read (oldest first), else a neutral label."""
    return labelled(user, entity_ids).names


def labelled(user: User | None, entity_ids: Iterable[str]) -> Labels:
    """``labels`` with the markings it read."""
    return _labels(policy.visible_statements(user), entity_ids)


def system_labels(entity_ids: Iterable[str]) -> dict[str, str]:
    """Labels from every statement, with no policy: only where no person reads."""
    return _labels(policy.system_statements(), entity_ids).names


def named_labels(user: User | None, entity_ids: Iterable[str]) -> dict[str, str]:
    """``labels`` of entities the caller knows to show by name (domain objects, or entities
    without a key): their first names, with no look-up of the entities themselves."""
    return _first_names(policy.visible_statements(user), list(entity_ids), {}, [])


def _labels(statements: QuerySet[Statement], entity_ids: Iterable[str]) -> Labels:
    ids = set(entity_ids)
    result: dict[str, str] = {}
    markings: list[int] = []
    domain_ids: list[str] = []
    for entity_id, type_, key in Entity.objects.filter(pk__in=ids).values_list("id", "type", "key"):
        if type_ in DOMAIN_TYPES or not key:
            domain_ids.append(entity_id)
        else:
            result[entity_id] = key
    return Labels(_first_names(statements, domain_ids, result, markings), markings)


def _first_names(
    statements: QuerySet[Statement],
    domain_ids: list[str],
    result: dict[str, str],
    markings: list[int],
) -> dict[str, str]:
    """Into ``result``: each entity's first name (oldest first) among ``statements``, else a
    neutral label; the markings of the names read go into ``markings``."""
    names = (
        statements.filter(subject_id__in=domain_ids, predicate="name")
        .order_by("subject_id", "created_at", "id")
        .values_list("subject_id", "value", "marking")
    )
    for subject_id, value, marking in names:
        if subject_id not in result:
            result[subject_id] = value or ""
            markings.append(marking)
    for entity_id in domain_ids:
        result.setdefault(entity_id, neutral_label(entity_id))
    return result


@dataclass(frozen=True)
class EntityHit:
    id: str
    type: str
    label: str
    snippet: str | None = None  # for a hit on words: the value that holds them, shortened


def search(user: User | None, query: str, *, limit: int = 20) -> list[EntityHit]:
    """Entities the user sees whose key, name or alias starts with ``query`` (by the text that
    matched, then id), then entities with a readable statement whose value holds all the
    query's words (in storage order). Showing a strict value as a snippet is audited."""
    found = _search(policy.visible_statements(user), query, limit)
    audit.record_read(user, "entity.search", (h.marking for h in found if h.marking is not None))
    shown = labels(user, [hit.id for hit in found])
    return [EntityHit(hit.id, hit.type, shown[hit.id], hit.snippet) for hit in found]


def system_search(query: str, *, limit: int = 20) -> list[EntityHit]:
    """The same search with no access policy: only where no person reads."""
    found = _search(policy.system_statements(), query, limit)
    shown = system_labels([hit.id for hit in found])
    return [EntityHit(hit.id, hit.type, shown[hit.id], hit.snippet) for hit in found]


# How search finds its hits, fast at a million statements (see benchmarks/access_policy.py):
#
# - Prefixes are ranges, [prefix, successor) in code point order, read in order from indexes
#   that migration 0003 creates: ``lower(key)`` of entities and ``folded`` of name and alias
#   statements, under the "C" collation on PostgreSQL (a linguistic collation orders neither
#   like a prefix nor like Python) and SQLite's binary one. Keys and names are two keyed
#   look-ups, each reading only as many rows as it needs for ``limit`` hits, merged here.
# - Words: PostgreSQL matches ``to_tsvector('simple', …)`` (punctuation made spaces, so that
#   ``evil-corp.com`` holds the words ``evil``, ``corp`` and ``com``, as on SQLite) against a GIN
#   index; SQLite matches an FTS5 table that triggers keep in step with the statements (see
#   migration 0003). Either index only proposes statements: the policy filters them in the
#   same query, and each value is checked here to hold the words, so a stale index can miss a
#   hit but never show one it should not.
# - The policy stays one SQL condition on the statements read, as everywhere else.


@dataclass(frozen=True)
class _Hit:
    id: str
    type: str
    snippet: str | None = None
    marking: int | None = None


MAX_WORDS = 16
SNIPPET_LENGTH = 160
_WORD = re.compile(r"[^\W_]+")


def _search(statements: QuerySet[Statement], query: str, limit: int) -> list[_Hit]:
    folded = fold(query)
    if not folded or limit < 1:
        return []
    hits = _prefix_hits(statements, query, folded, limit)
    if len(hits) < limit:
        hits += _word_hits(statements, query, limit - len(hits), {hit.id for hit in hits})
    return hits


def _prefix_hits(
    statements: QuerySet[Statement], query: str, folded: str, limit: int
) -> list[_Hit]:
    starts = {folded}
    try:
        reference = parse_reference(query)
    except (BadReference, InvalidObservable):
        reference = None
    if reference is not None and reference.kind == "observable":
        starts.add(reference.value.lower())
    ranked: dict[str, tuple[str, str]] = {}  # id: (the text that matched, type)

    def rank(entity_id: str, type_: str, text: str) -> None:
        if entity_id not in ranked or text < ranked[entity_id][0]:
            ranked[entity_id] = (text, type_)

    vendor = connections[statements.db].vendor
    visible = policy.entities_named_by(statements).annotate(text=_ordered(Lower("key"), vendor))
    for start in starts:
        keys = _starting(visible, "text", start).order_by("text", "id")
        for entity_id, type_, text in keys.values_list("id", "type", "text")[:limit]:
            rank(entity_id, type_, text)
    names = statements.filter(_NamePredicate()).annotate(text=_ordered(F("folded"), vendor))
    rows = _starting(names, "text", folded).order_by("text", "subject_id")
    for entity_id, type_, text in _distinct(
        rows.values_list("subject_id", "subject__type", "text"), limit, batch=limit * 2 + 8
    ):
        rank(entity_id, type_, text)
    best = sorted(ranked.items(), key=lambda item: (item[1][0], item[0]))[:limit]
    return [_Hit(entity_id, type_) for entity_id, (_, type_) in best]


def _ordered(expression: Any, vendor: str) -> Any:
    """Text compared in code point order, as Python compares strings."""
    if vendor == "postgresql":
        return Collate(expression, "C")
    return expression  # SQLite compares text as bytes: UTF-8 keeps code point order


def _starting(rows: QuerySet[Any], field: str, prefix: str) -> QuerySet[Any]:
    """Rows whose ``field`` starts with ``prefix``, as a range an index reads in order."""
    rows = rows.filter(**{f"{field}__gte": prefix})
    after = _successor(prefix)
    return rows.filter(**{f"{field}__lt": after}) if after is not None else rows


def _successor(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix``."""
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates are not characters
            code = 0xE000
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None


def _distinct(
    rows: QuerySet[Any],
    wanted: int,
    *,
    batch: int,
    keep: Callable[[tuple[Any, ...]], bool] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """The first row (kept by ``keep``) of each of the first ``wanted`` entities, the first
    column, reading ``rows`` a batch at a time."""
    seen: set[str] = set()
    offset = 0
    while True:
        chunk = list(rows[offset : offset + batch])
        for row in chunk:
            if row[0] in seen or (keep is not None and not keep(row)):
                continue
            seen.add(row[0])
            yield row
            if len(seen) >= wanted:
                return
        if len(chunk) < batch:
            return
        offset += batch


def words(text: str) -> list[str]:
    """The words of a text, as full-text search matches them: runs of letters and digits."""
    return list(dict.fromkeys(_WORD.findall(text.lower())))


def _word_hits(
    statements: QuerySet[Statement], query: str, wanted: int, known: set[str]
) -> list[_Hit]:
    wanted_words = words(query)
    if not wanted_words or len(wanted_words) > MAX_WORDS:
        return []
    rows = (
        statements.filter(_HoldsWords(wanted_words), object__isnull=True, value__isnull=False)
        .exclude(subject_id__in=known)
        .values_list("subject_id", "subject__type", "value", "marking")
    )
    wanted_set = set(wanted_words)

    def holds(row: tuple[Any, ...]) -> bool:
        return wanted_set <= set(words(row[2]))

    return [
        _Hit(entity_id, type_, _snippet(value, wanted_words), marking)
        for entity_id, type_, value, marking in _distinct(
            rows, wanted, batch=wanted * 4 + 16, keep=holds
        )
    ]


def _snippet(value: str, wanted_words: list[str]) -> str:
    text = " ".join(value.split())
    if len(text) <= SNIPPET_LENGTH:
        return text
    lowered = text.lower()
    found = [at for at in (lowered.find(w) for w in wanted_words) if at >= 0]
    start = max(0, min(found, default=0) - SNIPPET_LENGTH // 4)
    end = start + SNIPPET_LENGTH
    return ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")


class _NamePredicate(ColumnCondition):
    """``predicate IN ('name', 'alias')`` with the names written in the SQL, not as parameters:
    SQLite uses the partial index ``stmt_name_prefix`` only for a condition it can read."""

    def __init__(self) -> None:
        super().__init__("predicate")

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        (predicate,) = self.compiled(compiler)
        assert all(name.isalpha() for name in NAME_PREDICATES)  # safe to write as literals
        return f"{predicate} IN ({', '.join(repr(name) for name in NAME_PREDICATES)})", ()


class _HoldsWords(ColumnCondition):
    """Whether a statement's value holds all the words, through the database's word index."""

    def __init__(self, wanted_words: list[str]) -> None:
        super().__init__("value", "pk")
        self.wanted_words = list(wanted_words)

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        value, pk = self.compiled(compiler)
        if connection.vendor == "postgresql":
            # The expression of the GIN index of migration 0003, exactly.
            document = f"to_tsvector('simple'::regconfig, {WORDS_OF_VALUE.format(value=value)})"
            terms = " & ".join(f"'{w}'" for w in self.wanted_words)
            return f"{document} @@ to_tsquery('simple'::regconfig, %s)", (terms,)
        if connection.vendor == "sqlite":
            table = pk.rpartition(".")[0]
            match = " ".join(f'"{w}"' for w in self.wanted_words)
            return (
                f"{table}.rowid IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s)",
                (match,),
            )
        raise NotImplementedError(f"no full-text search on {connection.vendor}")


# Shared with migration 0003, which indexes exactly these expressions.
WORDS_OF_VALUE = "regexp_replace({value}, '[[:punct:]]+', ' ', 'g')"
FTS_TABLE = "knowledge_statement_words"
