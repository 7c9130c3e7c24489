import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from cyberatlas.errors import Forbidden
from cyberatlas.knowledge import audit
from cyberatlas.knowledge.models import AppendOnlyError, AuditEvent
from tests.factories import org, person

pytestmark = pytest.mark.django_db


def test_only_strict_reads_are_recorded():
    alice = person("alice", org("Bank"))
    assert audit.record_read(alice, "entity.show", [0, 1, 2]) is None
    event = audit.record_read(alice, "entity.show", [0, 3, 4, 4])
    assert event is not None
    assert (event.actor_name, event.markings, event.count) == ("alice", "amber+strict,red", 3)


def test_the_log_is_append_only_in_the_model_and_the_database():
    event = audit.record(None, "export", "red", 1)
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.update(action="x")
    table = AuditEvent._meta.db_table
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET action = 'forged'")
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table}")
    assert AuditEvent.objects.get().action == "export"


def test_coordinators_read_the_log_and_others_do_not():
    bank = org("Bank")
    audit.record(None, "entity.show", "red", 2)
    coordinator = person("cora", bank, roles=("coordinator",))
    assert audit.audit_log(coordinator).count() == 1
    with pytest.raises(Forbidden):
        audit.audit_log(person("rita", bank))
