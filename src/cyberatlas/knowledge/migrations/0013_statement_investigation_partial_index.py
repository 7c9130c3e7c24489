"""The investigation index holds only the statements that are in an investigation: most are in
none (an import's, usually), and each of those cost the index an entry nobody reads, since every
query of it asks for one investigation.

The model state changes through ``AlterField``; the database only loses the index Django made
for the foreign key (SQLite would otherwise rebuild the statement table, dropping the search
triggers of migration 0003), and gains the partial one.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

TABLE, COLUMN = "knowledge_statement", "investigation_id"


def _lone_indexes(schema_editor: BaseDatabaseSchemaEditor) -> list[str]:
    """The plain indexes on the investigation column alone, partial ones aside."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return [
        name
        for name, found in constraints.items()
        if found["index"]
        and not found["unique"]
        and not found["primary_key"]
        and found["columns"] == [COLUMN]
        and name != "stmt_investigation"
    ]


def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for name in _lone_indexes(schema_editor):
        schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def restore(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if not _lone_indexes(schema_editor):
        quote = schema_editor.quote_name
        name = quote(f"{TABLE}_{COLUMN}_restored")
        schema_editor.execute(f"CREATE INDEX {name} ON {quote(TABLE)} ({quote(COLUMN)})")


class Migration(migrations.Migration):
    dependencies = [
        ("investigations", "0001_initial"),
        ("knowledge", "0012_statement_provenance_unchecked"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="statement",
                    name="investigation",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="statements",
                        to="investigations.investigation",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
        migrations.AddIndex(
            model_name="statement",
            index=models.Index(
                condition=models.Q(investigation__isnull=False),
                fields=["investigation"],
                name="stmt_investigation",
            ),
        ),
    ]
