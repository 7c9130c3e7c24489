"""The append-only audit log: who read strict data, exported or released, and when."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from cyberatlas.accounts.models import Role, User
from cyberatlas.core.tlp import Marking
from cyberatlas.errors import Forbidden

from .models import AuditEvent

AUDITED = (Marking.AMBER_STRICT, Marking.RED)


def record_read(actor: User | None, action: str, markings: Iterable[int]) -> AuditEvent | None:
    """Write one row if what ``actor`` was shown includes AMBER+STRICT or RED data."""
    strict = [Marking(m) for m in markings if m in AUDITED]
    if not strict:
        return None
    kinds = ",".join(sorted({m.slug for m in strict}))
    return record(actor, action, kinds, len(strict))


def record(actor: User | None, action: str, markings: str = "", count: int = 0) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=actor.username if actor else "system",
        action=action,
        markings=markings,
        count=count,
    )


def audit_log(actor: User | None) -> QuerySet[AuditEvent]:
    """Coordinators (and the system operator) read who did what kind of read, never the data."""
    if actor is not None and not (actor.may_read and actor.has_role(Role.COORDINATOR)):
        raise Forbidden("only coordinators read the audit log")
    return AuditEvent.objects.all()
