"""The database stops checking a statement's organization and author (see ``Statement``), and
the author loses its index, which no query reads.

PostgreSQL ran those two checks for every new statement when the transaction committed: the
commit of a 15 s import of 100,000 objects took 3.3-4.4 s with them, 2.1-2.5 s without (the
subject and object checks remain). SQLite checks a row as it is written, at little cost,
and would have to rebuild the statement table (and the search triggers of migration 0003) to
drop a constraint, so there the constraints stay in the table while the model state drops them.
"""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.db.models.deletion import PROTECT

TABLE = "knowledge_statement"
UNCHECKED = [("organization_id", "accounts_organization"), ("author_id", "accounts_user")]


def _found(schema_editor: BaseDatabaseSchemaEditor, column: str, kind: str) -> list[str]:
    """Names of the foreign keys (``kind`` "foreign_key") or plain indexes ("index") on
    ``column`` alone."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return [
        name
        for name, found in constraints.items()
        if found["columns"] == [column]
        and not found["unique"]
        and not found["primary_key"]
        and (found["foreign_key"] if kind == "foreign_key" else found["index"])
    ]


def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    quote = schema_editor.quote_name
    for name in _found(schema_editor, "author_id", "index"):
        schema_editor.execute(f"DROP INDEX {quote(name)}")
    if schema_editor.connection.vendor != "postgresql":
        return
    for column, _ in UNCHECKED:
        for name in _found(schema_editor, column, "foreign_key"):
            schema_editor.execute(f"ALTER TABLE {quote(TABLE)} DROP CONSTRAINT {quote(name)}")


def restore(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    quote = schema_editor.quote_name
    if not _found(schema_editor, "author_id", "index"):
        name = quote(f"{TABLE}_author_id_restored")
        schema_editor.execute(f"CREATE INDEX {name} ON {quote(TABLE)} (author_id)")
    if schema_editor.connection.vendor != "postgresql":
        return
    for column, target in UNCHECKED:
        if not _found(schema_editor, column, "foreign_key"):
            name = quote(f"{TABLE}_{column}_fk_restored")
            schema_editor.execute(
                f"ALTER TABLE {quote(TABLE)} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
                f"REFERENCES {quote(target)} (id) DEFERRABLE INITIALLY DEFERRED"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("knowledge", "0011_drop_entity_key_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="statement",
                    name="author",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=PROTECT,
                        related_name="statements",
                        to="accounts.user",
                    ),
                ),
                migrations.AlterField(
                    model_name="statement",
                    name="organization",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=PROTECT,
                        related_name="statements",
                        to="accounts.organization",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        )
    ]
