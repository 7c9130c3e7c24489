"""How people and scripts name an entity.

- a STIX 2.1 identifier: ``threat-actor--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f``;
- ``type:value`` for an observable: ``domain-name:example.com``, ``cryptocurrency-wallet:bc1q…``;
- ``type:NAME`` for a domain object: ``threat-actor:Evil Corp`` (resolved through the ``name``
  and ``alias`` statements the acting user may read).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from .observables import OBSERVABLE_TYPES, Observable, normalize

# Every STIX 2.1 domain object type (section 4) can be an entity; they have random ids.
DOMAIN_TYPES = frozenset(
    {
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
    }
)
# STIX 2.1 cyber-observables (section 6) that have no single value to normalize: they keep the
# identifier their source gave them (deterministic in STIX 2.1) and are named by it only.
OPAQUE_OBSERVABLE_TYPES = frozenset(
    {
        "artifact",
        "directory",
        "email-message",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "windows-registry-key",
    }
)
ENTITY_TYPES = DOMAIN_TYPES | OBSERVABLE_TYPES | OPAQUE_OBSERVABLE_TYPES

_STIX_ID = re.compile(r"^([a-z0-9][a-z0-9-]*[a-z0-9])--([0-9a-fA-F-]{36})$")


class BadReference(ValueError):
    """Text that names no entity in any of the accepted forms."""


@dataclass(frozen=True)
class Reference:
    kind: Literal["id", "observable", "name"]
    type: str
    value: str
    observable: Observable | None = None

    @property
    def stix_id(self) -> str | None:
        if self.kind == "id":
            return self.value
        return self.observable.stix_id if self.observable else None


def parse_reference(text: str) -> Reference:
    """Parse an entity reference; observables are normalized (and refanged) here, once."""
    text = text.strip()
    if match := _STIX_ID.match(text):
        type_, raw_uuid = match.groups()
        if type_ not in ENTITY_TYPES:
            raise BadReference(f"{text!r}: unknown entity type {type_!r}")
        try:
            canonical = str(uuid.UUID(raw_uuid))
        except ValueError:
            raise BadReference(f"{text!r}: not a valid STIX identifier") from None
        return Reference("id", type_, f"{type_}--{canonical}")
    type_, sep, value = text.partition(":")
    type_ = type_.strip().lower()
    if not sep or not value.strip():
        raise BadReference(
            f"{text!r}: expected a STIX id, type:value (domain-name:example.com) "
            "or type:NAME (threat-actor:Evil Corp)"
        )
    if type_ in OBSERVABLE_TYPES:
        observable = normalize(type_, value)
        return Reference("observable", type_, observable.key, observable)
    if type_ in DOMAIN_TYPES:
        return Reference("name", type_, " ".join(value.split()))
    known = ", ".join(sorted(ENTITY_TYPES))
    raise BadReference(f"{text!r}: unknown entity type {type_!r}; expected one of {known}")


def new_domain_object_id(type_: str) -> str:
    """Domain objects are not deterministic: each gets a random (version 4) identifier."""
    return f"{type_}--{uuid.uuid4()}"


def type_of(entity_id: str) -> str:
    """An entity's type, as its STIX id (``type--uuid``) begins with it."""
    return entity_id.partition("--")[0]


def neutral_label(entity_id: str) -> str:
    """How an entity whose names a reader may not see is shown: ``threat-actor 3f2a…``."""
    type_, _, rest = entity_id.partition("--")
    return f"{type_} {rest[:4]}…"
