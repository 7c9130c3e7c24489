"""The audit log is append-only: the database itself refuses to change a row.

PostgreSQL also refuses row deletes (TRUNCATE, which only an operator can run on the whole
table, stays possible so that test databases can be flushed). SQLite deletes are refused by the
model (``AuditEvent.delete`` and its queryset); SQLite's own flush deletes rows directly.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

SQLITE = [
    "CREATE TRIGGER knowledge_auditevent_no_update BEFORE UPDATE ON knowledge_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
]
POSTGRES = [
    "CREATE FUNCTION knowledge_auditevent_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER knowledge_auditevent_no_change BEFORE UPDATE OR DELETE ON "
    "knowledge_auditevent FOR EACH ROW EXECUTE FUNCTION knowledge_auditevent_append_only()",
]


def forbid_changes(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    vendor = schema_editor.connection.vendor
    for sql in {"sqlite": SQLITE, "postgresql": POSTGRES}.get(vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [migrations.RunPython(forbid_changes, migrations.RunPython.noop)]
